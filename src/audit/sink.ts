// Audit sinks: append-only JSON lines on disk, stderr, or memory (tests).
import { createHash, randomBytes } from 'node:crypto';
import { type FileHandle, open as fsOpen, mkdir, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { canonicalJson } from './canonical.js';
import { createChainWriter } from './chain.js';
import type { AuditRecord, AuditSink } from './types.js';

/** sha256 of the canonical JSON (sorted keys) of the arguments: attributable without storing them. */
export function argsDigest(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args)).digest('base64url');
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

export interface JsonlSinkOptions {
  /** Past this size the file is renamed aside (`<path>.<time>`) and a new one started. Default 64 MiB. */
  maxBytes?: number;
  /** This writer's id in the chain; random by default (tests name it). */
  writer?: string;
}

const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

/**
 * One line per record, appended through a file handle kept open with O_APPEND, so several processes can
 * share the file and each batch lands whole. Records that arrive while a write is in flight are batched
 * into the next single write(2), in arrival order. A record's promise resolves once its line is in the
 * file (handed to the kernel, not fsynced): the call's result waits for it, so a record is never lost on a
 * clean stop and costs one system call per batch instead of an open/append/close per call.
 *
 * Each record is sealed into this writer's hash chain (src/audit/chain.ts) as it is written; a clean
 * close appends an `audit_closed` record so that verification can tell a stop from a cut-off tail.
 */
export function createJsonlAuditSink(path: string, opts: JsonlSinkOptions = {}): AuditSink {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const chain = createChainWriter(opts.writer);
  let handle: FileHandle | undefined;
  let pending: { record: object; done: () => void; failed: (err: unknown) => void }[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;

  async function open(): Promise<FileHandle> {
    if (!handle) {
      await mkdir(dirname(path), { recursive: true });
      // The mode applies only when the file is created here; an existing path keeps its own.
      handle = await fsOpen(path, 'a', 0o600);
    }
    return handle;
  }

  /** Renames a full file aside, unless another writer already did (then this handle points at the old one). */
  async function rotateIfFull(fh: FileHandle): Promise<void> {
    const own = await fh.stat();
    if (own.size < maxBytes) return;
    const current = await stat(path).catch(() => undefined);
    if (current && current.ino === own.ino && current.dev === own.dev) {
      // Sorted by name, rotated files read in writing order: the wall-clock stamp orders them across
      // processes, the monotonic clock within this one (two rotations can fall in one millisecond).
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const tick = process.hrtime.bigint().toString().padStart(20, '0');
      await rename(path, `${path}.${stamp}.${tick}.${randomBytes(3).toString('hex')}`);
    }
    handle = undefined;
    await fh.close();
  }

  async function flush(): Promise<void> {
    while (pending.length > 0) {
      const batch = pending;
      pending = [];
      const before = chain.snapshot();
      try {
        const fh = await open();
        await fh.write(batch.map((b) => `${JSON.stringify(chain.seal(b.record))}\n`).join(''));
        for (const b of batch) b.done();
        await rotateIfFull(fh).catch(() => {});
      } catch (err) {
        // Nothing of the batch was chained: the next record takes the same place, so the chain has no gap.
        chain.restore(before);
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

  function enqueue(record: object): Promise<void> {
    return new Promise<void>((done, failed) => {
      pending.push({ record, done, failed });
      kick();
    });
  }

  return {
    write(record) {
      if (closed) return Promise.reject(new Error('the audit sink is closed'));
      return enqueue(record);
    },
    async close() {
      if (closed) return;
      closed = true;
      while (flushing) await flushing;
      if (chain.snapshot().seq > 0) {
        await enqueue({ time: new Date().toISOString(), event: 'audit_closed' }).catch(() => {});
        while (flushing) await flushing;
      }
      const fh = handle;
      handle = undefined;
      await fh?.close();
    },
  };
}

export function createStderrAuditSink(): AuditSink {
  // Chained as the file is, so a log collector's copy can be verified the same way.
  const chain = createChainWriter();
  return {
    async write(record) {
      process.stderr.write(`${JSON.stringify({ audit: chain.seal(record) })}\n`);
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
