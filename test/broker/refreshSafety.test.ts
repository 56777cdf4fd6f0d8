// Promise 6 in one process: a rotated token outlives a store outage, an unreadable record spends no token,
// a refresh whose result lost the race to a newer write is fenced out and counted, and a Redis killed mid-refresh loses nothing.
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import type { Grant } from '../../src/broker/types.js';
import { NOTES_SCOPES, startTestAuthServer } from '../helpers/authServer.js';
import { startRedisOrSkip } from '../helpers/services.js';
import { json, startFakeServer } from '../providers/fakeServer.js';
import { createHarness, errorOf } from './brokerHarness.js';

const RT1 = 'refresh-token-one-0123456789abcdef';
const RT2 = 'refresh-token-two-0123456789abcdef';
const AT = 'access-token-narrowed-0123456789abcdef';

const redis = await startRedisOrSkip();
afterAll(async () => {
  await redis?.stop();
});

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(store: string) {
  const s = await startFakeServer((req, res) =>
    req.form.get('refresh_token') === RT1
      ? json(res, 200, { access_token: AT, refresh_token: RT2, expires_in: 300, scope: 'a' })
      : json(res, 400, { error: 'invalid_grant' }),
  );
  const h = await createHarness({
    store,
    provider: {
      tokenEndpoint: `${s.url}/token`,
      authorizationEndpoint: `${s.url}/authorize`,
      clientId: 'client-1',
      clientSecret: { env: 'TEST_CLIENT_SECRET' },
      scopes: ['a', 'b'],
      apiBaseUrl: s.url,
      resource: 'https://api.example.test/',
    },
  });
  cleanup.push(
    () => s.close(),
    () => h.close(),
  );
  const save = (user: string) =>
    h.grants.saveGrantFromTokens({
      user,
      provider: 'notes',
      client: 'agent',
      tokens: { refresh_token: RT1, scope: 'a b' },
    });
  const refreshes = () => s.seen.filter((r) => r.form.get('grant_type') === 'refresh_token');
  const noSecrets = () => {
    const logs = h.lines.join('\n');
    for (const v of [RT1, RT2, AT, 'test-client-secret-value']) expect(logs).not.toContain(v);
  };
  return { s, h, save, refreshes, noSecrets };
}

describe('a rotated token is never dropped while the process lives', () => {
  test('the store fails right after the refresh for longer than a retry window: the call gets its credential, the grant is stored once the store is back', async () => {
    const { h, save, refreshes, noSecrets } = await setup('memory:');
    const before = await save('demo');
    const put = h.store.putGrant.bind(h.store);
    let outageUntil = 0;
    let refused = 0;
    h.store.putGrant = (async (grant: Grant, opts?: Parameters<typeof put>[1]) => {
      // The claim lands; the store then goes away, just as the rotated grant is written.
      if (!grant.refreshing && grant.generation > before.generation) {
        if (outageUntil === 0) outageUntil = Date.now() + 1500;
        if (Date.now() < outageUntil) {
          refused++;
          throw new Error('store outage');
        }
      }
      return put(grant, opts);
    }) as typeof h.store.putGrant;
    const cred = await h.broker.credentialFor(h.request(['a']));
    expect(cred.authorizationHeader()).toBe(`Bearer ${AT}`);
    // Meanwhile this process serves the rotated grant from memory, and nothing is lost.
    expect((await h.broker.credentialFor(h.request(['a']))).meta.id).toBe(cred.meta.id);
    await expect
      .poll(async () => (await h.store.getGrant('demo', 'notes'))?.generation, { timeout: 10_000 })
      .toBe(before.generation + 1);
    const stored = (await h.store.getGrant('demo', 'notes'))!;
    expect(stored.refreshing).toBeUndefined();
    expect(await h.cipher.decrypt(stored.refreshTokenEnc!, { user: 'demo', provider: 'notes' })).toBe(RT2);
    expect(refused).toBeGreaterThan(3);
    expect(refreshes()).toHaveLength(1);
    expect(await h.counter('refreshTokensLost')).toBe(0);
    noSecrets();
  });
});

