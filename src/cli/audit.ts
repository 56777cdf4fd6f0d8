// `keyward audit`: the last audit records from the configured JSON-lines file, for people or as JSON.
import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { AuditRecord } from '../audit/types.js';
import { loadConfig } from '../config/load.js';
import { type CliIo, defaultIo } from './connect.js';
import { formatTable } from './grants.js';

export interface AuditCommandOptions {
  config: string;
  /** How many of the latest records. Default 20. */
  tail?: number;
  json?: boolean;
}

/** The last `n` lines of a file, read as a stream so a large log is never held whole. */
async function lastLines(path: string, n: number): Promise<string[]> {
  const kept: string[] = [];
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (!line.trim()) continue;
    kept.push(line);
    if (kept.length > n) kept.shift();
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
  if (!existsSync(path)) {
    if (!opts.json) io.out(`No audit records yet (${path}).`);
    return 0;
  }
  const lines = await lastLines(path, Math.max(1, tail));
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
