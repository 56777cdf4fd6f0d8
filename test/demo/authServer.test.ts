// The demo authorization server behaves like a strict real one: rotation, reuse revocation, narrowing, exchange.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { startTestAuthServer, type TestAuthServer } from '../helpers/authServer.js';
import {
  deviceGrant,
  driveAuthorization,
  exchangeToken,
  obtainTokens,
  refreshTokens,
  TokenError,
  tokenRequest,
} from '../helpers/consent.js';

let t: TestAuthServer;
const issuedValues: string[] = [];
const OTHER = 'http://127.0.0.1:9/other-api';

beforeAll(async () => {
  t = await startTestAuthServer({
    as: { onIssued: (v) => issuedValues.push(v) },
    confidentialClients: [
      { client_id: 'conf-basic', client_secret: 'basic-secret-0123456789' },
      { client_id: 'conf-post', client_secret: 'post-secret-0123456789', auth: 'client_secret_post' },
    ],
  });
  t.as.addResource({ resource: OTHER, scopes: ['other:read'] });
});
afterAll(async () => {
  await t?.close();
});

async function expectTokenError(p: Promise<unknown>, error: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TokenError);
  expect((err as TokenError).error).toBe(error);
}

const demoClient = () => ({ issuer: t.issuer, clientId: t.clientId });

describe('authorization code + PKCE', () => {
  test('issues a JWT access token for the API resource and a refresh token', async () => {
    const tok = await t.grant();
    expect(tok.refresh_token).toBeTruthy();
    const at = decodeJwt(tok.access_token);
    expect(at.aud).toBe(t.resource);
    expect(at.iss).toBe(t.issuer);
    expect(at.sub).toBe('demo');
    expect(at.client_id).toBe(t.clientId);
    expect(String(at.scope).split(' ').sort()).toEqual(['notes:delete', 'notes:read', 'notes:write']);
    expect((at.exp ?? 0) - (at.iat ?? 0)).toBe(60);
  });

  test('any login name becomes the subject', async () => {
    const tok = await t.grant({ user: 'alice' });
    expect(decodeJwt(tok.access_token).sub).toBe('alice');
  });

  test('every code, access token and refresh token reaches onIssued', async () => {
    const tok = await t.grant();
    expect(issuedValues).toContain(tok.code);
    expect(issuedValues).toContain(tok.access_token);
    expect(issuedValues).toContain(tok.refresh_token);
    const refreshed = await refreshTokens({ ...demoClient(), refreshToken: tok.refresh_token! });
    expect(t.as.issued.has(refreshed.access_token)).toBe(true);
    expect(t.as.issued.has(refreshed.refresh_token!)).toBe(true);
  });

  test('a denied consent comes back as access_denied', async () => {
    const url = new URL(t.as.authorizationEndpoint);
    url.search = new URLSearchParams({
      client_id: t.clientId,
      response_type: 'code',
      redirect_uri: t.redirectUri,
      scope: 'openid offline_access notes:read',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      prompt: 'consent',
      resource: t.resource,
    }).toString();
    const res = await driveAuthorization(url.href, { deny: true });
    expect(new URL(res.location).searchParams.get('error')).toBe('access_denied');
    expect(res.prompts).toEqual(['login', 'consent']);
  });

  test('PKCE is required', async () => {
    const url = new URL(t.as.authorizationEndpoint);
    url.search = new URLSearchParams({
      client_id: t.clientId,
      response_type: 'code',
      redirect_uri: t.redirectUri,
      scope: 'notes:read',
    }).toString();
    const res = await fetch(url, { redirect: 'manual' });
    const loc = new URL(res.headers.get('location') ?? '', url);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
  });

  test('confidential clients authenticate with client_secret_basic and client_secret_post', async () => {
    for (const [clientId, clientSecret, authMethod] of [
      ['conf-basic', 'basic-secret-0123456789', 'client_secret_basic'],
      ['conf-post', 'post-secret-0123456789', 'client_secret_post'],
    ] as const) {
      const tok = await obtainTokens({
        issuer: t.issuer,
        clientId,
        clientSecret,
        authMethod,
        redirectUri: t.redirectUri,
        scopes: ['openid', 'offline_access', 'notes:read'],
        resource: t.resource,
      });
      const r = await refreshTokens({
        issuer: t.issuer,
        clientId,
        clientSecret,
        authMethod,
        refreshToken: tok.refresh_token!,
      });
      expect(decodeJwt(r.access_token).client_id).toBe(clientId);
      await expectTokenError(
        refreshTokens({
          issuer: t.issuer,
          clientId,
          clientSecret: 'wrong',
          authMethod,
          refreshToken: r.refresh_token!,
        }),
        'invalid_client',
      );
    }
  });
});

