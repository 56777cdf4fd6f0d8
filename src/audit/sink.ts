// Audit sinks: append-only JSON lines on disk, stderr, or memory (tests).
import { createHash } from 'node:crypto';
import { type FileHandle, open as fsOpen, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditRecord, AuditSink } from './types.js';

/** sha256 of the canonical JSON (sorted keys) of the arguments: attributable without storing them. */
export function argsDigest(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args)).digest('base64url');
}

/**
 * JSON with object keys sorted, built with an explicit stack: arguments nested thousands of levels deep
 * (a hostile client's) get a digest instead of overflowing the call stack before the call is recorded.
 */
function canonicalJson(root: unknown): string {
  const out: string[] = [];
  // Each frame is a value still to write, or a literal piece of punctuation.
  const stack: Array<{ value: unknown } | { text: string }> = [{ value: root }];
  while (stack.length > 0) {
    const frame = stack.pop() as { value: unknown } | { text: string };
    if ('text' in frame) {
      out.push(frame.text);
      continue;
    }
    const value = frame.value;
    if (value === null || typeof value !== 'object') {
      out.push(JSON.stringify(value ?? null) ?? 'null');
      continue;
    }
    const items: Array<{ value: unknown } | { text: string }> = [];
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        if (i > 0) items.push({ text: ',' });
        items.push({ value: v });
      });
      pushReversed(stack, '[', items, ']');
      continue;
    }
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    entries.forEach(([k, v], i) => {
      items.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(k)}:` }, { value: v });
    });
    pushReversed(stack, '{', items, '}');
  }
  return out.join('');
}

/** Pushes open, items, close so that they pop in order (a loop: a spread of 100,000 items overflows). */
function pushReversed<T>(stack: Array<T | { text: string }>, open: string, items: T[], close: string): void {
  stack.push({ text: close });
  for (let i = items.length - 1; i >= 0; i--) stack.push(items[i] as T);
  stack.push({ text: open });
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

/**
 * One line per record, appended through a file handle kept open with O_APPEND, so several processes can
 * share the file and each batch lands whole. Records that arrive while a write is in flight are batched
 * into the next single write(2), in arrival order. A record's promise resolves once its line is in the
 * file (handed to the kernel, not fsynced): the call's result waits for it, so a record is never lost on a
 * clean stop and costs one system call per batch instead of an open/append/close per call.
 */
export function createJsonlAuditSink(path: string): AuditSink {
  let handle: FileHandle | undefined;
  let pending: { line: string; done: () => void; failed: (err: unknown) => void }[] = [];
  let flushing: Promise<void> | undefined;

  async function open(): Promise<FileHandle> {
    if (!handle) {
      await mkdir(dirname(path), { recursive: true });
      // The mode applies only when the file is created here; an existing path keeps its own.
      handle = await fsOpen(path, 'a', 0o600);
    }
    return handle;
  }

  async function flush(): Promise<void> {
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      try {
        const fh = await open();
        await fh.write(batch.map((b) => b.line).join(''));
        for (const b of batch) b.done();
      } catch (err) {
        // A failed write is reported to its callers; the next batch reopens the file from scratch.
        const stale = handle;
        handle = undefined;
        await stale?.close().catch(() => {});
        for (const b of batch) b.failed(err);
      }
    }
  }

  function kick(): void {
    if (flushing) return;
    flushing = flush().finally(() => {
      flushing = undefined;
      if (pending.length > 0) kick();
    });
  }

  return {
    write(record) {
      const line = `${JSON.stringify(record)}\n`;
      return new Promise<void>((done, failed) => {
        pending.push({ line, done, failed });
        kick();
      });
    },
    async close() {
      while (flushing) await flushing;
      const fh = handle;
      handle = undefined;
      await fh?.close();
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
