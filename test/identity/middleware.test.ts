import { createHmac } from 'node:crypto';
import { base64url, type JWTPayload, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { type FakeIssuer, startFakeIssuer } from './fakeIssuer.js';
import { identityFor, NOW, post, rpc, startApp, type TestApp } from './harness.js';

let issuer: FakeIssuer;
let app: TestApp;

beforeAll(async () => {
  issuer = await startFakeIssuer();
  app = await startApp(identityFor(issuer), {
    scopesForTool: (name) => (name === 'delete_note' ? ['notes:admin'] : undefined),
  });
});
afterAll(async () => {
  await app?.close();
  await issuer?.close();
});

const claims = (over: JWTPayload = {}): JWTPayload => ({
  iss: issuer.issuer,
  sub: 'alice',
  aud: app.resource,
  client_id: 'agent-1',
  scope: 'mcp notes:read',
  iat: NOW - 10,
  exp: NOW + 300,
  jti: 'tok-1',
  ...over,
});

const prmUrl = () => `${app.url}/.well-known/oauth-protected-resource/mcp`;
const invalidToken = (description: string) =>
  `Bearer error="invalid_token", error_description="${description}", scope="mcp", resource_metadata="${prmUrl()}"`;

describe('a valid token', () => {
  it('reaches the handler as a CallerIdentity, without the token', async () => {
    const token = await issuer.sign(claims({ azp: 'agent-azp' }));
    const res = await post(app, token);
    expect(res.status).toBe(200);
    expect(res.body.caller).toMatchObject({
      user: 'alice',
      client: 'agent-azp',
      scopes: ['mcp', 'notes:read'],
      expiresAt: NOW + 300,
      tokenId: 'tok-1',
      issuer: issuer.issuer,
      via: 'jwt',
    });
    expect(res.body.caller).not.toHaveProperty('tenant');
    // What the SDK hands tool handlers as extra.authInfo: requireBearerAuth-compatible, token dropped.
    expect(res.body.authInfo).toEqual({
      token: '',
      clientId: 'agent-azp',
      scopes: ['mcp', 'notes:read'],
      expiresAt: NOW + 300,
      resource: app.resource,
    });
    expect(res.text).not.toContain(token);
  });

  it('takes the typ the issuer may set, or none', async () => {
    for (const typ of ['at+jwt', 'application/at+jwt', 'AT+JWT', null]) {
      expect((await post(app, await issuer.sign(claims(), { typ }))).status, String(typ)).toBe(200);
    }
  });

  it('takes `scp` as well as `scope`', async () => {
    const res = await post(app, await issuer.sign(claims({ scope: undefined, scp: ['mcp', 'x'] })));
    expect(res.status).toBe(200);
    expect(res.body.caller.scopes).toEqual(['mcp', 'x']);
  });

  it('accepts nbf and exp within the clock skew', async () => {
    expect((await post(app, await issuer.sign(claims({ nbf: NOW + 20 })))).status).toBe(200);
    expect((await post(app, await issuer.sign(claims({ exp: NOW - 20 })))).status).toBe(200);
  });
});

describe('the negative table', () => {
  it('a missing token: 401, a challenge naming the PRM and the scope, no error code', async () => {
    const res = await post(app, undefined);
    expect(res.status).toBe(401);
    expect(res.challenge).toBe(`Bearer scope="mcp", resource_metadata="${prmUrl()}"`);
  });

  it('another scheme counts as no token', async () => {
    const res = await fetch(`${app.url}/mcp`, {
      method: 'POST',
      headers: { authorization: 'Basic YWxpY2U6cHc=', 'content-type': 'application/json' },
      body: rpc('tools/list'),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer scope="mcp", resource_metadata="${prmUrl()}"`);
  });

  const rows: Array<[string, () => Promise<string>, string]> = [
    ['an expired token', () => issuer.sign(claims({ exp: NOW - 31 })), 'token has expired'],
    ['nbf in the future', () => issuer.sign(claims({ nbf: NOW + 31 })), 'token is not yet valid'],
    ['the wrong audience', () => issuer.sign(claims({ aud: 'agent-1' })), 'token was not issued for this resource'],
    [
      'a token for another resource',
      () => issuer.sign(claims({ aud: `${app.url}/other-mcp` })),
      'token was not issued for this resource',
    ],
    [
      'a token for this origin without the path',
      () => issuer.sign(claims({ aud: app.url })),
      'token was not issued for this resource',
    ],
    ['no audience', () => issuer.sign(claims({ aud: undefined })), 'token was not issued for this resource'],
    [
      'the wrong issuer',
      () => issuer.sign(claims({ iss: 'http://127.0.0.1:1/evil' })),
      'token was issued by another issuer',
    ],
    ['no expiry', () => issuer.sign(claims({ exp: undefined })), 'token claim exp is missing'],
    ['alg none', async () => new UnsecuredJWT(claims()).encode(), 'token algorithm is not allowed'],
    [
      'HS256 signed with the public key (algorithm confusion)',
      async () => {
        const header = base64url.encode(JSON.stringify({ alg: 'HS256', kid: issuer.current.kid, typ: 'at+jwt' }));
        const payload = base64url.encode(JSON.stringify(claims()));
        const mac = createHmac('sha256', issuer.current.spki).update(`${header}.${payload}`).digest('base64url');
        return `${header}.${payload}.${mac}`;
      },
      'token algorithm is not allowed',
    ],
    [
      'a tampered signature',
      async () => {
        const [h, p, s] = (await issuer.sign(claims())).split('.') as [string, string, string];
        const flipped = (s[5] === 'A' ? 'B' : 'A') + s.slice(6);
        return `${h}.${p}.${s.slice(0, 5)}${flipped}`;
      },
      'token signature is invalid',
    ],
    [
      'a tampered payload',
      async () => {
        const [h, , s] = (await issuer.sign(claims())).split('.') as [string, string, string];
        return `${h}.${base64url.encode(JSON.stringify(claims({ sub: 'mallory' })))}.${s}`;
      },
      'token signature is invalid',
    ],
    [
      'an unknown kid',
      async () => issuer.sign(claims(), { key: await issuer.newKey('ghost') }),
      'no key of the issuer matches the token',
    ],
    [
      'a key the issuer does not hold, under a kid it does',
      async () => issuer.sign(claims(), { key: await issuer.newKey('impostor'), kid: issuer.current.kid }),
      'token signature is invalid',
    ],
    ['typ JWT (an ID token profile)', () => issuer.sign(claims(), { typ: 'JWT' }), 'token type is not at+jwt'],
    ['no user claim', () => issuer.sign(claims({ sub: undefined })), 'token has no sub claim'],
    ['no client', () => issuer.sign(claims({ client_id: undefined })), 'token names no client (azp or client_id)'],
    ['garbage', async () => 'not%a%token', 'token is malformed'],
  ];

  it.each(rows)('%s: 401 invalid_token', async (_name, mint, description) => {
    const token = await mint();
    const res = await post(app, token);
    expect(res.status).toBe(401);
    expect(res.challenge).toBe(invalidToken(description));
    expect(res.body).toEqual({ error: 'invalid_token', error_description: description });
    expect(res.text).not.toContain(token);
    expect(res.challenge).not.toContain(token);
  });

  it('insufficient scope: 403, asking for what the token has plus what it lacks', async () => {
    const res = await post(app, await issuer.sign(claims({ scope: 'notes:read' })));
    expect(res.status).toBe(403);
    expect(res.challenge).toBe(
      `Bearer error="insufficient_scope", error_description="the token lacks scope mcp", scope="mcp notes:read", resource_metadata="${prmUrl()}"`,
    );
  });

  it('a token in the query string: 400 invalid_request', async () => {
    const token = await issuer.sign(claims());
    const res = await fetch(`${app.url}/mcp?access_token=${token}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: rpc('tools/list'),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_request"/);
  });

  it('a bearer header without a token: 400 invalid_request', async () => {
    const res = await fetch(`${app.url}/mcp`, {
      method: 'POST',
      headers: { authorization: 'Bearer a b', 'content-type': 'application/json' },
      body: rpc('tools/list'),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_request"/);
  });
});

describe('logs', () => {
  it('say why a token was refused, and never hold the token', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(l) } });
    const logged = await startApp(identityFor(issuer), { logger });
    try {
      const tokens = [
        await issuer.sign(claims({ aud: logged.resource, exp: NOW - 100 })),
        await issuer.sign(claims({ aud: 'elsewhere' })),
        'opaque-unknown-token',
      ];
      for (const token of tokens) expect((await post(logged, token)).status).toBe(401);
      expect(lines).toHaveLength(3);
      expect(JSON.parse(lines[0] as string)).toMatchObject({ reason: 'token has expired', error: 'invalid_token' });
      for (const token of tokens) expect(lines.join('\n')).not.toContain(token);
    } finally {
      await logged.close();
    }
  });
});

describe('step-up', () => {
  const call = (name: string) => rpc('tools/call', { name, arguments: {} });

  it('a tools/call whose tool needs a gateway scope the token lacks: 403 before the transport', async () => {
    const res = await post(app, await issuer.sign(claims()), call('delete_note'));
    expect(res.status).toBe(403);
    expect(res.challenge).toBe(
      `Bearer error="insufficient_scope", error_description="the token lacks scope notes:admin", scope="mcp notes:read notes:admin", resource_metadata="${prmUrl()}"`,
    );
  });

  it('passes once the token holds it, and for tools that need none', async () => {
    const admin = await issuer.sign(claims({ scope: 'mcp notes:admin' }));
    expect((await post(app, admin, call('delete_note'))).status).toBe(200);
    const plain = await issuer.sign(claims());
    expect((await post(app, plain, call('list_notes'))).status).toBe(200);
    expect((await post(app, plain, rpc('tools/list'))).status).toBe(200);
  });

  it('checks every call of a batch', async () => {
    const body = JSON.stringify([JSON.parse(call('list_notes')), JSON.parse(call('delete_note'))]);
    expect((await post(app, await issuer.sign(claims()), body)).status).toBe(403);
  });

  it('requireScopes guards a route', async () => {
    const res = await fetch(`${app.url}/admin`, {
      headers: { authorization: `Bearer ${await issuer.sign(claims())}` },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(res.headers.get('www-authenticate')).toContain('scope="mcp notes:read admin"');
  });
});

describe('opaque tokens (RFC 7662)', () => {
  const live = (over: Record<string, unknown> = {}) => ({
    active: true,
    iss: issuer.issuer,
    sub: 'bob',
    client_id: 'agent-2',
    scope: 'mcp',
    aud: [app.resource],
    exp: NOW + 60,
    token_type: 'Bearer',
    ...over,
  });

  it('an active token is introspected into a caller', async () => {
    issuer.opaque.set('opaque-live', live());
    const res = await post(app, 'opaque-live');
    expect(res.status).toBe(200);
    expect(res.body.caller).toMatchObject({ user: 'bob', client: 'agent-2', scopes: ['mcp'], via: 'introspection' });
  });

  it.each([
    ['an inactive token', 'opaque-unknown', undefined, 'token is not active'],
    [
      'a token for another resource',
      'opaque-other',
      { aud: 'https://api.example.com' },
      'token was not issued for this resource',
    ],
    ['a token without an audience', 'opaque-noaud', { aud: undefined }, 'token was not issued for this resource'],
    ['an expired token', 'opaque-expired', { exp: NOW - 31 }, 'token has expired'],
    [
      'a token from another issuer',
      'opaque-iss',
      { iss: 'https://evil.example' },
      'token was issued by another issuer',
    ],
    ['a refresh token', 'opaque-rt', { token_type: 'refresh_token' }, 'token is not a bearer access token'],
  ])('%s: 401 invalid_token', async (_name, token, over, description) => {
    if (over) issuer.opaque.set(token, live(over));
    const res = await post(app, token);
    expect(res.status).toBe(401);
    expect(res.challenge).toBe(invalidToken(description));
  });
});

describe('key rotation', () => {
  // An issuer of its own: rotating the shared one would strand the other tests' cached keys.
  let own: FakeIssuer;
  beforeAll(async () => {
    own = await startFakeIssuer();
  });
  afterAll(async () => {
    await own?.close();
  });
  const ownClaims = (aud: string) => claims({ iss: own.issuer, aud });

  it('a new kid at the issuer is fetched once the cooldown allows', async () => {
    const rotating = await startApp(identityFor(own), { jwksCooldownMs: 0 });
    try {
      const aud = rotating.resource;
      expect((await post(rotating, await own.sign(ownClaims(aud)))).status).toBe(200);
      expect(own.hits.get('/jwks')).toBe(1);
      await own.rotate('key-2', { drop: true });
      const res = await post(rotating, await own.sign(ownClaims(aud)));
      expect(res.status).toBe(200);
      expect(own.hits.get('/jwks')).toBe(2);
      // Cached from here on; and discovery ran once in all.
      expect((await post(rotating, await own.sign(ownClaims(aud)))).status).toBe(200);
      expect(own.hits.get('/jwks')).toBe(2);
      expect(own.hits.get('/.well-known/openid-configuration')).toBe(1);
    } finally {
      await rotating.close();
    }
  });

  it('within the cooldown an unknown kid does not make the gateway hammer the JWKS', async () => {
    const fresh = await startApp(identityFor(own));
    try {
      const aud = fresh.resource;
      expect((await post(fresh, await own.sign(ownClaims(aud)))).status).toBe(200);
      const fetched = own.hits.get('/jwks');
      const ghost = await own.newKey('ghost-2');
      for (let i = 0; i < 3; i++) {
        expect((await post(fresh, await own.sign(ownClaims(aud), { key: ghost }))).status).toBe(401);
      }
      expect(own.hits.get('/jwks')).toBe(fetched);
    } finally {
      await fresh.close();
    }
  });
});
