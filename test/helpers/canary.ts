// Canary tokens: every secret a test's authorization server hands out is planted here, and every
// output the gateway produces (results, errors, logs, audit lines) is scanned for them.
import { expect } from 'vitest';

const planted = new Set<string>();

export function plant(value: string): void {
  // Very short values (e.g. test user names) would match innocently; real tokens are long.
  if (value.length >= 16) planted.add(value);
}

export function plantedCount(): number {
  return planted.size;
}

/** Asserts that no planted secret appears in `text`; `where` names the output for the failure. */
export function expectNoCanary(text: string, where: string): void {
  for (const secret of planted) {
    if (text.includes(secret)) {
      expect.fail(`a planted secret (${secret.slice(0, 6)}…) appeared in ${where}`);
    }
  }
}
