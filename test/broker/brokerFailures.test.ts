// Provider failures against loopback fake token endpoints: stale invalid_grant, 5xx, timeouts, and preset quirks.
import { afterEach, describe, expect, test } from 'vitest';
import type { Grant } from '../../src/broker/types.js';
import { manualClock } from '../../src/clock.js';
import { type FakeHandler, form, json, startFakeServer } from '../providers/fakeServer.js';
import { createHarness, errorOf, type Harness } from './brokerHarness.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const RT1 = 'refresh-token-one-0123456789abcdef';
const RT2 = 'refresh-token-two-0123456789abcdef';
const RT3 = 'refresh-token-three-0123456789abcdef';
const AT = 'access-token-narrowed-0123456789abcdef';

async function setup(
  handler: FakeHandler,
  provider: Record<string, unknown> = {},
  extra: Partial<Parameters<typeof createHarness>[0]> = {},
) {
  const s = await startFakeServer(handler);
  const h = await createHarness({
    store: 'memory:',
    provider: {
      tokenEndpoint: `${s.url}/token`,
      authorizationEndpoint: `${s.url}/authorize`,
      clientId: 'client-1',
      clientSecret: { env: 'TEST_CLIENT_SECRET' },
      scopes: ['a', 'b'],
      apiBaseUrl: s.url,
      resource: 'https://api.example.test/',
      ...provider,
    },
    ...extra,
  });
  cleanup.push(
    () => s.close(),
    () => h.close(),
  );
  const grant = await h.grants.saveGrantFromTokens({
    user: 'demo',
    provider: 'notes',
    client: 'agent',
    tokens: { refresh_token: RT1, scope: 'a b' },
  });
  return { s, h, grant };
}

function refreshes(s: { seen: Array<{ form: URLSearchParams }> }) {
  return s.seen.filter((r) => r.form.get('grant_type') === 'refresh_token');
}

function noSecretsIn(h: Harness) {
  const logs = h.lines.join('\n');
  for (const v of [RT1, RT2, RT3, AT, 'test-client-secret-value']) expect(logs).not.toContain(v);
}

describe('a stale invalid_grant', () => {
  test('does not mark a grant that a newer refresh replaced: the newer token is used', async () => {
    let h!: Harness;
    const {
      s,
      h: harness,
      grant,
    } = await setup(async (req, res) => {
      const rt = req.form.get('refresh_token');
      if (rt === RT1) {
        // Another instance (without our lock) rotated RT1 -> RT2 just before the AS answered us.
        const g = (await h.store.getGrant('demo', 'notes'))!;
        // That instance read the grant before our claim was written.
        const { refreshing: _claim, ...read } = g;
        await h.store.putGrant(
          {
            ...read,
            refreshTokenEnc: await h.cipher.encrypt(RT2, { user: 'demo', provider: 'notes' }),
            generation: g.generation + 1,
          },
          { expect: { generation: g.generation } },
        );
        return json(res, 400, { error: 'invalid_grant' });
      }
      if (rt === RT2) return json(res, 200, { access_token: AT, refresh_token: RT3, expires_in: 300, scope: 'a' });
      json(res, 400, { error: 'invalid_grant' });
    });
    h = harness;
    const cred = await h.broker.credentialFor(h.request(['a']));
    expect(cred.meta).toMatchObject({ narrowed: true, scopes: ['a'], generation: grant.generation + 2 });
    const after = (await h.store.getGrant('demo', 'notes'))!;
    expect(after.status).toBe('active');
    expect(await h.cipher.decrypt(after.refreshTokenEnc!, { user: 'demo', provider: 'notes' })).toBe(RT3);
    expect(refreshes(s).map((r) => r.form.get('refresh_token'))).toEqual([RT1, RT2]);
    noSecretsIn(h);
  });

  test('marks needs_reauth when the rejected token is still the current one, and keeps the grant', async () => {
    const { h } = await setup((_req, res) =>
      json(res, 400, { error: 'invalid_grant', error_description: 'grant request is invalid' }),
    );
    const err = await errorOf(h.broker.credentialFor(h.request(['a'])));
    expect(err).toMatchObject({
      code: 'reauth_required',
      details: { reason: 'invalid_grant', provider: 'notes', scopes: ['a'] },
    });
    expect(await h.store.getGrant('demo', 'notes')).toMatchObject({ status: 'needs_reauth', reason: 'invalid_grant' });
    expect(await h.grants.listGrants()).toHaveLength(1);
  });
});

