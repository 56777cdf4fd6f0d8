// `keyward audit`: the last audit records from the configured JSON-lines file, for people or as JSON.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { AuditRecord } from '../audit/types.js';
import { auditFiles } from '../audit/verify.js';
import { loadConfig } from '../config/load.js';
import { type CliIo, defaultIo } from './connect.js';
import { formatTable } from './grants.js';

export interface AuditCommandOptions {
  config: string;
  /** How many of the latest matching records. Default 20. */
  tail?: number;
  json?: boolean;
  user?: string;
  tool?: string;
  grant?: string;
  call?: string;
  /** An ISO time, or a duration back from now such as "90m", "24h", "7d". */
  since?: string;
}

/** The `--since` value as epoch ms, or an error message. */
export function parseSince(value: string, nowMs: number): number | string {
  const d = /^(\d+)(s|m|h|d)$/.exec(value);
  if (d) return nowMs - Number(d[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[d[2] as 's' | 'm' | 'h' | 'd'];
  const t = Date.parse(value);
  return Number.isNaN(t) ? `--since ${value}: give an ISO time (2026-11-29T10:00Z) or a duration (90m, 24h, 7d)` : t;
}

function matches(r: Partial<AuditRecord> & { event?: string }, opts: AuditCommandOptions, sinceMs?: number): boolean {
  if (r.event === 'audit_closed') return false;
  if (opts.user !== undefined && r.user !== opts.user) return false;
  if (opts.tool !== undefined && r.tool !== opts.tool) return false;
  if (opts.grant !== undefined && r.grantId !== opts.grant) return false;
  if (opts.call !== undefined && r.callId !== opts.call) return false;
  if (sinceMs !== undefined && !(Date.parse(r.time ?? '') >= sinceMs)) return false;
  return true;
}

/** The last `n` matching lines of the log and its rotated files, streamed so a large log is never held whole. */
async function lastMatching(files: string[], n: number, keep: (line: string) => boolean): Promise<string[]> {
  const kept: string[] = [];
  for (const file of files) {
    const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const line of lines) {
      if (!line.trim() || !keep(line)) continue;
      kept.push(line);
      if (kept.length > n) kept.shift();
    }
  }
  return kept;
}

function describe(r: Partial<AuditRecord>): string {
  if (r.event) return r.event;
  return r.tool ?? '';
}

export async function runAudit(opts: AuditCommandOptions, io: CliIo = defaultIo()): Promise<number> {
  const config = await loadConfig(opts.config);
  if (!config.audit.startsWith('jsonl:')) {
    io.err(
      `keyward: audit is "${config.audit}" in ${config.configPath}; only a jsonl:<file> audit log can be read back`,
    );
    return 1;
  }
  const path = config.audit.slice('jsonl:'.length);
  const tail = opts.tail ?? 20;
  let sinceMs: number | undefined;
  if (opts.since !== undefined) {
    const since = parseSince(opts.since, Date.now());
    if (typeof since === 'string') {
      io.err(`keyward: ${since}`);
      return 2;
    }
    sinceMs = since;
  }
  const files = await auditFiles(path);
  if (files.length === 0) {
    if (!opts.json) io.out(`No audit records yet (${path}).`);
    return 0;
  }
  const lines = await lastMatching(files, Math.max(1, tail), (line) => {
    try {
      return matches(JSON.parse(line) as Partial<AuditRecord>, opts, sinceMs);
    } catch {
      // An unreadable line is shown only when nothing narrows the listing.
      return [opts.user, opts.tool, opts.grant, opts.call, opts.since].every((f) => f === undefined);
    }
  });
  if (opts.json) {
    for (const line of lines) io.out(line);
    return 0;
  }
  const rows: string[][] = [];
  for (const line of lines) {
    let r: Partial<AuditRecord>;
    try {
      r = JSON.parse(line) as Partial<AuditRecord>;
    } catch {
      rows.push(['?', 'unreadable line', '', '', '', '', '', '']);
      continue;
    }
    rows.push([
      (r.time ?? '').replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      r.outcome ?? '',
      r.user ?? '',
      r.client ?? '',
      describe(r),
      r.provider ?? '',
      [r.errorCode, r.reason].filter(Boolean).join(': ') || (r.status !== undefined ? `HTTP ${r.status}` : ''),
      r.callId ?? '',
    ]);
  }
  for (const line of formatTable(
    ['TIME', 'OUTCOME', 'USER', 'CLIENT', 'TOOL/EVENT', 'PROVIDER', 'DETAIL', 'CALL'],
    rows,
  ))
    io.out(line);
  return 0;
}
