// The broker against the real demo authorization server (oidc-provider with rotation and reuse revocation).
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { createCredentialBroker } from '../../src/broker/broker.js';
import { createGrantCipher, generateEncryptionKey } from '../../src/broker/crypto.js';
import { NOTES_SCOPES, startTestAuthServer, type TestAuthServer } from '../helpers/authServer.js';
import { claimsOf, createHarness, errorOf, type Harness, tokenOf } from './brokerHarness.js';

let t: TestAuthServer;
beforeAll(async () => {
  t = await startTestAuthServer({ accessTokenTTL: 120 });
});
afterAll(async () => {
  await t?.close();
});

async function harness(
  strategy: 'refresh' | 'exchange' | 'mint',
  over: Parameters<typeof createHarness>[0] extends infer O ? Partial<O> : never = {},
) {
  const h = await createHarness({
    provider: {
      issuer: t.issuer,
      clientId: t.clientId,
      scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
      strategy,
      resource: t.resource,
      apiBaseUrl: t.api.url,
    },
    ...over,
  });
  return h;
}

/** Consents at the AS as `user` and stores the grant, with its access token already expired. */
async function seed(h: Harness, user = 'demo') {
  const tokens = await t.grant({ user });
  const grant = await h.grants.saveGrantFromTokens({ user, provider: 'notes', client: 'test-agent', tokens });
  await h.store.putGrant(
    { ...grant, accessTokenExpiresAt: Date.now() - 1000 },
    { expect: { generation: grant.generation } },
  );
  t.as.resetStats();
  return grant;
}

function noTokensIn(h: Harness) {
  const logs = h.lines.join('\n');
  for (const v of t.as.issued) expect(logs.includes(v), 'a token appeared in the logs').toBe(false);
}

describe('coalescing in one process', () => {
  test('200 concurrent calls on an expired token: one refresh at the AS, 200 successes, the grant still good', async () => {
    const h = await harness('refresh');
    const before = await seed(h);
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, () => h.broker.credentialFor(h.request(['notes:read']))),
    );
    const failed = results.filter((r) => r.status === 'rejected');
    expect(failed).toEqual([]);
    expect(t.as.stats.refreshRequests).toBe(1);
    expect(t.as.stats.invalidGrants).toBe(0);
    const ids = new Set(results.map((r) => (r.status === 'fulfilled' ? r.value.meta.id : '')));
    expect(ids.size).toBe(1);
    const after = await h.store.getGrant('demo', 'notes');
    expect(after).toMatchObject({ id: before.id, status: 'active', generation: before.generation + 1 });
    expect(after!.refreshTokenEnc).not.toBe(before.refreshTokenEnc);
    expect(await h.counter('coalescedWaits')).toBeGreaterThanOrEqual(199);
    // A later refresh with the rotated token works: the grant was not revoked.
    const later = await h.broker.credentialFor(h.request(['notes:write']));
    expect(later.meta.generation).toBe(before.generation + 2);
    expect(t.as.stats).toMatchObject({ refreshRequests: 2, refreshSuccesses: 2, revokedGrants: 0, refreshReuses: 0 });
    noTokensIn(h);
    await h.close();
  });

  test('the test can fail: without coalescing the AS sees reuse and revokes the grant', async () => {
    const h = await harness('refresh', { lockEnabled: false });
    await seed(h);
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => h.broker.credentialFor(h.request(['notes:read']))),
    );
    expect(t.as.stats.refreshRequests).toBeGreaterThan(1);
    expect(t.as.stats.revokedGrants).toBeGreaterThanOrEqual(1);
    const failures = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toMatchObject({ code: 'reauth_required', details: { reason: 'invalid_grant' } });
    await h.close();
  });
});