describe('the broker log', () => {
  test('names the error code of a call that got no credential (not redacted as an authorization code)', async () => {
    const { h } = await setup((_req, res) => json(res, 400, { error: 'invalid_grant' }));
    await errorOf(h.broker.credentialFor(h.request(['a'], { callId: 'call-logged' })));
    const line = h.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.callId === 'call-logged');
    expect(line).toMatchObject({
      msg: 'no credential for call',
      errorCode: 'reauth_required',
      reason: 'invalid_grant',
    });
  });
});

describe('provider failures never touch the grant', () => {
  async function expectUntouched(h: Harness, before: Grant | undefined) {
    expect(await h.store.getGrant('demo', 'notes')).toEqual(before);
  }

  test('a refreshed credential that cannot be shared through the store still serves the call', async () => {
    const { s, h } = await setup((_req, res) =>
      json(res, 200, { access_token: AT, refresh_token: RT2, expires_in: 300, scope: 'a' }),
    );
    const setRecord = h.store.setRecord.bind(h.store);
    h.store.setRecord = (async (key: string, value: unknown, ttl?: number) => {
      if (key.startsWith('cred:')) throw new Error('store write failed');
      return setRecord(key, value, ttl);
    }) as typeof h.store.setRecord;
    const cred = await h.broker.credentialFor(h.request(['a']));
    expect(cred.authorizationHeader()).toBe(`Bearer ${AT}`);
    expect((await h.broker.credentialFor(h.request(['a']))).meta.id).toBe(cred.meta.id);
    expect(refreshes(s)).toHaveLength(1);
    const g = (await h.store.getGrant('demo', 'notes'))!;
    expect(await h.cipher.decrypt(g.refreshTokenEnc!, { user: 'demo', provider: 'notes' })).toBe(RT2);
    noSecretsIn(h);
  });

  test('5xx: provider_unavailable at once with the hold as retryAfterSeconds; the answer is not retried', async () => {
    const { s, h } = await setup((_req, res) => json(res, 503, { error: 'temporarily_unavailable' }));
    const before = await h.store.getGrant('demo', 'notes');
    const err = await errorOf(h.broker.credentialFor(h.request(['a'])));
    expect(err).toMatchObject({
      code: 'provider_unavailable',
      retryable: true,
      details: { provider: 'notes', retryAfterSeconds: 2 },
    });
    // The provider said "later": the gateway holds back (test/providers/outages.test.ts) instead of retrying.
    expect(refreshes(s)).toHaveLength(1);
    await expectUntouched(h, before);
  });

  test('a Retry-After beyond the budget stops retrying and is passed on', async () => {
    const { s, h } = await setup((_req, res) => json(res, 429, {}, { 'retry-after': '120' }));
    const before = await h.store.getGrant('demo', 'notes');
    expect(await errorOf(h.broker.credentialFor(h.request(['a'])))).toMatchObject({
      code: 'provider_unavailable',
      details: { retryAfterSeconds: 120 },
    });
    expect(refreshes(s)).toHaveLength(1);
    await expectUntouched(h, before);
  });

  // Promise 6: a request that may have been processed is never sent again, by this call or a later one.
  for (const mode of ['hang', 'html'] as const) {
    test(`${mode === 'hang' ? 'a timeout' : 'a malformed 200 body'} is provider_unavailable once, then reauth: the token is never presented again`, async () => {
      const { s, h } = await setup(
        (_req, res) => {
          if (mode === 'hang') return new Promise(() => {});
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end('<html>maintenance</html>');
        },
        {},
        { providerTimeoutMs: 150 },
      );
      const before = (await h.store.getGrant('demo', 'notes'))!;
      expect(await errorOf(h.broker.credentialFor(h.request(['a'])))).toMatchObject({ code: 'provider_unavailable' });
      // Claimed before it was sent, and the claim stays: the server may have rotated the token.
      expect(await h.store.getGrant('demo', 'notes')).toMatchObject({
        generation: before.generation,
        refreshTokenEnc: before.refreshTokenEnc,
        refreshing: { holder: expect.any(String) },
      });
      expect(await errorOf(h.broker.credentialFor(h.request(['a'])))).toMatchObject({
        code: 'reauth_required',
        details: { reason: 'refresh_interrupted', provider: 'notes' },
      });
      expect(refreshes(s)).toHaveLength(1);
      expect(await h.store.getGrant('demo', 'notes')).toMatchObject({
        status: 'needs_reauth',
        reason: 'refresh_interrupted',
        generation: before.generation + 1,
      });
      expect(await h.counter('refreshTokensLost')).toBe(1);
      expect(h.lines.join('')).toContain('a refresh token was lost');
      noSecretsIn(h);
    });
  }

  test('recovers on the next call once the provider is back', async () => {
    let up = false;
    const clock = manualClock(Date.now());
    const { h } = await setup(
      (_req, res) =>
        up ? json(res, 200, { access_token: AT, refresh_token: RT2, expires_in: 300 }) : json(res, 502, {}),
      {},
      { clock },
    );
    expect(await errorOf(h.broker.credentialFor(h.request(['a'])))).toMatchObject({
      code: 'provider_unavailable',
      details: { retryAfterSeconds: 2 },
    });
    up = true;
    // Once the hold the 502 started has passed.
    clock.advance(2_000);
    await expect(h.broker.credentialFor(h.request(['a']))).resolves.toBeDefined();
  });
});

