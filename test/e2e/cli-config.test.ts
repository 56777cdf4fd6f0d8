// A bad config stops the built CLI before anything starts: non-zero exit, the path named, nothing listening.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invalidConfigs, validEnv } from '../fixtures/invalid-configs.js';
import { CLI } from '../helpers/stack.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-badcfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('keyward serve with an invalid config', () => {
  it('has at least ten kinds of invalid config to try', () => {
    expect(invalidConfigs.length).toBeGreaterThanOrEqual(10);
  });

  it.each(invalidConfigs.map((c, i) => [c.name, c, i] as const))(
    '%s: exits non-zero, names the path, starts nothing',
    (_name, c, i) => {
      const caseDir = path.join(dir, `case-${i}`);
      const configPath = path.join(caseDir, 'mcp.config.json');
      rmSync(caseDir, { recursive: true, force: true });
      spawnSync('mkdir', ['-p', caseDir]);
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
      expect(run.status).not.toBe(0);
      expect(run.status).not.toBeNull();
      expect(run.stderr).toContain(c.expect);
      // Nothing started: no output on stdout, no store or audit file made.
      expect(run.stdout).toBe('');
      expect(existsSync(path.join(caseDir, '.keyward'))).toBe(false);
      for (const secret of Object.values(validEnv)) expect(run.stderr).not.toContain(secret);
    },
  );
});
