// Three built `keyward serve` processes over stdio (three MCP clients, each spawning its own gateway, as
// Claude Desktop and another client do) sharing one store: a burst of calls after each access-token
// expiry costs exactly one refresh at the authorization server, and it never sees a refresh token twice.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { DEMO_CLIENT_ID } from '../../src/demo/authServer.js';
import { createGateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/log.js';
import { collect } from '../helpers/canary.js';
import { obtainTokens } from '../helpers/consent.js';
import { postgresOrSkip, startRedisOrSkip } from '../helpers/services.js';
import { CLI, childEnv, type Stack, startStack } from '../helpers/stack.js';

const PROCESSES = 3;
const CALLS_PER_PROCESS = 30;
/** The broker stops handing out a credential 30 s before it expires: a 31 s token is stale after ~1 s. */
const ACCESS_TOKEN_TTL = 31;

interface Backend {
  name: string;
  url: (dir: string) => Promise<string | undefined>;
  stop?: () => Promise<void>;
}

const stops: Array<() => Promise<void>> = [];
const backends: Backend[] = [
  { name: 'the embedded sqlite file', url: async () => 'sqlite:keyward.db' },
  {
    name: 'Redis',
    url: async () => {
      const redis = await startRedisOrSkip();
      if (redis) stops.push(() => redis.stop());
      return redis?.url;
    },
  },
  {
    name: 'Postgres',
    url: async () => {
      const pg = await postgresOrSkip();
      if (pg) stops.push(() => pg.stop());
      return pg?.url;
    },
  },
];

afterAll(async () => {
  for (const stop of stops) await stop();
});

describe.each(backends)('three gateway processes sharing $name', (backend) => {
  let stack: Stack | undefined;
  const clients: Client[] = [];
  const stderr: string[] = [];

  beforeAll(async () => {
    const storeUrl = await backend.url('');
    if (!storeUrl) return;
    stack = await startStack({ store: () => storeUrl, accessTokenTTL: ACCESS_TOKEN_TTL });
    const config = await loadConfig(stack.configPath, { ...stack.env });

    // The user's grant, made the way onboarding makes it, stored by a gateway that then goes away.
    const gateway = await createGateway(config, { logger: createLogger({ level: 'warn' }) });
    const tokens = await obtainTokens({
      issuer: stack.authServer.issuer,
      clientId: DEMO_CLIENT_ID,
      redirectUri: `${stack.gatewayUrl}/callback/notes`,
      user: 'demo',
      scopes: ['openid', 'offline_access', 'notes:read', 'notes:write', 'notes:delete'],
      resource: config.providers.notes?.resource,
    });
    await gateway.grants.saveGrantFromTokens({ user: 'demo', provider: 'notes', client: DEMO_CLIENT_ID, tokens });
    await gateway.close();

    for (let i = 0; i < PROCESSES; i++) {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'serve', '--config', stack.configPath],
        env: childEnv(stack, { KEYWARD_LOG_LEVEL: 'info' }),
        stderr: 'pipe',
      });
      const index = stderr.push('') - 1;
      transport.stderr?.on('data', (d: Buffer) => {
        stderr[index] += d.toString();
      });
      const client = new Client({ name: `client-${i}`, version: '1' });
      await client.connect(transport);
      clients.push(client);
    }
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) await c.close();
    for (const [i, text] of stderr.entries()) collect(`gateway process ${i} stderr`, text);
    await stack?.close();
  });

  /** Every process fires its calls at once; returns how many succeeded and what the AS saw meanwhile. */
  async function burst() {
    const as = stack!.authServer.stats;
    const before = { refreshes: as.refreshRequests, invalid: as.invalidGrants, revoked: as.revokedGrants };
    const results = await Promise.all(
      clients.flatMap((client) =>
        Array.from(
          { length: CALLS_PER_PROCESS },
          () => client.callTool({ name: 'list_notes', arguments: {} }) as Promise<CallToolResult>,
        ),
      ),
    );
    return {
      ok: results.filter((r) => !r.isError).length,
      firstError: results.find((r) => r.isError)?.structuredContent,
      refreshes: as.refreshRequests - before.refreshes,
      invalidGrants: as.invalidGrants - before.invalid,
      revokedGrants: as.revokedGrants - before.revoked,
    };
  }

  it('costs one refresh per expiry, with no invalid_grant and no revoked grant', async (ctx) => {
    if (!stack) ctx.skip();
    const total = PROCESSES * CALLS_PER_PROCESS;
    for (let round = 0; round < 2; round++) {
      if (round > 0) {
        // Let the shared credential go stale in every process.
        await new Promise((r) => setTimeout(r, 1_500));
      }
      const r = await burst();
      expect(r, JSON.stringify(r)).toMatchObject({
        ok: total,
        refreshes: 1,
        invalidGrants: 0,
        revokedGrants: 0,
      });
    }
    // Every API request was the user's own, and the grant still works afterwards.
    expect(stack!.api.seen.every((s) => s.sub === 'demo')).toBe(true);
    const after = (await clients[0]!.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
    expect(after.isError).toBeFalsy();
  });
});