describe('refresh', () => {
  test('rotates the refresh token on every use', async () => {
    const tok = await t.grant();
    const r1 = await refreshTokens({ ...demoClient(), refreshToken: tok.refresh_token! });
    expect(r1.refresh_token).toBeTruthy();
    expect(r1.refresh_token).not.toBe(tok.refresh_token);
    const r2 = await refreshTokens({ ...demoClient(), refreshToken: r1.refresh_token! });
    expect(r2.refresh_token).not.toBe(r1.refresh_token);
  });

  test('3 parallel refreshes with one token: 1 success, 2 invalid_grant, and the winner is revoked too', async () => {
    const tok = await t.grant();
    const before = { ...t.as.stats };
    const results = await Promise.allSettled(
      [1, 2, 3].map(() => refreshTokens({ ...demoClient(), refreshToken: tok.refresh_token! })),
    );
    const ok = results.filter((r) => r.status === 'fulfilled');
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(1);
    expect(failed).toHaveLength(2);
    for (const f of failed) expect((f.reason as TokenError).error).toBe('invalid_grant');

    const winner = (ok[0] as PromiseFulfilledResult<{ refresh_token?: string }>).value;
    await expectTokenError(refreshTokens({ ...demoClient(), refreshToken: winner.refresh_token! }), 'invalid_grant');

    expect(t.as.stats.refreshRequests - before.refreshRequests).toBe(4);
    expect(t.as.stats.refreshSuccesses - before.refreshSuccesses).toBe(1);
    expect(t.as.stats.invalidGrants - before.invalidGrants).toBe(3);
    expect(t.as.stats.revokedGrants - before.revokedGrants).toBe(1);
    expect(t.as.stats.refreshReuses - before.refreshReuses).toBeGreaterThanOrEqual(1);
  });

  test('reuse of a consumed token later also revokes the grant', async () => {
    const tok = await t.grant();
    const r1 = await refreshTokens({ ...demoClient(), refreshToken: tok.refresh_token! });
    await expectTokenError(refreshTokens({ ...demoClient(), refreshToken: tok.refresh_token! }), 'invalid_grant');
    await expectTokenError(refreshTokens({ ...demoClient(), refreshToken: r1.refresh_token! }), 'invalid_grant');
  });

  test('a narrowed scope gives a token with only that scope, and the grant keeps the rest', async () => {
    const tok = await t.grant();
    const narrow = await refreshTokens({
      ...demoClient(),
      refreshToken: tok.refresh_token!,
      scope: ['notes:read'],
      resource: t.resource,
    });
    expect(narrow.scope).toBe('notes:read');
    const at = decodeJwt(narrow.access_token);
    expect(at.scope).toBe('notes:read');
    expect(at.aud).toBe(t.resource);

    const wider = await refreshTokens({
      ...demoClient(),
      refreshToken: narrow.refresh_token!,
      scope: ['notes:write', 'notes:delete'],
    });
    expect(String(decodeJwt(wider.access_token).scope).split(' ').sort()).toEqual(['notes:delete', 'notes:write']);
  });

  test('a scope beyond the grant is refused with invalid_scope', async () => {
    const tok = await t.grant({ scopes: ['openid', 'offline_access', 'notes:read'] });
    await expectTokenError(
      refreshTokens({ ...demoClient(), refreshToken: tok.refresh_token!, scope: ['notes:write'] }),
      'invalid_scope',
    );
  });

  test('the resource indicator sets the audience', async () => {
    const tok = await t.grant({
      scopes: ['openid', 'offline_access', 'notes:read', 'other:read'],
      resource: [t.resource, OTHER],
    });
    const other = await refreshTokens({ ...demoClient(), refreshToken: tok.refresh_token!, resource: OTHER });
    const at = decodeJwt(other.access_token);
    expect(at.aud).toBe(OTHER);
    expect(at.scope).toBe('other:read');

    const notes = await refreshTokens({ ...demoClient(), refreshToken: other.refresh_token!, resource: t.resource });
    expect(decodeJwt(notes.access_token).aud).toBe(t.resource);
    expect(decodeJwt(notes.access_token).scope).toBe('notes:read');

    await expectTokenError(
      refreshTokens({ ...demoClient(), refreshToken: notes.refresh_token!, resource: 'http://127.0.0.1:9/unknown' }),
      'invalid_target',
    );
  });

  test('aud is the resource exactly as registered, trailing slash included', async () => {
    t.as.addResource({ resource: 'http://127.0.0.1:9/slash/', scopes: ['slash:read'] });
    const tok = await t.grant({ scopes: ['slash:read'], resource: 'http://127.0.0.1:9/slash/' });
    expect(decodeJwt(tok.access_token).aud).toBe('http://127.0.0.1:9/slash/');
    const again = await refreshTokens({
      ...demoClient(),
      refreshToken: tok.refresh_token!,
      resource: 'http://127.0.0.1:9/slash/',
    });
    expect(decodeJwt(again.access_token).aud).toBe('http://127.0.0.1:9/slash/');
  });

  test('a plain OAuth request (no openid) still gets a refresh token', async () => {
    const tok = await t.grant({ scopes: ['notes:read'] });
    expect(tok.refresh_token).toBeTruthy();
  });
});

