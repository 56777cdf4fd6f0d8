// Per-user isolation through the whole HTTP path: 50 signed-in users call at once, each with their own
// inbound token and their own notes grant, and the notes API only ever sees each caller's own grant.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpExtras } from '../../src/cli/wiring.js';
import { loadConfig } from '../../src/config/load.js';
import { DEMO_CLIENT_ID } from '../../src/demo/authServer.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/log.js';
import { type HttpServerHandle, listenHttp } from '../../src/transports/http.js';
import { obtainTokens } from '../helpers/consent.js';
import { type Stack, startStack } from '../helpers/stack.js';

const USERS = Array.from({ length: 50 }, (_, i) => `user${String(i).padStart(2, '0')}`);

let stack: Stack;
let gateway: Gateway;
let http: HttpServerHandle;
const inboundTokens = new Map<string, string>();

/** Runs `fn` over `items`, `width` at a time (the AS's login pages are not what is under test). */
async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
    }),
  );
}

beforeAll(async () => {
  stack = await startStack({
    store: () => 'memory:',
    extra: ({ issuer }) => ({ identity: { issuer, requiredScopes: ['mcp:tools'] } }),
  });
  const config = await loadConfig(stack.configPath, { ...stack.env });
  const logger = createLogger({ level: 'warn' });
  gateway = await createGateway(config, { logger });
  http = await listenHttp(gateway, await httpExtras(gateway));

  const grants = gateway.grants;
  const redirectUri = `${stack.gatewayUrl}/callback/notes`;
  await pool(USERS, 8, async (user) => {
    const inbound = await obtainTokens({
      issuer: stack.authServer.issuer,
      clientId: DEMO_CLIENT_ID,
      redirectUri,
      user,
      scopes: ['mcp:tools'],
      resource: `${stack.gatewayUrl}/mcp`,
    });
    inboundTokens.set(user, inbound.access_token);
    const notes = await obtainTokens({
      issuer: stack.authServer.issuer,
      clientId: DEMO_CLIENT_ID,
      redirectUri,
      user,
      scopes: ['openid', 'offline_access', 'notes:read', 'notes:write'],
      // The provider's resource as configured (the gateway refreshes for exactly this string).
      resource: config.providers.notes?.resource,
    });
    await grants.saveGrantFromTokens({ user, provider: 'notes', client: DEMO_CLIENT_ID, tokens: notes });
  });
}, 60_000);

afterAll(async () => {
  await http?.close();
  await gateway?.close();
  await stack?.close();
});

async function asUser<T>(user: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const transport = new StreamableHTTPClientTransport(new URL(`${stack.gatewayUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${inboundTokens.get(user)}` } },
  });
  const client = new Client({ name: `isolation-${user}`, version: '0.0.0' });
  await client.connect(transport);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');

describe('50 users calling at once', () => {
  it('every downstream request carries only the caller’s own grant: 0 cross-user calls', async () => {
    stack.api.seen.length = 0;
    const results = await Promise.all(
      USERS.map((user) =>
        asUser(user, async (client) => {
          const created = (await client.callTool({
            name: 'create_note',
            arguments: { title: `from ${user}`, body: `written by ${user}` },
          })) as CallToolResult;
          const listed = (await client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
          return { user, created, listed };
        }),
      ),
    );

    let crossUser = 0;
    for (const { user, created, listed } of results) {
      expect(created.isError, `${user} create_note: ${textOf(created)}`).toBeFalsy();
      expect(listed.isError, `${user} list_notes: ${textOf(listed)}`).toBeFalsy();
      // The API stored the note under the sub of the token it received: the caller's own.
      const own = [...(stack.api.notes.get(user)?.values() ?? [])];
      if (own.length !== 1 || own[0]?.title !== `from ${user}`) crossUser += 1;
      // What list_notes returned is the caller's note and no one else's.
      const text = textOf(listed);
      expect(text).toContain(`from ${user}`);
      for (const other of USERS) if (other !== user && text.includes(`from ${other}"`)) crossUser += 1;
    }
    expect(crossUser).toBe(0);

    // Two downstream requests per user (POST then GET), each presenting that user's notes token and nothing else.
    const seen = stack.api.seen;
    expect(seen).toHaveLength(USERS.length * 2);
    for (const user of USERS) {
      const mine = seen.filter((r) => r.sub === user);
      expect(mine.map((r) => r.method).sort()).toEqual(['GET', 'POST']);
    }
    // No passthrough: the inbound token (audience: the gateway) never reached the API.
    const bare = (u: string) => u.replace(/\/+$/, '');
    for (const r of seen) expect([r.aud].flat().map((a) => bare(String(a)))).toEqual([bare(stack.api.resource)]);
    expect(new Set(seen.map((r) => r.sub)).size).toBe(USERS.length);
    expect(stack.api.notes.size).toBe(USERS.length);
  }, 60_000);
});
