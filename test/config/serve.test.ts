// `keyward serve`'s entry refuses every bad config before anything starts: the problem named with its path,
// no gateway built, no signal handler, no output, no store or audit file. test/e2e/cli-config.test.ts checks
// the built CLI's exit code and stderr for two of these cases.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { runServe } from '../../src/cli/serve.js';
import { ConfigError } from '../../src/errors.js';
import { invalidConfigs, validEnv } from '../fixtures/invalid-configs.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-badserve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

// A case's env replaces the environment whole, as for the spawned CLI: every variable any case or the
// config reads is set to the case's value or removed.
const ENV_KEYS = [
  ...new Set([
    'KEYWARD_STORE_URL',
    'KEYWARD_CONFIG',
    ...Object.keys(validEnv),
    ...invalidConfigs.flatMap((c) => Object.keys(c.env ?? {})),
  ]),
];

describe('runServe with an invalid config', () => {
  it('has at least ten kinds of invalid config to try', () => {
    expect(invalidConfigs.length).toBeGreaterThanOrEqual(10);
  });

  it.each(invalidConfigs.map((c, i) => [c.name, c, i] as const))(
    '%s: rejects naming the path, starts nothing',
    async (_name, c, i) => {
      const caseDir = path.join(dir, `case-${i}`);
      const configPath = path.join(caseDir, 'mcp.config.json');
      mkdirSync(caseDir, { recursive: true });
      writeFileSync(configPath, typeof c.config === 'string' ? c.config : JSON.stringify(c.config));
      const env = c.env ?? validEnv;
      for (const key of ENV_KEYS) vi.stubEnv(key, env[key]);
      const stdout = vi.spyOn(process.stdout, 'write');
      const signalHandlers = process.listenerCount('SIGTERM') + process.listenerCount('SIGINT');

      const err = await runServe({ config: configPath, transport: 'http', port: 0 }).then(
        () => expect.fail('runServe accepted an invalid config'),
        (e: unknown) => e,
      );

      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as ConfigError).message;
      expect(message).toContain(configPath);
      expect(message).toContain(c.expect);
      for (const secret of Object.values(validEnv)) {
        if (secret.length >= 16) expect(message).not.toContain(secret);
      }
      // Nothing started: the shutdown handlers come with the gateway, and the gateway never came.
      expect(process.listenerCount('SIGTERM') + process.listenerCount('SIGINT')).toBe(signalHandlers);
      expect(stdout).not.toHaveBeenCalled();
      expect(existsSync(path.join(caseDir, '.keyward'))).toBe(false);
    },
  );
});
