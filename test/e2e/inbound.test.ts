// The whole gateway (the built CLI over HTTP) as an MCP-spec resource server: a standard SDK client signs in
// at the stack's authorization server by the MCP authorization flow alone, then lists and calls tools.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnHttpGateway } from '../helpers/gatewayProcess.js';
import { connectWithOAuth, TestClientProvider, withoutRegistrationScope } from '../helpers/oauthClient.js';
import { type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
let gateway: Awaited<ReturnType<typeof spawnHttpGateway>>;

beforeAll(async () => {
  stack = await startStack({
    user: 'nobody',
    extra: ({ issuer }) => ({ identity: { issuer, requiredScopes: ['mcp:tools'] } }),
  });
  gateway = await spawnHttpGateway(stack);
}, 30_000);

afterAll(async () => {
  await gateway?.stop();
  await stack?.close();
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
});