describe('a provider that echoes a secret in its error', () => {
  test('the error code carries no token or client secret to the agent, the message or the logs', async () => {
    const echoes = [RT1, `refresh_token ${RT1} is not valid`, 'test-client-secret-value', `x_${RT1.slice(0, 24)}`];
    let i = 0;
    const { h } = await setup((_req, res) => json(res, 400, { error: echoes[i++ % echoes.length] }));
    const before = await h.store.getGrant('demo', 'notes');
    for (const _ of echoes) {
      const err = (await errorOf(h.broker.credentialFor(h.request(['a'])))) as Error & {
        toPayload(): unknown;
        details: { internal?: string };
      };
      expect(err).toMatchObject({ code: 'provider_unavailable' });
      const seen = [JSON.stringify(err.toPayload()), err.message, err.details.internal ?? ''].join('\n');
      for (const secret of [RT1, RT1.slice(0, 24), 'test-client-secret-value']) expect(seen).not.toContain(secret);
    }
    expect(await h.store.getGrant('demo', 'notes')).toEqual(before);
    const logs = h.lines.join('\n');
    expect(logs).not.toContain(RT1.slice(0, 24));
    noSecretsIn(h);
  });
});

describe('presets through the broker', () => {
  test('github: the grant token, narrowed: false, for the API host; bad_refresh_token (HTTP 200) is a reauth', async () => {
    let dead = false;
    const { s, h } = await setup(
      (req, res) => {
        if (dead) return form(res, 200, { error: 'bad_refresh_token' });
        const body = { access_token: AT, refresh_token: RT2, expires_in: '28800', token_type: 'bearer' };
        if (req.headers.accept?.includes('application/json')) json(res, 200, body);
        else form(res, 200, body);
      },
      { preset: 'github', scopes: [], resource: undefined },
    );
    const results = await Promise.all(Array.from({ length: 20 }, () => h.broker.credentialFor(h.request([]))));
    expect(refreshes(s)).toHaveLength(1);
    expect(refreshes(s)[0]!.form.has('scope')).toBe(false);
    expect(results[0]!.meta).toMatchObject({ narrowed: false, audience: s.url, strategy: 'refresh' });
    expect(results[0]!.authorizationHeader()).toBe(`Bearer ${AT}`);
    // Its token is kept on the grant (encrypted), so other processes reuse it.
    const g = (await h.store.getGrant('demo', 'notes'))!;
    expect(g.accessTokenExpiresAt).toBeGreaterThan(Date.now() + 28_000_000);
    dead = true;
    const err = await errorOf(h.broker.afterUnauthorized(h.request([]), results[0]!));
    expect(err).toMatchObject({ code: 'reauth_required', details: { reason: 'invalid_grant' } });
    expect(await h.store.getGrant('demo', 'notes')).toMatchObject({ status: 'needs_reauth' });
    noSecretsIn(h);
  });

  test('slack: ok:false invalid_refresh_token with HTTP 200 is a reauth', async () => {
    const { h } = await setup((_req, res) => json(res, 200, { ok: false, error: 'invalid_refresh_token' }), {
      preset: 'slack',
      resource: undefined,
    });
    expect(await errorOf(h.broker.credentialFor(h.request(['a'])))).toMatchObject({
      code: 'reauth_required',
      details: { reason: 'invalid_grant' },
    });
  });

  test('slack: any other ok:false is not a verdict on the grant', async () => {
    const { h } = await setup((_req, res) => json(res, 200, { ok: false, error: 'invalid_client_id' }), {
      preset: 'slack',
      resource: undefined,
    });
    const before = await h.store.getGrant('demo', 'notes');
    expect(await errorOf(h.broker.credentialFor(h.request(['a'])))).toMatchObject({ code: 'provider_unavailable' });
    expect(await h.store.getGrant('demo', 'notes')).toEqual(before);
  });
});
