// Token endpoint outages through the broker: each answers a structured error within the call's deadline, grants intact, no refresh token sent twice.
import { afterEach, describe, expect, test } from 'vitest';
import type { Grant } from '../../src/broker/types.js';
import { type Clock, manualClock } from '../../src/clock.js';
import { resolveConfig } from '../../src/config/load.js';
import { createProviderRegistry } from '../../src/providers/registry.js';
import { createProviderRuntime } from '../../src/providers/runtime.js';
import { TokenEndpointError } from '../../src/providers/types.js';
import { createHarness, errorOf, type Harness } from '../broker/brokerHarness.js';
import { type FakeHandler, json, startFakeServer } from './fakeServer.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const RT1 = 'outage-refresh-token-one-0123456789';
const RT2 = 'outage-refresh-token-two-0123456789';
const AT = 'outage-access-token-0123456789abcdef';
const GOOD = { access_token: AT, refresh_token: RT2, expires_in: 300, scope: 'a' };
const never = () => new Promise<void>(() => {});

async function setup(handler: FakeHandler, extra: { clock?: Clock; providerTimeoutMs?: number } = {}) {
  const s = await startFakeServer(handler);
  let attempts = 0;
  const counting: typeof fetch = (input, init) => {
    attempts++;
    return fetch(input, init);
  };
  const h = await createHarness({
    store: 'memory:',
    provider: {
      tokenEndpoint: `${s.url}/token`,
      authorizationEndpoint: `${s.url}/authorize`,
      clientId: 'client-1',
      clientSecret: { env: 'TEST_CLIENT_SECRET' },
      scopes: ['a', 'b'],
      apiBaseUrl: 'http://127.0.0.1:9',
      resource: 'https://api.example.test/',
    },
    fetch: counting,
    ...extra,
  });
  cleanup.push(
    () => s.close(),
    () => h.close(),
  );
  await h.grants.saveGrantFromTokens({
    user: 'demo',
    provider: 'notes',
    client: 'agent',
    tokens: { refresh_token: RT1, scope: 'a b' },
  });
  const before = (await h.store.getGrant('demo', 'notes')) as Grant;
  return {
    s,
    h,
    before,
    attempts: () => attempts,
    /** The refresh tokens the authorization server was shown, in order. */
    presented: () =>
      s.seen.filter((r) => r.form.get('grant_type') === 'refresh_token').map((r) => r.form.get('refresh_token')),
  };
}

async function failedCall(h: Harness, signal?: AbortSignal) {
  const started = performance.now();
  const err = (await errorOf(h.broker.credentialFor(h.request(['a'], signal ? { signal } : {})))) as Error & {
    code?: string;
    retryable?: boolean;
    details?: Record<string, unknown>;
    toPayload(): Record<string, unknown>;
  };
  return { err, ms: performance.now() - started, payload: err.toPayload() };
}

async function expectIntact(h: Harness, before: Grant) {
  expect(await h.store.getGrant('demo', 'notes')).toEqual(before);
}

/**
 * The grant keeps its generation and token, and the claim written before the token was sent stays:
 * the server may have rotated it, so the next holder asks for reauth instead of sending it again.
 */
async function expectClaimed(h: Harness, before: Grant) {
  const { refreshing, ...rest } = (await h.store.getGrant('demo', 'notes'))!;
  expect(rest).toEqual(before);
  expect(refreshing).toMatchObject({ holder: expect.any(String) });
}

describe('the authorization server down', () => {
  test('connection refused: provider_unavailable at once, retried only because nothing was sent', async () => {
    const t = await setup((_req, res) => json(res, 200, GOOD));
    await t.s.close();
    const { err, ms } = await failedCall(t.h);
    expect(err).toMatchObject({ code: 'provider_unavailable', retryable: true, details: { provider: 'notes' } });
    expect(ms).toBeLessThan(2_000);
    // Refused connections carry no token: the bounded retry may try again.
    expect(t.attempts()).toBe(3);
    await expectIntact(t.h, t.before);
  });
});

