// The whole gateway (the built CLI over HTTP) as an MCP-spec resource server: a standard SDK client signs in
// at the stack's authorization server by the MCP authorization flow alone, then lists and calls tools.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type OAuthClientProvider, UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driveAuthorization } from '../helpers/consent.js';
import { spawnHttpGateway } from '../helpers/gatewayProcess.js';
import { type Stack, startStack } from '../helpers/stack.js';

const REDIRECT = 'http://127.0.0.1:33333/oauth/callback';

/** An MCP client's OAuth state, with the "browser" played by driveAuthorization. */
class TestClientProvider implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier?: string;
  code?: string;
  authorizations: URL[] = [];

  get redirectUrl() {
    return REDIRECT;
  }
  get clientMetadata(): OAuthClientMetadata {
    return {
      redirect_uris: [REDIRECT],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_name: 'SDK e2e client',
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  async redirectToAuthorization(url: URL) {
    this.authorizations.push(url);
    const { location } = await driveAuthorization(url.href, { user: 'alice', stopAt: REDIRECT });
    this.code = new URL(location).searchParams.get('code') ?? undefined;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    if (!this.verifier) throw new Error('no code verifier saved');
    return this.verifier;
  }
}

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

/**
 * The SDK client puts the resolved scope into its registration request, and the demo AS refuses
 * registration scopes outside its OIDC ones (resource scopes are per resource): drop `scope` there only.
 */
const clientFetch: typeof fetch = async (input, init) => {
  const target = input instanceof Request ? input.url : String(input);
  if (target === stack.authServer.registrationEndpoint && typeof init?.body === 'string') {
    const { scope: _dropped, ...metadata } = JSON.parse(init.body) as Record<string, unknown>;
    return fetch(input, { ...init, body: JSON.stringify(metadata) });
  }
  return fetch(input, init);
};

async function connect(provider: TestClientProvider): Promise<Client> {
  const mcpUrl = new URL(`${stack.gatewayUrl}/mcp`);
  const open = async () => {
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: clientFetch });
    const client = new Client({ name: 'sdk-e2e', version: '0.0.0' });
    await client.connect(transport);
    return client;
  };
  try {
    return await open();
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: clientFetch });
    await transport.finishAuth(provider.code ?? '');
    return open();
  }
}

describe('a standard MCP client signs in at the whole gateway', () => {
  it('401, PRM discovery, dynamic registration, PKCE, a token bound to the gateway; then lists and calls tools as itself', async () => {
    const provider = new TestClientProvider();
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
