// The audit log's hash chains: a clean log verifies; an edit, a deletion or a swap is named; several writers verify together.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { argsDigest, createJsonlAuditSink } from '../../src/audit/sink.js';
import type { AuditRecord } from '../../src/audit/types.js';
import { auditFiles, verifyAuditLog } from '../../src/audit/verify.js';

const root = path.resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'keyward-chain-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const record = (callId: string): AuditRecord => ({
  time: new Date(0).toISOString(),
  callId,
  user: 'alice',
  client: 'agent',
  tool: 'list_notes',
  provider: 'notes',
  scopes: ['notes:read'],
  argsDigest: argsDigest({}),
  outcome: 'ok',
  durationMs: 1,
});

async function cleanLog(name: string, n = 6): Promise<string> {
  const file = path.join(dir, name, 'audit.jsonl');
  const sink = createJsonlAuditSink(file, { writer: 'w1' });
  for (let i = 1; i <= n; i++) await sink.write(record(`call-${i}`));
  await sink.close();
  return file;
}

const lines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');
const rewrite = (file: string, ls: string[]) => writeFileSync(file, `${ls.join('\n')}\n`);

describe('audit chain', () => {
  it('a clean log verifies, and ends with its writer closed', async () => {
    const file = await cleanLog('clean');
    const report = await verifyAuditLog(file);
    expect(report).toMatchObject({ records: 7, writers: 1, unclosed: [] });
    expect(report.firstBad).toBeUndefined();
  });

  it('an edited record is named by its line', async () => {
    const file = await cleanLog('edit');
    const ls = lines(file);
    ls[2] = (ls[2] as string).replace('"user":"alice"', '"user":"mallory"');
    rewrite(file, ls);
    const report = await verifyAuditLog(file);
    expect(report.firstBad).toMatchObject({ file, line: 3 });
    expect(report.firstBad?.problem).toMatch(/edited/);
  });

  it('a deleted record is named at the line after the gap', async () => {
    const file = await cleanLog('delete');
    const ls = lines(file);
    ls.splice(3, 1);
    rewrite(file, ls);
    const report = await verifyAuditLog(file);
    expect(report.firstBad).toMatchObject({ line: 4 });
    expect(report.firstBad?.problem).toMatch(/1 record\(s\) deleted/);
  });

  it('two swapped lines are named', async () => {
    const file = await cleanLog('swap');
    const ls = lines(file);
    [ls[1], ls[2]] = [ls[2] as string, ls[1] as string];
    rewrite(file, ls);
    const report = await verifyAuditLog(file);
    expect(report.firstBad).toMatchObject({ line: 2 });
    expect(report.firstBad?.problem).toMatch(/deleted|reordered/);
  });

  it('a tail cut off after the last record leaves the writer unclosed', async () => {
    const file = await cleanLog('tail');
    rewrite(file, lines(file).slice(0, 4));
    const report = await verifyAuditLog(file);
    expect(report.firstBad).toBeUndefined();
    expect(report.unclosed).toEqual(['w1']);
  });

  it('a failed write leaves no gap: the next record takes its place in the chain', async () => {
    const blocker = path.join(dir, 'blocked');
    writeFileSync(blocker, '');
    const file = path.join(blocker, 'audit.jsonl');
    const sink = createJsonlAuditSink(file, { writer: 'w1' });
    await expect(sink.write(record('lost'))).rejects.toThrow();
    rmSync(blocker);
    await sink.write(record('kept'));
    await sink.close();
    const report = await verifyAuditLog(file);
    expect(report).toMatchObject({ records: 2, unclosed: [] });
    expect(report.firstBad).toBeUndefined();
  });

  it('rotates by size and the chain continues across the files', async () => {
    const file = path.join(dir, 'rotate', 'audit.jsonl');
    const sink = createJsonlAuditSink(file, { writer: 'w1', maxBytes: 2000 });
    for (let i = 0; i < 40; i++) await sink.write(record(`call-${i}`));
    await sink.close();
    const files = await auditFiles(file);
    expect(files.length).toBeGreaterThan(3);
    const report = await verifyAuditLog(file);
    expect(report).toMatchObject({ records: 41, writers: 1, unclosed: [] });
    expect(report.firstBad).toBeUndefined();
  });

  it('three processes appending to one file (rotating) give chains that verify together', async () => {
    const file = path.join(dir, 'fleet', 'audit.jsonl');
    const writer = path.join(root, 'test/fixtures/audit-writer.mjs');
    await Promise.all([1, 2, 3].map(() => promisify(execFile)(process.execPath, [writer, root, file, '300', '40000'])));
    const report = await verifyAuditLog(file);
    expect(report.firstBad).toBeUndefined();
    expect(report).toMatchObject({ records: 903, writers: 3, unclosed: [] });
    // And the verification can fail here too: a swap of two records of one writer is found.
    const first = report.files[0] as string;
    const ls = lines(first);
    const writerOf = (l: string) => (JSON.parse(l) as { writer: string }).writer;
    const a = 0;
    const b = ls.findIndex((l, i) => i > a && writerOf(l) === writerOf(ls[a] as string));
    expect(b).toBeGreaterThan(0);
    [ls[a], ls[b]] = [ls[b] as string, ls[a] as string];
    rewrite(first, ls);
    expect((await verifyAuditLog(file)).firstBad).toMatchObject({ file: first });
  });
});
