// `keyward audit` filters and `keyward audit verify`, on a real chained log written by the jsonl sink.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { argsDigest, createJsonlAuditSink } from '../../src/audit/sink.js';
import type { AuditRecord } from '../../src/audit/types.js';
import { parseSince, runAudit } from '../../src/cli/audit.js';
import { runAuditVerify } from '../../src/cli/auditVerify.js';
import type { CliIo } from '../../src/cli/connect.js';
import { TEST_ENCRYPTION_KEY } from '../fixtures/invalid-configs.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-audit-cli-'));
const log = path.join(dir, 'audit.jsonl');
const configPath = path.join(dir, 'mcp.config.json');
const saved = process.env.KEYWARD_ENCRYPTION_KEY;

const rec = (callId: string, user: string, tool: string, time: string, grantId?: string): AuditRecord => ({
  time,
  callId,
  user,
  client: 'agent',
  tool,
  provider: 'notes',
  scopes: ['notes:read'],
  ...(grantId ? { grantId } : {}),
  argsDigest: argsDigest({}),
  outcome: 'ok',
  durationMs: 1,
});

beforeAll(async () => {
  process.env.KEYWARD_ENCRYPTION_KEY = TEST_ENCRYPTION_KEY;
  writeFileSync(configPath, JSON.stringify({ store: 'memory:', audit: `jsonl:${log}`, tools: [] }));
  const sink = createJsonlAuditSink(log);
  await sink.write(rec('c1', 'alice', 'list_notes', '2026-11-01T10:00:00.000Z', 'g-alice'));
  await sink.write(rec('c2', 'bob', 'list_notes', '2026-11-20T10:00:00.000Z', 'g-bob'));
  await sink.write(rec('c3', 'alice', 'delete_note', '2026-11-28T10:00:00.000Z', 'g-alice'));
  await sink.close();
});
afterAll(() => {
  if (saved === undefined) delete process.env.KEYWARD_ENCRYPTION_KEY;
  else process.env.KEYWARD_ENCRYPTION_KEY = saved;
  rmSync(dir, { recursive: true, force: true });
});

function io(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (l) => lines.push(l), err: (l) => errors.push(l), env: {} };
}

async function calls(opts: Record<string, string>): Promise<string[]> {
  const out = io();
  expect(await runAudit({ config: configPath, json: true, tail: 100, ...opts }, out)).toBe(0);
  return out.lines.map((l) => (JSON.parse(l) as AuditRecord).callId);
}

describe('keyward audit filters', () => {
  it.each([
    [{}, ['c1', 'c2', 'c3']],
    [{ user: 'alice' }, ['c1', 'c3']],
    [{ tool: 'list_notes' }, ['c1', 'c2']],
    [{ grant: 'g-bob' }, ['c2']],
    [{ call: 'c3' }, ['c3']],
    [{ since: '2026-11-15T00:00Z' }, ['c2', 'c3']],
    [{ user: 'alice', since: '2026-11-15T00:00Z' }, ['c3']],
  ])('%o -> %o', async (filters, expected) => {
    expect(await calls(filters)).toEqual(expected);
  });

  it('refuses a --since it cannot read, and reads durations back from now', async () => {
    const out = io();
    expect(await runAudit({ config: configPath, since: 'last tuesday' }, out)).toBe(2);
    expect(out.errors.join('\n')).toMatch(/--since last tuesday: give an ISO time/);
    expect(parseSince('24h', 100 * 3600e3)).toBe(76 * 3600e3);
  });
});

describe('keyward audit verify', () => {
  it('passes a clean log, then names the edited record and exits 1', async () => {
    const ok = io();
    expect(await runAuditVerify({ config: configPath }, ok)).toBe(0);
    expect(ok.lines[0]).toMatch(/^OK: 4 records from 1 writer\(s\) in 1 file\(s\) verify\.$/);

    writeFileSync(log, readFileSync(log, 'utf8').replace('"user":"bob"', '"user":"eve"'));
    const bad = io();
    expect(await runAuditVerify({ config: configPath }, bad)).toBe(1);
    expect(bad.lines[0]).toBe(
      `FAILED: ${log}:2: hash does not match the record's content (writer ${
        (JSON.parse(readFileSync(log, 'utf8').split('\n')[1] as string) as { writer: string }).writer
      }, seq 2): edited`,
    );
  });
});
