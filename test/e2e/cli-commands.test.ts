// The small commands: check through the built CLI (its exit status is the promise), keygen and jwks in-process.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runJwks, runKeygen } from '../../src/cli/keys.js';
import { CLI, childEnv, type Stack, startStack } from '../helpers/stack.js';

describe('keyward check, keygen and jwks', async () => {
  let stack: Stack;
  const saved: Record<string, string | undefined> = {};
  beforeAll(async () => {
    stack = await startStack();
    // The in-process commands read the config (and its env references) the way the real CLI does.
    for (const [k, v] of Object.entries(stack.env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  });
  afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await stack?.close();
  });

  // Asynchronous on purpose: the demo AS runs in this process and must stay free to answer.
  const run = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: childEnv(stack), timeout: 30_000 }, (err, stdout, stderr) => {
        resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });

  it('check: loads the tools and reaches the provider metadata', async () => {
    const out = await run('check', '--config', stack.configPath);
    expect(out.status).toBe(0);
    expect(out.stdout).toContain('tools   4 loaded');
    expect(out.stdout).toMatch(/notes\s+refresh\s+discovery http:\/\/127\.0\.0\.1:\d+\s+ok\s+authorize, token, revoke/);
  });

  it('check: exits non-zero and says which provider failed when metadata cannot be reached', async () => {
    const broken = { ...stack.config } as { providers: { notes: Record<string, unknown> } };
    broken.providers = { notes: { ...broken.providers.notes, issuer: 'http://127.0.0.1:9' } };
    const file = path.join(stack.dir, 'broken.json');
    writeFileSync(file, JSON.stringify(broken));
    const out = await run('check', '--config', file);
    expect(out.status).toBe(1);
    expect(out.stdout).toMatch(/notes\s+refresh\s+discovery http:\/\/127\.0\.0\.1:9\s+FAILED/);
  });

  /** What the command printed with console.log (these commands print nothing else). */
  async function printed(command: () => void | Promise<void>): Promise<string> {
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '));
    });
    try {
      await command();
    } finally {
      spy.mockRestore();
    }
    return lines.join('\n');
  }

  it('keygen: prints a fresh 32-byte base64url key each time', async () => {
    const a = (await printed(runKeygen)).trim();
    const b = (await printed(runKeygen)).trim();
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
  });

  it('jwks: prints the public signing key, the same on every run, with no private part', async () => {
    // Each run opens the store on its own, as separate invocations do; the key is created once and kept.
    const jwks = () => printed(() => runJwks({ config: stack.configPath }));
    const first = JSON.parse(await jwks()) as { keys: Record<string, unknown>[] };
    const second = JSON.parse(await jwks()) as { keys: Record<string, unknown>[] };
    expect(first.keys).toHaveLength(1);
    expect(first.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256' });
    expect(first.keys[0]).not.toHaveProperty('d');
    expect(second).toEqual(first);
  });
});
