// `keyward revoke` twice: the first revokes at the provider, the second says it was already revoked.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/connect.js';
import { runRevoke } from '../../src/cli/revoke.js';
import { driveAuthorization } from '../helpers/consent.js';
import { CookieJar } from '../helpers/cookieJar.js';
import { CLI, childEnv, type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
  // A real grant for "demo", made the way a stdio user makes one.
  const client = new Client({ name: 'revoke-test', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--config', stack.configPath],
      env: childEnv(stack),
      stderr: 'ignore',
    }),
  );
  const first = (await client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
  const link = (first.structuredContent as { error: { authorizeUrl: string } }).error.authorizeUrl;
  const driven = await driveAuthorization(link, { user: 'demo', jar: new CookieJar(), follow: true });
  expect(driven.body).toContain('Connected to notes');
  await client.close();
});
afterAll(async () => {
  await stack?.close();
});

function io(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    out: (l) => lines.push(l),
    err: (l) => errors.push(l),
    env: { ...process.env, ...stack.env, KEYWARD_LOG_LEVEL: 'silent' },
  };
}

describe('keyward revoke', () => {
  it('revoking twice says the grant was already revoked, and does not call the provider again', async () => {
    const previous = { ...process.env };
    Object.assign(process.env, stack.env);
    try {
      const once = io();
      expect(await runRevoke('notes', { config: stack.configPath, user: 'demo' }, once)).toBe(0);
      expect(once.lines[0]).toMatch(/^Revoked demo's notes grant/);
      const revocations = stack.authServer.stats.revocations;

      const twice = io();
      expect(await runRevoke('notes', { config: stack.configPath, user: 'demo' }, twice)).toBe(0);
      expect(twice.lines).toEqual([
        expect.stringMatching(/^demo's notes grant was already revoked \(\d{4}-\d\d-\d\dT[\d:.]+Z\); nothing to do\.$/),
      ]);
      expect(twice.lines.join('\n')).not.toContain('no revocation endpoint');
      expect(stack.authServer.stats.revocations).toBe(revocations);
    } finally {
      for (const k of Object.keys(stack.env)) if (!(k in previous)) delete process.env[k];
      Object.assign(process.env, previous);
    }
  });
});
