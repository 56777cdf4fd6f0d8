// Two test projects: in-process tests on worker threads (at least two), whole-process tests capped at two forks.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

const root = import.meta.dirname;

/**
 * A test file is a whole-process test when it lives in test/e2e/ or starts processes: it, or a test helper it
 * imports, imports node:child_process or a plain .mjs fixture (those fork broker or lock children).
 * Read from the files each run, so a test that stops spawning moves to the fast project by itself.
 * Redis tests are not counted: test/helpers/services.ts starts one small redis-server per file, not our code.
 */
const SPAWNS = /from ['"]node:child_process['"]|fixtures\/[\w-]+\.mjs['"]/;
const SERVICES = 'test/helpers/services.ts';

function testFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return testFiles(rel);
    return entry.name.endsWith('.test.ts') ? [rel] : [];
  });
}

function read(file: string): string {
  return existsSync(path.join(root, file)) ? readFileSync(path.join(root, file), 'utf8') : '';
}

/** The test's own source and that of the local modules it imports directly (test/helpers/stack.js -> .ts). */
function sourcesOf(file: string): string[] {
  const source = read(file);
  const local = [...source.matchAll(/from ['"](\.{1,2}\/[^'"]+)\.js['"]/g)]
    .map(([, spec]) => path.posix.join(path.posix.dirname(file), `${spec}.ts`))
    .filter((dep) => dep !== SERVICES);
  return [source, ...local.map(read)];
}

/**
 * The fault suite (test/faults: SIGKILLs at each refresh fault point, on every store) takes minutes, so
 * `npm test` leaves it out and `npm run test:faults` runs it; .ci/run runs both.
 */
const FAULT_SUITE = process.env.KEYWARD_FAULT_SUITE === '1';
const all = testFiles('test').filter((file) => FAULT_SUITE === file.startsWith('test/faults/'));
const processTests = all.filter((file) => file.startsWith('test/e2e/') || sourcesOf(file).some((s) => SPAWNS.test(s)));

// Whole-process tests spend most of their time waiting on their children and the network: three at once
// keep two cores busy (63 s against 70 s with two, 64 s with four, on this 2-core machine).
const PROCESS_WORKERS = 3;
// vitest's own default for a run (one core left for the main process), but never below the process cap:
// projects with different worker counts cannot share a group, and on a 2-core machine one shared group of
// two, longest files first, packs better than two groups run one after the other.
const UNIT_WORKERS = Math.max(availableParallelism() - 1, PROCESS_WORKERS);
// Same count: one group, the files of both projects interleaved. More cores: in-process tests first, on more workers.
const groupOrder = UNIT_WORKERS === PROCESS_WORKERS ? 0 : 1;

// Both projects get the same build step and the same end-of-file canary scan.
const shared = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  globalSetup: ['test/globalSetup.ts'],
  // Every file's collected outputs are scanned for planted secrets when it ends.
  setupFiles: ['test/setup/canaries.ts'],
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'unit',
          // Exactly the complement of the process project: each file runs once, in one project.
          include: all.filter((file) => !processTests.includes(file)),
          pool: 'threads',
          // In-process files share a worker's module cache: every file importing oidc-provider, express and
          // the gateway again cost more than their tests (import 30 s of a 52 s run). They keep no global state.
          isolate: false,
          maxWorkers: UNIT_WORKERS,
        },
      },
      {
        test: {
          ...shared,
          name: 'process',
          include: processTests,
          pool: 'forks',
          // The spawned processes are the isolation these files need; the fork's module cache is shared.
          isolate: false,
          maxWorkers: PROCESS_WORKERS,
          sequence: { groupOrder },
        },
      },
    ],
  },
});
