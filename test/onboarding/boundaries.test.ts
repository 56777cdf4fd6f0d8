// Onboarding's boundary: no file in src/onboarding imports the grant store, the cipher or a token client.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ONBOARDING = path.join(ROOT, 'src/onboarding');

/** Every module a file imports or re-exports, static or dynamic, as written. */
function importsOf(source: string): string[] {
  const specs = new Set<string>();
  for (const m of source.matchAll(/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g)) specs.add(m[1] ?? '');
  for (const m of source.matchAll(/\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.add(m[1] ?? '');
  for (const m of source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) specs.add(m[1] ?? '');
  return [...specs];
}

/** What only the broker may hold: the grant store and its types, the cipher, and token requests. */
const FORBIDDEN = [
  /\/broker\/(store|crypto|types|credentialCache|broker|assemble|grants|locks\/.*)\.js$/,
  /\/providers\/(tokenClient|deviceGrant|idToken|revocation|signInClient)\.js$/,
  /^openid-client$/,
  /^jose$/,
];

describe('src/onboarding', () => {
  const files = readdirSync(ONBOARDING).filter((f) => f.endsWith('.ts'));

  it('has the files this test reads (a renamed folder must not make it pass by reading nothing)', () => {
    expect(files).toEqual(expect.arrayContaining(['flow.ts', 'device.ts', 'records.ts', 'deps.ts', 'router.ts']));
  });

  it.each(files)('%s imports no grant store, cipher or token client', (file) => {
    const imports = importsOf(readFileSync(path.join(ONBOARDING, file), 'utf8'));
    const bad = imports.filter((spec) => FORBIDDEN.some((re) => re.test(spec)));
    expect(bad).toEqual([]);
  });

  it('the check itself catches an import of the grant store', () => {
    const planted = "import type { GrantStore } from '../broker/types.js';\nimport { x } from '../broker/store.js';";
    expect(importsOf(planted).filter((s) => FORBIDDEN.some((re) => re.test(s)))).toHaveLength(2);
  });
});
