// The MCP authorization flow as a standard client runs it: the SDK Client with its OAuth provider, the demo
// authorization server, and a plain express app with the inbound-auth middleware in front of a trivial McpServer.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import express from 'express';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DemoAuthServer, startDemoAuthServer } from '../../src/demo/authServer.js';
import { createInboundAuth, type InboundAuth } from '../../src/identity/middleware.js';
import { callerFromAuthInfo } from '../../src/mcp/auth.js';
import { handleStatelessRequest } from '../../src/mcp/http.js';
import { connectWithOAuth, TestClientProvider, withoutRegistrationScope } from '../helpers/oauthClient.js';

const GATEWAY_SCOPES: Record<string, string[]> = { purge: ['notes:admin'] };

let as: DemoAuthServer;
let server: Server;
let url: string;
let inbound: InboundAuth;

beforeAll(async () => {
  as = await startDemoAuthServer();
  server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  as.addResource({ resource: `${url}/mcp`, scopes: ['mcp', 'notes:admin'] });

  inbound = createInboundAuth({
    identity: {
      issuer: as.issuer,
      userClaim: 'sub',
      requiredScopes: ['mcp'],
      algorithms: ['RS256'],
      clockSkewSeconds: 30,
      accessTokenTyp: 'at+jwt',
    },
    publicUrl: url,
    scopesForTool: (name) => GATEWAY_SCOPES[name],
  });
  const app = express();
  app.use(inbound.metadataRouter);
  const stepUp = inbound.stepUp;
  if (!stepUp) throw new Error('stepUp is set when scopesForTool is given');
  // Stateless, as the gateway runs it: a server and a transport per request, the caller handed over as AuthInfo.
  const newServer = () => {
    const mcp = new McpServer({ name: 'identity-test', version: '0.0.0' });
    const whoami = async (extra: { authInfo?: AuthInfo }) => {
      const caller = callerFromAuthInfo(extra.authInfo);
      if (!caller) throw new Error('no verified caller reached the tool');
      const who = { user: caller.user, client: caller.client, scopes: caller.scopes, token: extra.authInfo?.token };
      return { content: [{ type: 'text' as const, text: JSON.stringify(who) }], structuredContent: who };
    };
    mcp.registerTool('whoami', { description: 'Who is calling' }, whoami);
    mcp.registerTool('purge', { description: 'Needs the notes:admin gateway scope' }, whoami);
    return mcp;
  };
  app.post('/mcp', express.json(), inbound.requireCaller, stepUp, async (req, res) => {
    const caller = inbound.callerOf(req);
    await handleStatelessRequest(newServer, req, res, caller && { caller, resource: inbound.resource });
  });
  server.on('request', app);
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await as?.close();
});

function connect(provider: TestClientProvider) {
  return connectWithOAuth(new URL(`${url}/mcp`), provider, withoutRegistrationScope(as.registrationEndpoint));
}

describe('a standard MCP client signs in by the MCP authorization spec alone', () => {
  const provider = new TestClientProvider();

  it('401, PRM discovery, dynamic registration, PKCE, a token bound to the resource; then lists and calls tools', async () => {
    const registrations = as.stats.registrations;
    const { client } = await connect(provider);

    expect(as.stats.registrations).toBe(registrations + 1);
    const authorize = provider.authorizations[0];
    expect(authorize?.searchParams.get('resource')).toBe(`${url}/mcp`);
    expect(authorize?.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize?.searchParams.get('scope')).toBe('mcp');
    const access = decodeJwt(provider.saved?.access_token ?? '');
    expect(access.aud).toBe(`${url}/mcp`);

    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name).sort()).toEqual(['purge', 'whoami']);
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    expect(result.structuredContent).toEqual({
      user: 'alice',
      client: provider.info?.client_id,
      scopes: ['mcp'],
      token: '',
    });
    await client.close();
  });

  it('a tool needing a gateway scope answers 403, and the client steps up and retries', async () => {
    // SDK 1.32.2 answers a 403 insufficient_scope by refreshing when it holds a refresh token, and a
    // refresh cannot widen scope, so it gives up ("403 after trying upscoping"). A client without
    // one goes back to the authorization server with the challenge's scope, as the spec intends.
    const stepper = new TestClientProvider({ keepRefreshTokens: false });
    const { client, transport } = await connect(stepper);
    const before = stepper.authorizations.length;
    await expect(client.callTool({ name: 'purge', arguments: {} })).rejects.toBeInstanceOf(UnauthorizedError);
    const stepUp = stepper.authorizations[before];
    expect(stepUp?.searchParams.get('scope')?.split(' ').sort()).toEqual(['mcp', 'notes:admin']);

    await transport.finishAuth(stepper.code ?? '');
    const result = await client.callTool({ name: 'purge', arguments: {} });
    expect(result.structuredContent).toMatchObject({ user: 'alice' });
    expect((result.structuredContent as { scopes: string[] }).scopes.sort()).toEqual(['mcp', 'notes:admin']);
    await client.close();
  });

  it('with a refresh token, the SDK client refreshes instead and stops at the 403 (an SDK limitation)', async () => {
    const { client } = await connect(provider);
    await expect(client.callTool({ name: 'purge', arguments: {} })).rejects.toThrow(/403 after trying upscoping/);
    await client.close();
  });
});
