// Audit sinks: append-only JSON lines on disk, stderr, or memory (tests).
import { createHash } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditRecord, AuditSink } from './types.js';

/** sha256 of the canonical JSON (sorted keys) of the arguments: attributable without storing them. */
export function argsDigest(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args)).digest('base64url');
}

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export interface MemoryAuditSink extends AuditSink {
  records: AuditRecord[];
}

export function createMemoryAuditSink(): MemoryAuditSink {
  const records: AuditRecord[] = [];
  return {
    records,
    async write(record) {
      records.push(record);
    },
    async close() {},
  };
}

/** One line per record, appended with O_APPEND so several processes can share the file. */
export function createJsonlAuditSink(path: string): AuditSink {
  let folderReady = false;
  // Writes go one after another so lines keep their order; a failed write does not stall later ones.
  let queue: Promise<void> = Promise.resolve();
  return {
    write(record) {
      const line = `${JSON.stringify(record)}\n`;
      const written = queue.then(async () => {
        if (!folderReady) {
          await mkdir(dirname(path), { recursive: true });
          folderReady = true;
        }
        await appendFile(path, line, { flag: 'a', mode: 0o600 });
      });
      queue = written.catch(() => {});
      return written;
    },
    async close() {
      await queue;
    },
  };
}

export function createStderrAuditSink(): AuditSink {
  return {
    async write(record) {
      process.stderr.write(`${JSON.stringify({ audit: record })}\n`);
    },
    async close() {},
  };
}

/** `jsonl:<absolute path>` | `stderr:` | `memory:` (already resolved by the config loader). */
export function createAuditSink(url: string): AuditSink {
  if (url.startsWith('jsonl:')) return createJsonlAuditSink(url.slice('jsonl:'.length));
  if (url === 'stderr:') return createStderrAuditSink();
  if (url === 'memory:') return createMemoryAuditSink();
  throw new Error(`unsupported audit sink: ${url}`);
}