describe('a request that may have been processed is never sent again', () => {
  test('slow past the token request timeout: one presentation of the refresh token', async () => {
    const t = await setup(never, { providerTimeoutMs: 200 });
    const { err, ms } = await failedCall(t.h);
    expect(err).toMatchObject({ code: 'provider_unavailable', retryable: true });
    expect(ms).toBeLessThan(2_000);
    expect(t.presented()).toEqual([RT1]);
    await expectClaimed(t.h, t.before);
  });

  test("slow past the call's deadline: the call ends at its deadline, one presentation", async () => {
    const t = await setup(never, { providerTimeoutMs: 30_000 });
    const deadline = AbortSignal.timeout(300);
    const started = performance.now();
    const err = await errorOf(t.h.broker.credentialFor(t.h.request(['a'], { signal: deadline })));
    // The broker ends the call with the deadline's own reason; the call pipeline reports it as a timeout.
    expect(err).toBe(deadline.reason);
    expect(performance.now() - started).toBeLessThan(2_000);
    // The abandoned request is not sent again behind the caller's back.
    await new Promise((r) => setTimeout(r, 100));
    expect(t.presented()).toEqual([RT1]);
    await expectClaimed(t.h, t.before);
  });

  test('the connection cut after the request was sent: one presentation', async () => {
    const t = await setup((_req, res) => void res.socket?.destroy());
    const { err } = await failedCall(t.h);
    expect(err).toMatchObject({ code: 'provider_unavailable' });
    expect(t.presented()).toEqual([RT1]);
    await expectClaimed(t.h, t.before);
  });

  test('the connection cut in the middle of a 200: one presentation', async () => {
    const t = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"access_token":"outage-');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { err } = await failedCall(t.h);
    expect(err).toMatchObject({ code: 'provider_unavailable' });
    expect(t.presented()).toEqual([RT1]);
    await expectClaimed(t.h, t.before);
  });

  test('malformed JSON in a 200: one presentation, provider_unavailable', async () => {
    const t = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"access_token": "outage-access-token-0123456789abcdef", "refresh_token": ');
    });
    const { err, payload } = await failedCall(t.h);
    expect(err).toMatchObject({ code: 'provider_unavailable' });
    expect(JSON.stringify(payload)).not.toContain('outage-');
    expect(t.presented()).toEqual([RT1]);
    await expectClaimed(t.h, t.before);
  });
});