describe('a credential per call', () => {
  test('refresh: the token the AS issued carries only the tool scopes and the API audience', async () => {
    const h = await harness('refresh');
    await seed(h);
    const cred = await h.broker.credentialFor(h.request(['notes:read']));
    const claims = claimsOf(tokenOf(cred.authorizationHeader()));
    expect(claims.scope).toBe('notes:read');
    expect([claims.aud].flat()).toContain(t.resource);
    expect(cred.meta).toMatchObject({
      strategy: 'refresh',
      narrowed: true,
      scopes: ['notes:read'],
      audience: t.resource,
    });
    expect(JSON.stringify(cred)).not.toContain(tokenOf(cred.authorizationHeader()));
    // The demo API sees the same narrowed token.
    const res = await fetch(`${t.api.url}/notes`, { headers: { authorization: cred.authorizationHeader() } });
    expect(res.status).toBe(200);
    expect(t.api.seen.at(-1)).toMatchObject({ scope: 'notes:read', sub: 'demo' });
    // Cached per scope set: a second call costs no refresh.
    const again = await h.broker.credentialFor(h.request(['notes:read']));
    expect(again.meta.id).toBe(cred.meta.id);
    expect(t.as.stats.refreshRequests).toBe(1);
    await h.close();
  });

  test('exchange: RFC 8693 gives a token with only the tool scopes and act', async () => {
    const h = await harness('exchange');
    await seed(h);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => h.broker.credentialFor(h.request(['notes:write']))),
    );
    const claims = claimsOf(tokenOf(results[0]!.authorizationHeader()));
    expect(claims.scope).toBe('notes:write');
    expect(claims.act).toEqual({ sub: t.clientId });
    expect(claims.aud).toBe(t.resource.replace(/\/$/, ''));
    expect(t.as.stats.refreshRequests).toBe(1);
    expect(t.as.stats.tokenExchanges).toBe(1);
    expect(results[0]!.meta).toMatchObject({ strategy: 'exchange', narrowed: true, scopes: ['notes:write'] });
    const res = await fetch(`${t.api.url}/notes`, {
      method: 'POST',
      headers: { authorization: results[0]!.authorizationHeader(), 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'x', body: 'y' }),
    });
    expect(res.status).toBe(201);
    await h.close();
  });

  test('mint: distinct jti, exact scope, audience, exp - iat <= 60, act.sub = client; key loaded once, stored encrypted', async () => {
    const h = await harness('mint', { publicUrl: 'http://127.0.0.1:8899' });
    await seed(h);
    let keyReads = 0;
    const getRecord = h.store.getRecord.bind(h.store);
    h.store.getRecord = (async (k: string) => {
      if (k === 'signing-key') keyReads++;
      return getRecord(k);
    }) as typeof h.store.getRecord;
    await h.broker.credentialFor(h.request(['notes:read'], { callId: 'warm-up' }));
    keyReads = 0;
    const creds = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        h.broker.credentialFor(
          h.request(['notes:read', 'notes:write'], { callId: `call-mint-${i}`, client: 'claude-desktop' }),
        ),
      ),
    );
    const jwks = createLocalJWKSet(await h.signingKeys.jwks());
    const jtis = new Set<string>();
    for (const [i, c] of creds.entries()) {
      const { payload, protectedHeader } = await jwtVerify(tokenOf(c.authorizationHeader()), jwks, {
        issuer: 'http://127.0.0.1:8899',
        audience: t.resource,
      });
      expect(protectedHeader.alg).toBe('ES256');
      expect(payload).toMatchObject({
        sub: 'demo',
        scope: 'notes:read notes:write',
        act: { sub: 'claude-desktop' },
        jti: `call-mint-${i}`,
      });
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
      jtis.add(payload.jti!);
    }
    expect(jtis.size).toBe(5);
    // Loaded once per process, not per call.
    expect(keyReads).toBe(0);
    const stored = await getRecord<{ privateJwkEnc: string; publicJwk: Record<string, unknown> }>('signing-key');
    expect(stored!.publicJwk.d).toBeUndefined();
    expect(stored!.privateJwkEnc.split('.')).toHaveLength(5);
    // The demo API trusts the gateway's JWKS and sees the claims.
    t.api.trust({ issuer: 'http://127.0.0.1:8899', jwks: await h.signingKeys.jwks() });
    const res = await fetch(`${t.api.url}/notes`, { headers: { authorization: creds[0]!.authorizationHeader() } });
    expect(res.status).toBe(200);
    expect(t.api.seen.at(-1)).toMatchObject({ jti: 'call-mint-0', act: { sub: 'claude-desktop' } });
    expect(t.as.stats.refreshRequests).toBe(0);
    await h.close();
  });

  test('mint still needs the user’s grant', async () => {
    const h = await harness('mint');
    const err = await errorOf(h.broker.credentialFor(h.request(['notes:read'])));
    expect(err).toMatchObject({
      code: 'reauth_required',
      details: { reason: 'no_grant', provider: 'notes', scopes: ['notes:read'] },
    });
    await h.close();
  });
});

