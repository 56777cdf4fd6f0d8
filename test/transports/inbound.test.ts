// The whole gateway over HTTP (in process, mounted as `keyward serve` mounts it) as an MCP-spec resource server:
// a standard SDK client signs in at the stack's authorization server by the MCP authorization flow alone, then
// lists and calls tools as itself.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectWithOAuth, TestClientProvider, withoutRegistrationScope } from '../helpers/oauthClient.js';
import { ROOT, type Stack, startStack } from '../helpers/stack.js';
import { type InProcessGateway, startInProcessGateway } from './inProcessGateway.js';

let stack: Stack;
let gateway: InProcessGateway;
const toolDir = mkdtempSync(path.join(tmpdir(), 'keyward-inbound-tools-'));

/** get_note, but also needing the gateway scope notes:admin from the caller's sign-in. */
function writeAdminTool(): string {
  const spec = JSON.parse(readFileSync(path.join(ROOT, 'tools/get_note.json'), 'utf8')) as Record<string, unknown>;
  const file = path.join(toolDir, 'admin_get_note.json');
  writeFileSync(file, JSON.stringify({ ...spec, name: 'admin_get_note', gatewayScopes: ['notes:admin'] }));
  return file;
}

beforeAll(async () => {
  const adminTool = writeAdminTool();
  stack = await startStack({
    user: 'nobody',
    extra: ({ issuer }) => ({
      identity: { issuer, requiredScopes: ['mcp:tools'] },
      tools: [path.join(ROOT, 'tools/notes.ts'), path.join(ROOT, 'tools/get_note.json'), adminTool],
    }),
  });
  gateway = await startInProcessGateway(stack);
}, 30_000);

afterAll(async () => {
  await gateway?.close();
  await stack?.close();
  rmSync(toolDir, { recursive: true, force: true });
});

async function connect(provider: TestClientProvider): Promise<Client> {
  const mcpUrl = new URL(`${stack.gatewayUrl}/mcp`);
  const clientFetch = withoutRegistrationScope(stack.authServer.registrationEndpoint);
  return (await connectWithOAuth(mcpUrl, provider, clientFetch, 'sdk-e2e')).client;
}

describe('a standard MCP client signs in at the whole gateway', () => {
  it('401, PRM discovery, dynamic registration, PKCE, a token bound to the gateway; then lists and calls tools as itself', async () => {
    const provider = new TestClientProvider({ clientName: 'SDK e2e client' });
    const registrations = stack.authServer.stats.registrations;
    const client = await connect(provider);

    expect(stack.authServer.stats.registrations).toBe(registrations + 1);
    const authorize = provider.authorizations[0];
    expect(authorize?.searchParams.get('resource')).toBe(`${stack.gatewayUrl}/mcp`);
    expect(authorize?.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize?.searchParams.get('code_challenge')).toMatch(/^[\w-]{43}$/);
    expect(authorize?.searchParams.get('scope')).toContain('mcp:tools');
    const access = decodeJwt(provider.saved?.access_token ?? '');
    expect(access.aud).toBe(`${stack.gatewayUrl}/mcp`);
    expect(access.sub).toBe('alice');

    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('list_notes');

    // No notes grant exists for alice yet: the broker looked her up (not KEYWARD_USER "nobody") and found none.
    const result = (await client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
    expect(result.isError).toBe(true);
    const error = (result.structuredContent as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ code: 'reauth_required', reason: 'no_grant', provider: 'notes' });
    await client.close();

    const auditPath = path.join(stack.dir, 'audit.jsonl');
    expect(existsSync(auditPath)).toBe(true);
    const audit = readFileSync(auditPath, 'utf8');
    expect(audit).toContain('"alice"');
    expect(audit).toContain(String(provider.info?.client_id));
    expect(audit).not.toContain('"nobody"');
    expect(audit).not.toContain(provider.saved?.access_token ?? '<none>');
    expect(gateway.logs()).not.toContain(provider.saved?.access_token ?? '<none>');
  }, 30_000);

  it('a missing token gets 401 with a resource_metadata challenge', async () => {
    const res = await fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain(`resource_metadata="${stack.gatewayUrl}/.well-known/oauth-protected-resource/mcp"`);
    expect(challenge).toContain('scope="mcp:tools"');

    const prm = (await (await fetch(`${stack.gatewayUrl}/.well-known/oauth-protected-resource/mcp`)).json()) as Record<
      string,
      unknown
    >;
    expect(prm.resource).toBe(`${stack.gatewayUrl}/mcp`);
    expect(prm.authorization_servers).toEqual([stack.authServer.issuer]);
  });

  it('a foreign Origin gets 403', async () => {
    const res = await fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        origin: 'https://evil.example',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(403);
  });

  it('a tool needing a gateway scope the sign-in lacks: 403 insufficient_scope and a challenge, before the tool runs', async () => {
    const provider = new TestClientProvider({ clientName: 'SDK step-up client' });
    const client = await connect(provider);
    await client.close();
    const token = provider.saved?.access_token ?? '';
    const call = (name: string) =>
      fetch(`${stack.gatewayUrl}/mcp`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'tools/call',
          params: { name, arguments: { id: 'n1' } },
        }),
      });
    const seen = stack.api.seen.length;
    const res = await call('admin_get_note');
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      error: 'insufficient_scope',
      error_description: 'the token lacks scope notes:admin',
    });
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer error="insufficient_scope", /);
    expect(challenge).toContain('scope="mcp:tools notes:admin"');
    expect(challenge).toContain(`resource_metadata="${stack.gatewayUrl}/.well-known/oauth-protected-resource/mcp"`);
    expect(stack.api.seen.length).toBe(seen);
    // The same token may call a tool that needs no gateway scope: the gate is per tool, not per sign-in.
    expect((await call('get_note')).status).toBe(200);
  }, 30_000);
});
