// Whole-process tests spawn the built CLI: bring dist/ up to date before any test runs, never trust a stale one.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
// Both test projects name this file and vitest runs their global setups one after the other in one process;
// a flag on the process's global object makes that one build, not two.
const BUILT = Symbol.for('keyward.test.built');

export default function setup(): void {
  const flags = globalThis as { [BUILT]?: boolean };
  if (flags[BUILT]) return;
  // `tsc -b` with tsconfig.build.json's incremental build info answers "up to date" in about a second
  // when nothing changed, and re-emits only what did. If the outputs were deleted but the build info
  // was not, build mode would trust it: --force rebuilds whole then.
  const force = existsSync(path.join(root, 'dist/src/cli/main.js')) ? [] : ['--force'];
  execFileSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json', ...force],
    { cwd: root, stdio: 'inherit' },
  );
  flags[BUILT] = true;
}
