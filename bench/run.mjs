// Runs every benchmark in bench/ in turn; each writes its results to bench/results/.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const here = import.meta.dirname;
for (const bench of ['overhead.mjs', 'coldstart.mjs', 'coalescing.mjs', 'mint.mjs']) {
  const file = path.join(here, bench);
  if (!existsSync(file)) continue;
  console.log(`\n== ${bench}`);
  const run = spawnSync(process.execPath, [file], { stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