describe("a provider's wait holds back the gateway's own token requests", () => {
  test('503 with Retry-After: 30: no token request until it passes, each call answered at once', async () => {
    const clock = manualClock(Date.now());
    let up = false;
    const t = await setup((_req, res) => (up ? json(res, 200, GOOD) : json(res, 503, {}, { 'retry-after': '30' })), {
      clock,
    });
    const first = await failedCall(t.h);
    expect(first.payload).toMatchObject({ code: 'provider_unavailable', retryable: true, retryAfterSeconds: 30 });
    for (let i = 0; i < 20; i++) {
      clock.advance(1_000);
      const { payload, ms } = await failedCall(t.h);
      expect(payload).toMatchObject({ code: 'provider_unavailable', retryAfterSeconds: 30 - (i + 1) });
      expect(ms).toBeLessThan(1_500);
    }
    expect(t.s.seen).toHaveLength(1);
    up = true;
    clock.advance(9_000);
    expect((await failedCall(t.h)).payload).toMatchObject({ retryAfterSeconds: 1 });
    expect(t.s.seen).toHaveLength(1);
    clock.advance(1_000);
    const cred = await t.h.broker.credentialFor(t.h.request(['a']));
    expect(cred.authorizationHeader()).toBe(`Bearer ${AT}`);
    expect(t.presented()).toEqual([RT1, RT1]);
  });

  test('5xx without Retry-After: a short default hold, doubling while it lasts, reset by a success', async () => {
    const clock = manualClock(Date.now());
    let status = 502;
    const t = await setup((_req, res) => (status === 200 ? json(res, 200, GOOD) : json(res, status, {})), { clock });
    expect((await failedCall(t.h)).payload).toMatchObject({ code: 'provider_unavailable', retryAfterSeconds: 2 });
    expect((await failedCall(t.h)).payload).toMatchObject({ retryAfterSeconds: 2 });
    expect(t.s.seen).toHaveLength(1);
    await expectIntact(t.h, t.before);
    clock.advance(2_000);
    expect((await failedCall(t.h)).payload).toMatchObject({ retryAfterSeconds: 4 });
    expect(t.s.seen).toHaveLength(2);
    clock.advance(4_000);
    status = 200;
    await t.h.broker.credentialFor(t.h.request(['a']));
    expect(t.s.seen).toHaveLength(3);
  });

  test('an HTML error page (500): provider_unavailable, held, nothing of the page passed on', async () => {
    const clock = manualClock(Date.now());
    const t = await setup(
      (_req, res) => {
        res.writeHead(500, { 'content-type': 'text/html' });
        res.end('<html><body><h1>Internal Server Error</h1><p>upstream sick</p></body></html>');
      },
      { clock },
    );
    const { err, payload } = await failedCall(t.h);
    expect(err).toMatchObject({ code: 'provider_unavailable' });
    expect(payload.retryAfterSeconds).toBe(2);
    expect(JSON.stringify(payload)).not.toMatch(/html|upstream/i);
    expect(t.presented()).toEqual([RT1]);
    await expectIntact(t.h, t.before);
  });

  test('per provider: one provider held back does not hold another', async () => {
    const clock = manualClock(Date.now());
    const busy = await startFakeServer((_req, res) => json(res, 429, { error: 'slow_down' }, { 'retry-after': '60' }));
    const fine = await startFakeServer((_req, res) => json(res, 200, GOOD));
    cleanup.push(busy.close, fine.close);
    const provider = (url: string) => ({
      tokenEndpoint: `${url}/token`,
      authorizationEndpoint: `${url}/authorize`,
      clientId: 'client-1',
      scopes: ['a'],
      apiBaseUrl: 'http://127.0.0.1:9',
    });
    const config = resolveConfig(
      {
        server: { publicUrl: 'http://127.0.0.1:9', user: 'demo' },
        store: 'memory:',
        providers: { busy: provider(busy.url), fine: provider(fine.url) },
        tools: [],
        audit: 'memory:',
      },
      { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64url') } },
    );
    const registry = createProviderRegistry(config, { clock });
    await expect(registry.get('busy').refresh(RT1)).rejects.toMatchObject({ retryAfterSeconds: 60 });
    // Another call, the same provider, later: held back before anything is sent.
    clock.advance(59_000);
    await expect(registry.get('busy').refresh(RT1)).rejects.toMatchObject({
      oauthError: 'held_back',
      delivery: 'not_sent',
      retryAfterSeconds: 1,
    });
    await expect(
      registry.get('busy').exchangeCode({ code: 'c', redirectUri: 'http://127.0.0.1:9/cb' }),
    ).rejects.toMatchObject({ oauthError: 'held_back' });
    expect(busy.seen).toHaveLength(1);
    await expect(registry.get('fine').refresh(RT1)).resolves.toMatchObject({ accessToken: AT });
  });
});

describe('what a failed token request tells its caller', () => {
  async function failure(handler: FakeHandler | 'refused', timeoutMs: number) {
    const s = await startFakeServer(handler === 'refused' ? (_req, res) => json(res, 200, GOOD) : handler);
    cleanup.push(s.close);
    if (handler === 'refused') await s.close();
    const rt = createProviderRuntime(
      {
        name: 'p',
        tokenEndpoint: `${s.url}/token`,
        authorizationEndpoint: `${s.url}/authorize`,
        clientId: 'client-1',
        scopes: ['a'],
        strategy: 'refresh',
        apiBaseUrl: 'http://127.0.0.1:9',
      },
      undefined,
      { timeoutMs, clock: manualClock(Date.now()) },
    );
    const results = await Promise.allSettled([
      rt.refresh(RT1),
      rt.exchangeCode({ code: 'code-0123456789abcdef', redirectUri: 'http://127.0.0.1:9/cb' }),
    ]);
    return results.map((r) => {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(TokenEndpointError);
      return err as TokenEndpointError;
    });
  }

  test.each([
    ['refused', 'refused' as const, 'not_sent', 'network_error'],
    ['a timeout', never, 'unknown', 'timeout'],
    ['a cut connection', ((_req, res) => void res.socket?.destroy()) as FakeHandler, 'unknown', 'connection_lost'],
    [
      'an unreadable 200',
      ((_req, res) => json(res, 200, { token: 'x' })) as FakeHandler,
      'unknown',
      'malformed_response',
    ],
    ['a 503', ((_req, res) => json(res, 503, {})) as FakeHandler, 'answered', undefined],
    [
      'invalid_grant',
      ((_req, res) => json(res, 400, { error: 'invalid_grant' })) as FakeHandler,
      'answered',
      'invalid_grant',
    ],
  ])('%s', async (_name, handler, delivery, oauthError) => {
    // Only the timeout case is short: a busy machine must not turn a cut connection into a timeout.
    for (const err of await failure(handler, handler === never ? 200 : 10_000)) {
      expect(err.delivery).toBe(delivery);
      expect(err.maybeProcessed).toBe(delivery === 'unknown');
      if (oauthError) expect(err.oauthError).toBe(oauthError);
    }
  });
});