describe('a record that cannot be read', () => {
  test('answers reauth_required for that user only, spends no token, and leaves listings alone', async () => {
    const { h, save, refreshes, noSecrets } = await setup('sqlite');
    await save('demo');
    const eve = await save('eve');
    // Bad data from outside: an unknown status, written past the store's checks.
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(`${h.dir}/keyward.db`);
    try {
      db.prepare('UPDATE keyward_store SET value = ? WHERE key LIKE ?').run(
        JSON.stringify({ value: { ...eve, status: 'enabled' } }),
        '%:eve:notes',
      );
    } finally {
      db.close();
    }
    expect(await errorOf(h.broker.credentialFor(h.request(['a'], { user: 'eve' })))).toMatchObject({
      code: 'reauth_required',
      details: { reason: 'unreadable_record', provider: 'notes' },
    });
    expect(refreshes()).toHaveLength(0);
    await expect(h.broker.credentialFor(h.request(['a']))).resolves.toBeDefined();
    expect((await h.grants.listGrants()).map((g) => g.user)).toEqual(['demo']);
    expect(h.lines.join('')).toContain('"status":"quarantined"');
    noSecrets();
  });
});

describe('a refresh result that lost the race', () => {
  test('is fenced out by the newer write and counted, never written over it', async () => {
    const { h, save, noSecrets } = await setup('memory:');
    const before = await save('demo');
    const put = h.store.putGrant.bind(h.store);
    let newer: Grant | undefined;
    h.store.putGrant = (async (grant: Grant, opts?: Parameters<typeof put>[1]) => {
      if (!grant.refreshing && grant.generation > before.generation && !newer) {
        // A revocation (under its own lock, after this holder's lease lapsed) lands first.
        const current = (await h.store.getGrant('demo', 'notes'))!;
        newer = { ...current, status: 'revoked', reason: 'revoked_by_user', generation: current.generation + 1 };
        delete newer.refreshing;
        await put(newer, { expect: { generation: current.generation } });
      }
      return put(grant, opts);
    }) as typeof h.store.putGrant;
    await h.broker.credentialFor(h.request(['a']));
    expect(await h.store.getGrant('demo', 'notes')).toEqual(newer);
    expect(await h.counter('refreshTokensLost')).toBe(1);
    expect(h.lines.join('')).toContain('"cause":"fenced"');
    noSecrets();
  });
});

describe.skipIf(!redis)('Redis killed inside one refresh', () => {
  test('after the AS answered: no crash, the call gets its credential, and the rotated token is stored once Redis is back', async () => {
    const t = await startTestAuthServer({ accessTokenTTL: 300 });
    cleanup.push(() => t.close());
    let outage: Promise<void> | undefined;
    const h = await createHarness({
      store: redis!.url,
      provider: {
        issuer: t.issuer,
        clientId: t.clientId,
        scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
        strategy: 'refresh',
        resource: t.resource,
        apiBaseUrl: t.api.url,
      },
      options: {
        fault: async (point) => {
          if (point !== 'after_answer' || outage) return;
          await redis!.stop();
          // Back (empty: it persists nothing) 2.5 s later, well past the old 300 ms retry window.
          outage = new Promise((r) => setTimeout(r, 2500)).then(() => redis!.start());
        },
      },
    });
    cleanup.push(() => h.close());
    const before = await h.grants.saveGrantFromTokens({
      user: 'demo',
      provider: 'notes',
      client: 'agent',
      tokens: await t.grant(),
    });
    t.as.resetStats();
    const cred = await h.broker.credentialFor(h.request(['notes:read']));
    expect(cred.meta.generation).toBe(before.generation + 1);
    await outage;
    await expect
      .poll(async () => (await h.store.getGrant('demo', 'notes').catch(() => undefined))?.generation, {
        timeout: 15_000,
      })
      .toBe(before.generation + 1);
    // The stored token is the rotated one: the next refresh (another scope set) works, and nothing was reused.
    await expect(h.broker.credentialFor(h.request(['notes:write']))).resolves.toBeDefined();
    expect(t.as.stats).toMatchObject({ refreshReuses: 0, revokedGrants: 0, refreshSuccesses: 2 });
    expect(await h.counter('refreshTokensLost')).toBe(0);
  }, 60_000);
});