describe('token exchange (RFC 8693)', () => {
  test('gives a narrower token carrying act', async () => {
    const tok = await t.grant();
    const ex = await exchangeToken({ ...demoClient(), subjectToken: tok.access_token, scope: ['notes:read'] });
    expect(ex.issued_token_type).toBe('urn:ietf:params:oauth:token-type:access_token');
    expect(ex.scope).toBe('notes:read');
    const at = decodeJwt(ex.access_token);
    const subject = decodeJwt(tok.access_token);
    expect(at.scope).toBe('notes:read');
    expect(at.sub).toBe('demo');
    expect(at.aud).toBe(t.resource);
    expect(at.act).toEqual({ sub: t.clientId });
    expect(at.jti).not.toBe(subject.jti);
    expect(at.exp!).toBeLessThanOrEqual(subject.exp!);

    const res = await fetch(`${t.api.url}/notes`, { headers: { authorization: `Bearer ${ex.access_token}` } });
    expect(res.status).toBe(200);
    expect(t.api.seen.at(-1)?.act).toEqual({ sub: t.clientId });
    expect(t.as.issued.has(ex.access_token)).toBe(true);
  });

  test('refuses a wider scope, a foreign token, an unknown resource and another client', async () => {
    const tok = await t.grant({ scopes: ['openid', 'offline_access', 'notes:read'] });
    await expectTokenError(
      exchangeToken({ ...demoClient(), subjectToken: tok.access_token, scope: ['notes:write'] }),
      'invalid_scope',
    );
    await expectTokenError(exchangeToken({ ...demoClient(), subjectToken: 'not-a-token' }), 'invalid_grant');
    const forged = await t.as.signJwt({ sub: 'demo', aud: t.resource, scope: 'notes:read', client_id: t.clientId });
    await expectTokenError(exchangeToken({ ...demoClient(), subjectToken: forged }), 'invalid_grant');
    await expectTokenError(
      exchangeToken({ ...demoClient(), subjectToken: tok.access_token, resource: 'http://127.0.0.1:9/unknown' }),
      'invalid_target',
    );
    await expectTokenError(
      exchangeToken({
        issuer: t.issuer,
        clientId: 'conf-basic',
        clientSecret: 'basic-secret-0123456789',
        subjectToken: tok.access_token,
      }),
      'invalid_grant',
    );
  });

  test('an exchanged token can be exchanged again; act nests', async () => {
    const tok = await t.grant();
    const once = await exchangeToken({ ...demoClient(), subjectToken: tok.access_token, scope: ['notes:read'] });
    const twice = await exchangeToken({ ...demoClient(), subjectToken: once.access_token });
    expect(decodeJwt(twice.access_token).act).toEqual({ sub: t.clientId, act: { sub: t.clientId } });
  });
});

describe('revocation', () => {
  test('revokeGrantsOf kills refresh and exchange for that user only', async () => {
    const mallory = await t.grant({ user: 'mallory' });
    const bob = await t.grant({ user: 'bob' });
    const before = t.as.stats.revokedGrants;
    expect(await t.as.revokeGrantsOf('mallory')).toBe(1);
    expect(t.as.stats.revokedGrants - before).toBe(1);
    await expectTokenError(refreshTokens({ ...demoClient(), refreshToken: mallory.refresh_token! }), 'invalid_grant');
    await expectTokenError(exchangeToken({ ...demoClient(), subjectToken: mallory.access_token }), 'invalid_grant');
    await refreshTokens({ ...demoClient(), refreshToken: bob.refresh_token! });
    expect(t.as.grants().some((g) => g.accountId === 'mallory')).toBe(false);
    expect(t.as.grants().find((g) => g.accountId === 'bob')?.scopes).toContain('notes:read');
  });

  test('RFC 7009 revocation of the refresh token ends the grant; introspection says inactive', async () => {
    const tok = await t.grant();
    const before = t.as.stats.revocations;
    const body = new URLSearchParams({
      token: tok.refresh_token!,
      token_type_hint: 'refresh_token',
      client_id: t.clientId,
    });
    const res = await fetch(t.as.revocationEndpoint, { method: 'POST', body });
    expect(res.status).toBe(200);
    expect(t.as.stats.revocations - before).toBe(1);
    await expectTokenError(refreshTokens({ ...demoClient(), refreshToken: tok.refresh_token! }), 'invalid_grant');
    const intro = await tokenRequest(
      t.as.introspectionEndpoint,
      { clientId: t.clientId },
      { token: tok.refresh_token },
    );
    expect(intro.active).toBe(false);
  });
});

