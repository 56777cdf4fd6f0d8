// A bad config stops the built CLI before anything starts: exit code 2, the path named on stderr, nothing on stdout.
// Every kind of bad config is checked in-process against the same entry (test/config/serve.test.ts); these two
// spawned cases check what only the process shows: the exit code and the stderr line a user or MCP client sees.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invalidConfigs, validEnv } from '../fixtures/invalid-configs.js';
import { CLI } from '../helpers/stack.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-badcfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// One that fails while reading the file, one that fails while resolving the environment.
const SPAWNED = ['invalid JSON syntax', 'missing environment variable for a secret'];

describe('keyward serve with an invalid config', () => {
  it.each(SPAWNED)('%s: exits 2, names the path on stderr, starts nothing', (name) => {
    const c = invalidConfigs.find((x) => x.name === name);
    if (!c) throw new Error(`no invalid-config case named "${name}"`);
    const caseDir = path.join(dir, name.replace(/\W+/g, '-'));
    const configPath = path.join(caseDir, 'mcp.config.json');
    mkdirSync(caseDir, { recursive: true });
    writeFileSync(configPath, typeof c.config === 'string' ? c.config : JSON.stringify(c.config));
    const run = spawnSync(
      process.execPath,
      [CLI, 'serve', '--config', configPath, '--transport', 'http', '--port', '0'],
      {
        env: { PATH: process.env.PATH ?? '', ...(c.env ?? validEnv) },
        encoding: 'utf8',
        timeout: 20_000,
        input: '',
      },
    );
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toContain(configPath);
    expect(run.stderr).toContain(c.expect);
    // Nothing started: no output on stdout, no store or audit file made.
    expect(run.stdout).toBe('');
    expect(existsSync(path.join(caseDir, '.keyward'))).toBe(false);
    for (const secret of Object.values(validEnv)) expect(run.stderr).not.toContain(secret);
  });
});
