// `keyward check` on the built CLI: the store, the identity issuer, each provider's metadata and API, with causes.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { causeChain } from '../../src/cli/check.js';
import { freePort } from '../helpers/ports.js';
import { CLI, childEnv, type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    extra: ({ issuer }) => ({ identity: { issuer, requiredScopes: ['mcp:tools'] } }),
  });
});
afterAll(async () => {
  await stack?.close();
});

// Asynchronous: the demo AS and API run in this process and must stay free to answer.
function run(command: string, configPath: string) {
  return new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      '/bin/sh',
      ['-c', command.replace('CHECK', `"${process.execPath}" "${CLI}" check --config "${configPath}"`)],
      { env: childEnv(stack), timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface ConfigShape {
  store: string;
  providers: { notes: { issuer: string; apiBaseUrl: string } };
  identity: { issuer: string };
}

function variant(name: string, change: (c: ConfigShape) => void): string {
  const config = structuredClone(stack.config) as unknown as ConfigShape;
  change(config);
  const file = path.join(stack.dir, name);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe('keyward check', () => {
  it('with everything up: the store written and read, the identity issuer, metadata and API; exit 0', async () => {
    const out = await run('CHECK', stack.configPath);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(out.stdout).toMatch(/^store {3}sqlite:.*keyward\.db: connect, write, read: ok$/m);
    expect(out.stdout).toContain(`inbound identity issuer ${stack.authServer.issuer}: metadata ok`);
    expect(out.stdout).toMatch(
      /notes\s+refresh\s+discovery \S+\s+ok\s+authorize, token, revoke, device, jwks; api answers \(HTTP \d{3}\)/,
    );
  });

  it('a dead apiBaseUrl fails the provider, names the cause, and exits 1', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const file = variant('dead-api.json', (c) => {
      c.providers.notes.apiBaseUrl = dead;
    });
    const out = await run('CHECK', file);
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(new RegExp(`notes .*FAILED\\s+api ${dead}: unreachable: fetch failed: .*ECONNREFUSED`));
    expect(out.stderr).toContain('1 check(s) failed');
  });

  it('an unreachable issuer: the provider metadata and the identity issuer fail with their cause', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const file = variant('dead-issuer.json', (c) => {
      c.providers.notes.issuer = dead;
      c.identity.issuer = dead;
    });
    const out = await run('CHECK', file);
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(new RegExp(`inbound identity issuer ${dead}: FAILED: fetch failed: .*ECONNREFUSED`));
    expect(out.stdout).toMatch(/FAILED\s+metadata: discovery .*failed .*: fetch failed: .*ECONNREFUSED/);
    expect(out.stderr).toContain('2 check(s) failed');
  });

  it('a store that cannot be opened fails with its cause', async () => {
    const file = variant('bad-store.json', (c) => {
      // A folder that cannot exist: its parent is a file.
      c.store = `sqlite:${path.join(stack.configPath, 'x.db')}`;
    });
    const out = await run('CHECK', file);
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(/^store {3}sqlite:.*x\.db: FAILED: .+/m);
  });

  it('`check | head -2` prints two lines and no EPIPE trace', async () => {
    const out = await run('CHECK | head -2', stack.configPath);
    expect(out.stdout.trim().split('\n')).toHaveLength(2);
    expect(out.stderr).not.toMatch(/EPIPE|Error|at /);
  });
});

describe('causeChain', () => {
  it('joins an error and its causes with the system code', () => {
    const inner = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const err = new Error('discovery failed', { cause: new TypeError('fetch failed', { cause: inner }) });
    expect(causeChain(err)).toBe('discovery failed: fetch failed: connect ECONNREFUSED 127.0.0.1:9');
    const timeout = Object.assign(new Error('The operation was aborted due to timeout'), { code: 23 });
    expect(causeChain(timeout)).toBe('The operation was aborted due to timeout');
  });
});