describe('dynamic client registration', () => {
  test('addClient registers a client at run time', async () => {
    await t.as.addClient({
      client_id: 'late-client',
      client_secret: 'late-secret-0123456789',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [t.redirectUri],
    });
    const tok = await obtainTokens({
      issuer: t.issuer,
      clientId: 'late-client',
      clientSecret: 'late-secret-0123456789',
      authMethod: 'client_secret_post',
      redirectUri: t.redirectUri,
      scopes: ['openid', 'offline_access', 'notes:read'],
      resource: t.resource,
    });
    expect(decodeJwt(tok.access_token).client_id).toBe('late-client');
  });

  test('a client registers itself and completes the flow', async () => {
    const registrationsBefore = t.as.stats.registrations;
    const res = await fetch(t.as.registrationEndpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        redirect_uris: ['http://127.0.0.1:33333/oauth/callback'],
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        client_name: 'an MCP client',
      }),
    });
    expect(res.status).toBe(201);
    const client = (await res.json()) as { client_id: string };
    const tok = await obtainTokens({
      issuer: t.issuer,
      clientId: client.client_id,
      redirectUri: 'http://127.0.0.1:33333/oauth/callback',
      scopes: ['notes:read'],
      resource: t.resource,
    });
    expect(decodeJwt(tok.access_token).client_id).toBe(client.client_id);
    expect(t.as.stats.registrations - registrationsBefore).toBe(1);
  });
});

test('metadata advertises what the gateway relies on', async () => {
  const meta = (await (await fetch(`${t.issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
  expect(meta.issuer).toBe(t.issuer);
  expect(meta.grant_types_supported).toEqual(
    expect.arrayContaining(['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange']),
  );
  expect(meta.code_challenge_methods_supported).toEqual(['S256']);
  expect(meta.registration_endpoint).toBe(t.as.registrationEndpoint);
  expect(meta.revocation_endpoint).toBe(t.as.revocationEndpoint);
  expect(meta.introspection_endpoint).toBe(t.as.introspectionEndpoint);
  expect(meta.device_authorization_endpoint).toBe(t.as.deviceAuthorizationEndpoint);
  const oauthMeta = (await (await fetch(`${t.issuer}/.well-known/oauth-authorization-server`)).json()) as {
    issuer: string;
  };
  expect(oauthMeta.issuer).toBe(t.issuer);
});

test('the token endpoint answers CORS preflights from loopback origins only', async () => {
  const preflight = (origin: string) =>
    fetch(t.as.tokenEndpoint, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST' },
    });
  expect((await preflight('http://localhost:6274')).headers.get('access-control-allow-origin')).toBe(
    'http://localhost:6274',
  );
  const res = await fetch(t.as.tokenEndpoint, {
    method: 'POST',
    headers: { origin: 'https://evil.example' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'x', client_id: t.clientId }),
  });
  expect(res.headers.get('access-control-allow-origin')).toBeNull();
});

test('the device authorization grant (RFC 8628) works for the demo client', async () => {
  const tok = await deviceGrant({
    issuer: t.issuer,
    clientId: t.clientId,
    scopes: ['openid', 'offline_access', 'notes:read'],
    resource: t.resource,
    user: 'carol',
  });
  const at = decodeJwt(tok.access_token);
  expect(at.sub).toBe('carol');
  expect(at.aud).toBe(t.resource);
  expect(tok.refresh_token).toBeTruthy();
  expect(t.as.issued.has(tok.refresh_token!)).toBe(true);
});

test('writes nothing to stdout', async () => {
  const spy = vi.spyOn(process.stdout, 'write');
  const info = vi.spyOn(console, 'info');
  const log = vi.spyOn(console, 'log');
  try {
    const other = await startTestAuthServer();
    const tok = await other.grant();
    await refreshTokens({ issuer: other.issuer, clientId: other.clientId, refreshToken: tok.refresh_token! });
    await refreshTokens({ issuer: other.issuer, clientId: other.clientId, refreshToken: tok.refresh_token! }).catch(
      () => undefined,
    );
    await fetch(`${other.issuer}/token/introspection`, { method: 'POST', body: 'token=x&client_id=keyward-demo' });
    await fetch(`${other.issuer}/auth?client_id=nope`);
    await other.close();
    expect(spy).not.toHaveBeenCalled();
    expect(info).not.toHaveBeenCalled();
    expect(log).not.toHaveBeenCalled();
  } finally {
    spy.mockRestore();
    info.mockRestore();
    log.mockRestore();
  }
});