describe('grant checks', () => {
  let h: Harness;
  let now = Date.now();
  beforeEach(async () => {
    now = Date.now();
    h = await harness('refresh', { clock: { now: () => now } });
    return () => h.close();
  });

  test('no grant, missing scopes, expired consent', async () => {
    expect(await errorOf(h.broker.credentialFor(h.request(['notes:read'])))).toMatchObject({
      code: 'reauth_required',
      details: { reason: 'no_grant', provider: 'notes', scopes: ['notes:read'] },
    });
    const tokens = await t.grant({ scopes: ['openid', 'offline_access', 'notes:read'] });
    await h.grants.saveGrantFromTokens({ user: 'demo', provider: 'notes', client: 'a', tokens });
    expect(await errorOf(h.broker.credentialFor(h.request(['notes:read', 'notes:delete'])))).toMatchObject({
      code: 'insufficient_scope',
      details: { missingScopes: ['notes:delete'] },
    });
    const g = (await h.store.getGrant('demo', 'notes'))!;
    await h.store.putGrant({ ...g, consentExpiresAt: now - 1 }, { expect: { generation: g.generation } });
    expect(await errorOf(h.broker.credentialFor(h.request(['notes:read'])))).toMatchObject({
      code: 'reauth_required',
      details: { reason: 'consent_expired' },
    });
    // Counted once, by the call path that returns them (test/gateway/toolCall.test.ts), never here too.
    expect(await h.counter('reauthErrors')).toBe(0);
  });

  test('incremental consent: the grant keeps its id and covers the union; consentTtl applies', async () => {
    const h2 = await harness('refresh', {
      clock: { now: () => now },
      provider: {
        issuer: t.issuer,
        clientId: t.clientId,
        scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
        strategy: 'refresh',
        resource: t.resource,
        apiBaseUrl: t.api.url,
        consentTtl: '8h',
      },
    });
    const first = await h2.grants.saveGrantFromTokens({
      user: 'demo',
      provider: 'notes',
      client: 'a',
      tokens: await t.grant({ scopes: ['openid', 'offline_access', 'notes:read'] }),
    });
    const second = await h2.grants.saveGrantFromTokens({
      user: 'demo',
      provider: 'notes',
      client: 'a',
      tokens: await t.grant({ scopes: ['openid', 'offline_access', 'notes:write'] }),
    });
    expect(second.id).toBe(first.id);
    expect(second.generation).toBe(first.generation + 1);
    expect(second.scopes).toEqual(expect.arrayContaining(['notes:read', 'notes:write']));
    expect(second.consentExpiresAt).toBe(now + 8 * 3600_000);
    now += 8 * 3600_000;
    expect(await errorOf(h2.broker.credentialFor(h2.request(['notes:read'])))).toMatchObject({
      details: { reason: 'consent_expired' },
    });
    await h2.close();
  });
});

