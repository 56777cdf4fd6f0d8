// Stateful HTTP sessions (server.stateful): usable by their owner, a 404 for anyone else or an unknown id,
// and URL elicitation over a session. The inbound auth here is a stand-in that names the user in a header;
// the real verifier has its own tests (test/identity) and a whole-gateway test (test/transports/inbound.test.ts).
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { type HttpServerHandle, type InboundAuth, listenHttp } from '../../src/transports/http.js';
import { TEST_ENCRYPTION_KEY } from '../fixtures/invalid-configs.js';
import { freePort } from '../helpers/ports.js';
import { ROOT } from '../helpers/stack.js';

const users = new WeakMap<express.Request, string>();
const headerAuth: InboundAuth = {
  metadataRouter: express.Router(),
  requireCaller: (req, res, next) => {
    const user = req.header('x-test-user');
    if (!user) {
      res.status(401).end();
      return;
    }
    users.set(req, user);
    next();
  },
  resource: 'http://127.0.0.1/mcp',
  callerOf: (req) => {
    const user = users.get(req);
    return user ? { user, client: 'agent', scopes: [], gatewayScopes: [] } : undefined;
  },
};

describe('stateful HTTP sessions', () => {
  let gateway: Gateway;
  let http: HttpServerHandle;
  let mcpUrl: URL;
  const clients: Client[] = [];

  beforeAll(async () => {
    const port = await freePort();
    const config = resolveConfig(
      {
        server: { transport: 'http', port, stateful: true },
        store: 'memory:',
        audit: 'memory:',
        providers: {
          notes: {
            issuer: 'http://127.0.0.1:9',
            clientId: 'keyward-demo',
            scopes: ['notes:read', 'notes:write', 'notes:delete'],
            resource: 'http://127.0.0.1:9/',
            apiBaseUrl: 'http://127.0.0.1:9',
          },
        },
        tools: [path.join(ROOT, 'tools/notes.ts')],
      },
      { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, KEYWARD_USER: 'local' } },
    );
    gateway = await createGateway(config, { logger: pino({ level: 'silent' }) });
    http = await listenHttp(gateway, { inbound: headerAuth });
    mcpUrl = new URL(`${http.url}/mcp`);
  });
  afterAll(async () => {
    for (const c of clients) await c.close();
    await http?.close();
    await gateway?.close();
  });

  async function connect(user: string, capabilities: Record<string, unknown> = {}) {
    const transport = new StreamableHTTPClientTransport(mcpUrl, { requestInit: { headers: { 'x-test-user': user } } });
    const client = new Client({ name: `agent-of-${user}`, version: '1' }, { capabilities });
    await client.connect(transport);
    clients.push(client);
    return { client, transport };
  }

  const rawPost = (headers: Record<string, string>, body: unknown) =>
    fetch(mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('keeps a session across requests for the user who opened it', async () => {
    const { client, transport } = await connect('alice');
    expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await client.listTools()).tools.length).toBe(3);
    const result = await client.callTool({ name: 'list_notes', arguments: {} });
    expect(result.structuredContent).toMatchObject({ error: { code: 'reauth_required', reason: 'no_grant' } });
  });

  it('answers 404 to another user presenting that session id, exactly as to an unknown one', async () => {
    const { transport } = await connect('alice');
    const list = { jsonrpc: '2.0', id: 9, method: 'tools/list' };
    const stolen = await rawPost({ 'x-test-user': 'bob', 'mcp-session-id': String(transport.sessionId) }, list);
    const unknown = await rawPost({ 'x-test-user': 'alice', 'mcp-session-id': 'no-such-session' }, list);
    expect(stolen.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(await stolen.json()).toEqual(await unknown.json());
  });

  it('asks for initialize first when a request has no session', async () => {
    const res = await rawPost({ 'x-test-user': 'alice' }, { jsonrpc: '2.0', id: 1, method: 'tools/list' });
    expect(res.status).toBe(400);
  });

  it('answers malformed JSON with a 400 parse error, not a 500', async () => {
    const res = await rawPost({ 'x-test-user': 'alice' }, '{"jsonrpc":');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: -32700 } });
  });

  it('uses URL elicitation (-32042) over a session whose client declared it', async () => {
    const { client } = await connect('carol', { elicitation: { url: {} } });
    const err = await client.callTool({ name: 'list_notes', arguments: {} }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(ErrorCode.UrlElicitationRequired);
    const url = String(((err as McpError).data as { elicitations: Array<{ url: string }> }).elicitations[0]?.url);
    expect(url.startsWith(`${gateway.config.server.publicUrl}/connect/notes`)).toBe(true);
  });
});
