// `keyward audit verify`: checks the audit log's hash chains and names the first bad record.
import { verifyAuditLog } from '../audit/verify.js';
import { loadConfig } from '../config/load.js';
import { type CliIo, defaultIo } from './connect.js';

export interface AuditVerifyOptions {
  config: string;
  json?: boolean;
}

/** Exit 0 when every chain verifies, 1 when a record was edited, deleted or reordered (or the log is not a file). */
export async function runAuditVerify(opts: AuditVerifyOptions, io: CliIo = defaultIo()): Promise<number> {
  const config = await loadConfig(opts.config);
  if (!config.audit.startsWith('jsonl:')) {
    io.err(
      `keyward: audit is "${config.audit}" in ${config.configPath}; only a jsonl:<file> audit log can be verified`,
    );
    return 1;
  }
  const report = await verifyAuditLog(config.audit.slice('jsonl:'.length));
  if (opts.json) {
    io.out(JSON.stringify(report));
    return report.firstBad ? 1 : 0;
  }
  if (report.files.length === 0) {
    io.out('No audit records yet.');
    return 0;
  }
  if (report.firstBad) {
    const { file, line, problem } = report.firstBad;
    io.out(`FAILED: ${file}:${line}: ${problem}`);
    io.out(`(${report.records} records in ${report.files.length} file(s); records after this one were not checked)`);
    return 1;
  }
  io.out(`OK: ${report.records} records from ${report.writers} writer(s) in ${report.files.length} file(s) verify.`);
  if (report.unclosed.length) {
    io.out(
      `Note: ${report.unclosed.length} writer(s) did not close cleanly (a running or crashed process, or records cut off the end): ${report.unclosed.join(', ')}`,
    );
  }
  return 0;
}