describe('revocation and failures', () => {
  test('revoked at the AS mid-task: next call is reauth_required invalid_grant; the grant is marked, not deleted', async () => {
    const h = await harness('refresh');
    await seed(h);
    await h.broker.credentialFor(h.request(['notes:read']));
    expect(await t.as.revokeGrantsOf('demo')).toBeGreaterThan(0);
    const err = await errorOf(h.broker.credentialFor(h.request(['notes:write'])));
    expect(err).toMatchObject({ code: 'reauth_required', details: { reason: 'invalid_grant', provider: 'notes' } });
    const g = await h.store.getGrant('demo', 'notes');
    expect(g).toMatchObject({ status: 'needs_reauth', reason: 'invalid_grant' });
    expect(g!.refreshTokenEnc).toBeDefined();
    // And it stays a reauth (no more refreshes at the AS).
    const before = t.as.stats.refreshRequests;
    expect(await errorOf(h.broker.credentialFor(h.request(['notes:delete'])))).toMatchObject({
      details: { reason: 'invalid_grant' },
    });
    expect(t.as.stats.refreshRequests).toBe(before);
    await h.close();
  });

  test('revokeGrant calls the RFC 7009 endpoint, marks the grant revoked, and calls then get reauth revoked', async () => {
    const h = await harness('refresh');
    await seed(h);
    await h.broker.credentialFor(h.request(['notes:read']));
    const out = await h.grants.revokeGrant('demo', 'notes');
    expect(out).toMatchObject({
      found: true,
      provider: { supported: true, revoked: true },
      grant: { status: 'revoked' },
    });
    expect(t.as.stats.revocations).toBe(1);
    expect(t.as.grants().filter((g) => g.accountId === 'demo')).toHaveLength(0);
    // Cached credentials are no longer handed out either.
    expect(await errorOf(h.broker.credentialFor(h.request(['notes:read'])))).toMatchObject({
      code: 'reauth_required',
      details: { reason: 'revoked' },
    });
    const listed = await h.grants.listGrants({ user: 'demo' });
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ status: 'revoked', hasRefreshToken: false });
    expect(JSON.stringify(listed)).not.toMatch(/Enc"/);
    await h.close();
  });

  test('a wrong encryption key is not retryable and names the fix; the grant is untouched', async () => {
    const h = await harness('refresh');
    await seed(h);
    const before = await h.store.getGrant('demo', 'notes');
    const wrong = createCredentialBroker({
      config: h.config,
      store: h.store,
      cipher: createGrantCipher({
        current: (await import('../../src/broker/crypto.js')).encryptionKeyFrom(generateEncryptionKey()),
      }),
      lock: h.lock,
      providers: h.providers,
      logger: (await import('../../src/log.js')).createLogger({ level: 'silent' }),
      metrics: h.metrics,
    });
    const err = await errorOf(wrong.credentialFor(h.request(['notes:read'])));
    // Waiting cannot help: the operator restores the key (previousEncryptionKeys) or the user grants again.
    expect(err).toMatchObject({
      code: 'reauth_required',
      retryable: false,
      details: { reason: 'encryption_key_unknown' },
    });
    expect(err.message).toContain('previousEncryptionKeys');
    expect(await h.store.getGrant('demo', 'notes')).toEqual(before);
    expect(t.as.stats.refreshRequests).toBe(0);
    await h.close();
  });

  test('a 401 from the API: concurrent afterUnauthorized calls share one refresh', async () => {
    const h = await harness('refresh');
    await seed(h);
    const req = h.request(['notes:read']);
    const first = await h.broker.credentialFor(req);
    const renewed = await Promise.all(
      Array.from({ length: 8 }, () => h.broker.afterUnauthorized(h.request(['notes:read']), first)),
    );
    expect(t.as.stats.refreshRequests).toBe(2);
    expect(new Set(renewed.map((c) => c.meta.id)).size).toBe(1);
    expect(renewed[0]!.meta.id).not.toBe(first.meta.id);
    // The renewed one is now the cached one.
    expect((await h.broker.credentialFor(h.request(['notes:read']))).meta.id).toBe(renewed[0]!.meta.id);
    await h.close();
  });
});
