// Redis going away mid-task: calls answer store_unavailable (structured and retryable), and the same
// gateway answers from the store again once Redis is back, without a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { DEMO_CLIENT_ID } from '../../src/demo/authServer.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/log.js';
import { obtainTokens } from '../helpers/consent.js';
import { type RedisService, startRedisOrSkip } from '../helpers/services.js';
import { type Stack, startStack } from '../helpers/stack.js';

let redis: RedisService | undefined;
let stack: Stack | undefined;
let gateway: Gateway | undefined;

beforeAll(async () => {
  redis = await startRedisOrSkip();
  if (!redis) return;
  const url = redis.url;
  stack = await startStack({ store: () => url });
  const config = await loadConfig(stack.configPath, { ...stack.env });
  gateway = await createGateway(config, { logger: createLogger({ level: 'silent' }) });
  const tokens = await obtainTokens({
    issuer: stack.authServer.issuer,
    clientId: DEMO_CLIENT_ID,
    redirectUri: `${stack.gatewayUrl}/callback/notes`,
    user: 'demo',
    scopes: ['openid', 'offline_access', 'notes:read'],
    resource: config.providers.notes?.resource,
  });
  await gateway.grants.saveGrantFromTokens({ user: 'demo', provider: 'notes', client: DEMO_CLIENT_ID, tokens });
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await stack?.close();
  await redis?.stop();
});

describe('a Redis outage', () => {
  const caller = { user: 'demo', client: 'outage-test' };

  it('is store_unavailable while it lasts, and the gateway recovers by itself', async (ctx) => {
    if (!gateway || !redis) ctx.skip();
    const gw = gateway!;
    expect((await gw.callTool(caller, 'list_notes', {})).ok).toBe(true);

    await redis!.stop();
    const during = await gw.callTool(caller, 'list_notes', {});
    expect(during).toMatchObject({ ok: false, error: { code: 'store_unavailable', retryable: true } });

    // The test's Redis keeps nothing on disk, so it comes back empty: a store that answers again says
    // no_grant, where a gateway that had not recovered would still say store_unavailable.
    await redis!.start();
    let after = await gw.callTool(caller, 'list_notes', {});
    // The client reconnects in the background; give it a few tries rather than a fixed sleep.
    for (let i = 0; i < 50 && !after.ok && after.error.code === 'store_unavailable'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await gw.callTool(caller, 'list_notes', {});
    }
    expect(after).toMatchObject({ ok: false, error: { code: 'reauth_required', reason: 'no_grant' } });
  });
});
