// The audit log's tamper evidence: each writer's records form a hash chain, verified together across files.
import { createHash, randomBytes } from 'node:crypto';
import { canonicalJson } from './canonical.js';

/** The fields a sink adds to each record: who wrote it, its place in that writer's chain, and the links. */
export interface ChainFields {
  /** A random id per sink instance (one process's writer); each writer keeps its own chain. */
  writer: string;
  /** 1, 2, 3, … within the writer's chain. */
  seq: number;
  /** The previous record's `hash` in the same writer's chain; for seq 1, the genesis value. */
  prev: string;
  /** sha256 (base64url) of the canonical JSON of the record without `hash`. */
  hash: string;
}

export const GENESIS = 'genesis';

export function hashRecord(record: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = record;
  return createHash('sha256').update(canonicalJson(rest)).digest('base64url');
}

/** One writer's end of its chain: seals records in the order they are written. */
export function createChainWriter(writer = randomBytes(9).toString('base64url')) {
  let seq = 0;
  let prev = GENESIS;
  return {
    writer,
    snapshot: () => ({ seq, prev }),
    restore(state: { seq: number; prev: string }) {
      seq = state.seq;
      prev = state.prev;
    },
    seal<T extends object>(record: T): T & ChainFields {
      seq += 1;
      const unsealed = { ...record, writer, seq, prev } as Record<string, unknown>;
      const hash = hashRecord(unsealed);
      prev = hash;
      return { ...unsealed, hash } as T & ChainFields;
    },
  };
}

export interface ChainProblem {
  /** 1-based line number within `file`. */
  line: number;
  file: string;
  problem: string;
}

export interface ChainReport {
  records: number;
  writers: number;
  /** The first bad record in reading order, if any. */
  firstBad?: ChainProblem;
  /** Writers whose chain does not end in a close record: a crash, or records cut off the end. */
  unclosed: string[];
}

/**
 * Verifies lines read in order (files oldest first). Each writer's records must carry seq 1, 2, 3, …
 * in that order, each linking to the previous one's hash, each hash matching its content. An edit breaks
 * the hash; a deletion or a reordering within a writer breaks seq or prev. Records of different writers
 * may interleave in any order: they were appended by different processes.
 */
export function verifyChain(lines: Iterable<{ file: string; line: number; text: string }>): ChainReport {
  const heads = new Map<string, { seq: number; hash: string; closed: boolean }>();
  let records = 0;
  let firstBad: ChainProblem | undefined;
  for (const { file, line, text } of lines) {
    if (!text.trim()) continue;
    records += 1;
    if (firstBad) continue;
    const bad = (problem: string) => {
      firstBad = { file, line, problem };
    };
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(text) as Record<string, unknown>;
    } catch {
      bad('not JSON');
      continue;
    }
    const { writer, seq, prev, hash } = r;
    if (typeof writer !== 'string' || typeof seq !== 'number' || typeof prev !== 'string' || typeof hash !== 'string') {
      bad('no chain fields (writer, seq, prev, hash)');
      continue;
    }
    if (hashRecord(r) !== hash) {
      bad(`hash does not match the record's content (writer ${writer}, seq ${seq}): edited`);
      continue;
    }
    const head = heads.get(writer) ?? { seq: 0, hash: GENESIS, closed: false };
    if (seq !== head.seq + 1) {
      bad(
        seq > head.seq + 1
          ? `writer ${writer} jumps from seq ${head.seq} to ${seq}: ${seq - head.seq - 1} record(s) deleted`
          : `writer ${writer} repeats or goes back to seq ${seq} after ${head.seq}: reordered or replayed`,
      );
      continue;
    }
    if (prev !== head.hash) {
      bad(`writer ${writer} seq ${seq} does not link to the record before it`);
      continue;
    }
    heads.set(writer, { seq, hash, closed: r.event === 'audit_closed' });
  }
  return {
    records,
    writers: heads.size,
    ...(firstBad ? { firstBad } : {}),
    unclosed: [...heads].filter(([, h]) => !h.closed).map(([w]) => w),
  };
}
