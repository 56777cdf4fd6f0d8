// Two gateway instances behind one public URL, sharing Redis: one signed-in user's calls alternate between
// them with no stickiness (stateless), every call succeeds, and an access-token expiry costs one refresh in all.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpExtras } from '../../src/cli/wiring.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/load.js';
import type { ResolvedConfig } from '../../src/config/types.js';
import { DEMO_CLIENT_ID } from '../../src/demo/authServer.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/log.js';
import { type HttpServerHandle, listenHttp } from '../../src/transports/http.js';
import { obtainTokens } from '../helpers/consent.js';
import { freePort } from '../helpers/ports.js';
import { type RedisService, startRedisOrSkip } from '../helpers/services.js';
import { type Stack, startStack } from '../helpers/stack.js';

const USER = 'alice';

let redis: RedisService | undefined;
let stack: Stack;
const gateways: Gateway[] = [];
const servers: HttpServerHandle[] = [];
/** Where each instance listens; both serve the one public URL (and so the one token audience). */
const instanceUrls: string[] = [];
let inboundToken: string;
/** Shared by both instances, as NTP-synced hosts would be: it moves time past the access token's expiry. */
let offsetMs = 0;
const clock: Clock = { now: () => Date.now() + offsetMs };

beforeAll(async () => {
  redis = await startRedisOrSkip();
  if (!redis) return;
  const url = redis.url;
  stack = await startStack({
    store: () => url,
    extra: ({ issuer }) => ({ identity: { issuer, requiredScopes: ['mcp:tools'] } }),
  });
  const config = await loadConfig(stack.configPath, { ...stack.env });
  const logger = createLogger({ level: 'warn' });
  for (const port of [stack.gatewayPort, await freePort()]) {
    const own: ResolvedConfig = { ...config, server: { ...config.server, port } };
    const gateway = await createGateway(own, { logger, clock });
    gateways.push(gateway);
    const http = await listenHttp(gateway, await httpExtras(gateway));
    servers.push(http);
    instanceUrls.push(`http://127.0.0.1:${port}`);
  }

  const redirectUri = `${stack.gatewayUrl}/callback/notes`;
  const inbound = await obtainTokens({
    issuer: stack.authServer.issuer,
    clientId: DEMO_CLIENT_ID,
    redirectUri,
    user: USER,
    scopes: ['mcp:tools'],
    resource: `${stack.gatewayUrl}/mcp`,
  });
  inboundToken = inbound.access_token;
  const notes = await obtainTokens({
    issuer: stack.authServer.issuer,
    clientId: DEMO_CLIENT_ID,
    redirectUri,
    user: USER,
    scopes: ['openid', 'offline_access', 'notes:read', 'notes:write'],
    resource: config.providers.notes?.resource,
  });
  // Planted through the first instance: the second can only know of it through Redis.
  const [first] = gateways;
  if (!first) throw new Error('no gateway');
  await first.grants.saveGrantFromTokens({ user: USER, provider: 'notes', client: DEMO_CLIENT_ID, tokens: notes });
}, 60_000);

afterAll(async () => {
  for (const s of servers) await s.close();
  for (const g of gateways) await g.close();
  await stack?.close();
  await redis?.stop();
});

/** One call on a fresh client: no session id, no cookie, nothing that could pin it to an instance. */
async function callOn(base: string, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${inboundToken}` } },
  });
  const client = new Client({ name: 'instances-test', version: '0.0.0' });
  await client.connect(transport);
  try {
    return (await client.callTool({ name, arguments: args })) as CallToolResult;
  } finally {
    await client.close();
  }
}

const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
const failures = (results: CallToolResult[]) => results.filter((r) => r.isError).map(textOf);
const refreshes = () => stack.authServer.stats.refreshRequests;
/** Tool calls an instance answered, from its own metrics. */
const callsServed = async (gateway: Gateway) =>
  (await gateway.metrics.toolCalls.get()).values
    .filter((v) => v.metricName === 'keyward_tool_call_seconds_count')
    .reduce((sum, v) => sum + v.value, 0);

describe('two instances sharing Redis, no stickiness', () => {
  it('serve one user alternately: every call succeeds, and one expiry costs one refresh', async (ctx) => {
    if (!redis) ctx.skip();
    const [a, b] = instanceUrls as [string, string];

    // What one instance writes, the other reads: a note created on A is listed on B, and the other way round.
    const before = refreshes();
    const warm: CallToolResult[] = [];
    for (let i = 0; i < 10; i += 1) {
      const base = i % 2 === 0 ? a : b;
      warm.push(await callOn(base, 'create_note', { title: `note ${i}`, body: `via ${base}` }));
      warm.push(await callOn(i % 2 === 0 ? b : a, 'list_notes'));
    }
    expect(failures(warm)).toEqual([]);
    expect(textOf(warm.at(-1) as CallToolResult)).toContain('note 9');
    expect(stack.api.notes.get(USER)?.size).toBe(10);
    // One narrowing refresh per scope set (notes:write, notes:read), shared between the instances.
    const warmRefreshes = refreshes() - before;
    expect(warmRefreshes).toBe(2);

    // Past the access tokens' expiry (the AS issues them for 300 s), both instances at once.
    offsetMs += 10 * 60_000;
    const mid = refreshes();
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => callOn(i % 2 === 0 ? a : b, 'list_notes')));
    expect(failures(burst)).toEqual([]);
    const after: CallToolResult[] = [];
    for (let i = 0; i < 6; i += 1) after.push(await callOn(i % 2 === 0 ? a : b, 'list_notes'));
    expect(failures(after)).toEqual([]);
    expect(refreshes() - mid).toBe(1);
    expect(stack.authServer.stats.refreshReuses).toBe(0);
    expect(new Set(stack.api.seen.map((r) => r.sub))).toEqual(new Set([USER]));
    // Each instance served its half of the 46 calls: none was pinned to one of them.
    expect(await Promise.all(gateways.map(callsServed))).toEqual([23, 23]);
  }, 60_000);
});
