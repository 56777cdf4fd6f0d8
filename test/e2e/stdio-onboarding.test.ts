// stdio onboarding end to end: the SDK client spawns `keyward serve`, gets a loopback URL in the error, a scripted browser consents, the retry succeeds.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRevoke } from '../../src/cli/revoke.js';
import { expectNoCanary } from '../helpers/canary.js';
import { driveAuthorization } from '../helpers/consent.js';
import { CookieJar } from '../helpers/cookieJar.js';
import { CLI, childEnv, type Stack, startStack } from '../helpers/stack.js';

describe('keyward serve over stdio: onboarding through a loopback listener', () => {
  let stack: Stack;
  let client: Client;
  let stderr = '';

  beforeAll(async () => {
    stack = await startStack();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--config', stack.configPath],
      env: childEnv(stack),
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    client = new Client({ name: 'claude-desktop-like', version: '1.0.0' });
    await client.connect(transport);
  });
  afterAll(async () => {
    await client?.close();
    const audit = (() => {
      try {
        return readFileSync(path.join(stack.dir, 'audit.jsonl'), 'utf8');
      } catch {
        return '';
      }
    })();
    expectNoCanary(stderr, 'gateway stderr');
    expectNoCanary(audit, 'audit log');
    await stack?.close();
  });

  it('the error carries a loopback URL; the user consents there; the retried call succeeds', async () => {
    const first = (await client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
    expect(first.isError).toBe(true);
    const error = (first.structuredContent as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ code: 'reauth_required', reason: 'no_grant', provider: 'notes' });
    const url = new URL(String(error.authorizeUrl));
    // Started on demand, on its own free port, with the flow secret in the path.
    expect(url.origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(url.port).not.toBe(String(stack.gatewayPort));
    expect(url.pathname).toMatch(/^\/connect\/notes\/[A-Za-z0-9_-]{43}$/);
    expect((first.content[0] as { text: string }).text).toContain(url.href);
    // Nothing else is served there.
    expect((await fetch(`${url.origin}/connect/notes`)).status).toBe(404);

    const jar = new CookieJar();
    const toAs = await jar.fetch(url);
    expect(toAs.status).toBe(302);
    const asUrl = new URL(toAs.headers.get('location') ?? '');
    expect(asUrl.origin).toBe(stack.authServer.issuer);
    expect(asUrl.searchParams.get('redirect_uri')).toBe(`${url.origin}/callback/notes`);
    const driven = await driveAuthorization(asUrl.href, { user: 'demo', jar, follow: true });
    expect(driven.response?.status).toBe(200);
    expect(driven.body).toContain('Connected to notes');

    const second = (await client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
    expect(second.isError).toBeFalsy();
    expect(second.structuredContent).toMatchObject({ notes: [] });
    const created = (await client.callTool({
      name: 'create_note',
      arguments: { title: 'from stdio', body: 'onboarded via loopback' },
    })) as CallToolResult;
    expect(created.isError).toBeFalsy();
  });

  it("`keyward revoke` outside the server process reaches the AS, and the server's next call needs reauth", async () => {
    const revocations = stack.authServer.stats.revocations;
    // The command runs in this test's process: the stdio server is the other process sharing the store.
    const lines: string[] = [];
    const errors: string[] = [];
    const saved = Object.fromEntries(Object.keys(stack.env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, stack.env);
    try {
      const code = await runRevoke(
        'notes',
        { config: stack.configPath },
        { out: (l) => lines.push(l), err: (l) => errors.push(l), env: { KEYWARD_LOG_LEVEL: 'silent' } },
      );
      expect({ code, errors }).toEqual({ code: 0, errors: [] });
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    expect(lines[0]).toMatch(/^Revoked demo's notes grant/);
    expect(stack.authServer.stats.revocations).toBe(revocations + 1);

    // The running stdio server shares the store: its cached credential is not used again.
    const after = (await client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
    expect(after.isError).toBe(true);
    const error = (after.structuredContent as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ code: 'reauth_required', reason: 'revoked', provider: 'notes' });
    expect(String(error.authorizeUrl)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/connect\/notes\//);
  });
});
