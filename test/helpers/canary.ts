// Canary tokens: every secret a test's authorization server hands out is planted here, and every output
// the gateway produces (results, errors, logs, audit lines, store files) is collected and scanned for them.
// test/setup/canaries.ts scans whatever each test file collected when that file ends.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';

const planted = new Set<string>();
const collected: Array<{ where: string; text: string }> = [];

export function plant(value: string): void {
  // Very short values (e.g. test user names) would match innocently; real tokens are long.
  if (value.length >= 16) planted.add(value);
}

export function plantedCount(): number {
  return planted.size;
}

/** Keeps an output for the end-of-file scan. */
export function collect(where: string, text: string): void {
  if (text) collected.push({ where, text });
}

/** Keeps every file under `dir` (audit logs, raw store files) for the end-of-file scan. */
export function collectFiles(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const file = path.join(dir, name);
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) collectFiles(file);
    // latin1 keeps every byte, so a token inside a binary store page is still found.
    else if (st.isFile() && st.size <= 64 * 1024 * 1024) collect(file, readFileSync(file, 'latin1'));
  }
}

function findCanary(text: string): string | undefined {
  for (const secret of planted) if (text.includes(secret)) return secret;
  return undefined;
}

/** Asserts that no planted secret appears in `text`; `where` names the output for the failure. */
export function expectNoCanary(text: string, where: string): void {
  collect(where, text);
  const secret = findCanary(text);
  if (secret) expect.fail(`a planted secret (${secret.slice(0, 6)}…) appeared in ${where}`);
}

/** Scans and forgets everything collected so far; throws naming each output that held a planted secret. */
export function scanCollected(): { scanned: number; planted: number } {
  const outputs = collected.splice(0);
  const leaks = outputs.flatMap(({ where, text }) => {
    const secret = findCanary(text);
    return secret ? [`${where} (${secret.slice(0, 6)}…)`] : [];
  });
  if (leaks.length) throw new Error(`planted secrets appeared in:\n  ${leaks.join('\n  ')}`);
  return { scanned: outputs.length, planted: planted.size };
}
