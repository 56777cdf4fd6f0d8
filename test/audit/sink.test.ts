// Audit sinks: argument digests, ordered JSON lines, and recovery after a failed write.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { argsDigest, createJsonlAuditSink } from '../../src/audit/sink.js';
import type { AuditRecord } from '../../src/audit/types.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-audit-'));
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

describe('argsDigest', () => {
  it('does not depend on key order, and differs for different arguments', () => {
    expect(argsDigest({ a: 1, b: [1, { c: 2, d: 3 }] })).toBe(argsDigest({ b: [1, { d: 3, c: 2 }], a: 1 }));
    expect(argsDigest({ a: 1 })).not.toBe(argsDigest({ a: 2 }));
    expect(argsDigest({ a: 1 })).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('jsonl audit sink', () => {
  it('appends one JSON line per record, in order', async () => {
    const file = path.join(dir, 'ordered', 'audit.jsonl');
    const sink = createJsonlAuditSink(file);
    await Promise.all(['1', '2', '3'].map((id) => sink.write(record(id))));
    await sink.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as AuditRecord).callId)).toEqual(['1', '2', '3', undefined]);
    expect(JSON.parse(lines[3] as string)).toMatchObject({ event: 'audit_closed', seq: 4 });
  });

  it('reports a failed write and goes on writing once the cause is gone', async () => {
    // A file where the folder should be makes the first write fail.
    const blocker = path.join(dir, 'blocked');
    writeFileSync(blocker, '');
    const sink = createJsonlAuditSink(path.join(blocker, 'audit.jsonl'));
    await expect(sink.write(record('lost'))).rejects.toThrow();
    unlinkSync(blocker);
    await sink.write(record('kept'));
    await sink.close();
    expect(readFileSync(path.join(blocker, 'audit.jsonl'), 'utf8')).toContain('"callId":"kept"');
  });

  it('batches a burst into whole lines, each writer in its own order, two writers on one file', async () => {
    const file = path.join(dir, 'shared', 'audit.jsonl');
    const a = createJsonlAuditSink(file);
    const b = createJsonlAuditSink(file);
    const ids = Array.from({ length: 300 }, (_, i) => String(i));
    await Promise.all([...ids.map((id) => a.write(record(`a${id}`))), ...ids.map((id) => b.write(record(`b${id}`)))]);
    await Promise.all([a.close(), b.close()]);
    const calls = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as AuditRecord).callId)
      .filter((c) => c !== undefined);
    expect(calls).toHaveLength(600);
    expect(calls.filter((c) => c.startsWith('a'))).toEqual(ids.map((id) => `a${id}`));
    expect(calls.filter((c) => c.startsWith('b'))).toEqual(ids.map((id) => `b${id}`));
  });

  it('resolves a write only once its line is in the file, and close waits for the rest', async () => {
    const file = path.join(dir, 'durable', 'audit.jsonl');
    const sink = createJsonlAuditSink(file);
    await sink.write(record('first'));
    expect(readFileSync(file, 'utf8')).toContain('"callId":"first"');
    const late = sink.write(record('late'));
    await sink.close();
    await late;
    expect(readFileSync(file, 'utf8')).toContain('"callId":"late"');
  });
});

describe('argsDigest on hostile shapes', () => {
  it('digests arguments nested 10,000 levels deep, and a 200,000-item array, without overflowing', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 10_000; i++) deep = { a: [deep] };
    expect(argsDigest(deep)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(argsDigest(Array.from({ length: 200_000 }, (_, i) => i))).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('is the digest of the canonical JSON text', () => {
    const expected = createHash('sha256').update('{"a":[1,"x",null,{"b":true,"c":null}],"z":{}}').digest('base64url');
    expect(argsDigest({ z: {}, a: [1, 'x', null, { c: null, b: true }] })).toBe(expected);
  });
});
