import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedIdentity } from '../../src/config/types.js';
import { metadataUrls } from '../../src/identity/discovery.js';
import { createTokenVerifier } from '../../src/identity/verifier.js';
import { type FakeIssuer, startFakeIssuer } from './fakeIssuer.js';
import { fixedClock, identityFor, NOW, post, startApp } from './harness.js';

const RESOURCE = 'http://127.0.0.1:8787/mcp';
let issuer: FakeIssuer;

beforeAll(async () => {
  issuer = await startFakeIssuer();
});
afterAll(async () => {
  await issuer?.close();
});

const claims = (over: JWTPayload = {}): JWTPayload => ({
  iss: issuer.issuer,
  sub: 'alice',
  aud: RESOURCE,
  client_id: 'agent-1',
  scope: 'mcp',
  exp: NOW + 300,
  ...over,
});

const verifierFor = (over: Partial<ResolvedIdentity> = {}) =>
  createTokenVerifier(identityFor(issuer, over), { resource: RESOURCE, clock: fixedClock });

describe('identity claims', () => {
  it('the user can be the email claim', async () => {
    const v = verifierFor({ userClaim: 'email' });
    const token = await issuer.sign(claims({ email: 'alice@example.com' }));
    await expect(v.verify(token)).resolves.toMatchObject({ user: 'alice@example.com' });
    await expect(v.verify(await issuer.sign(claims()))).rejects.toMatchObject({
      code: 'invalid_token',
      message: 'token has no email claim',
    });
  });

  it('a configured tenant claim is required, since grants are keyed by it', async () => {
    const v = verifierFor({ tenantClaim: 'tid' });
    await expect(v.verify(await issuer.sign(claims({ tid: 'acme' })))).resolves.toMatchObject({ tenant: 'acme' });
    await expect(v.verify(await issuer.sign(claims()))).rejects.toMatchObject({
      code: 'invalid_token',
      message: 'token has no tid claim',
    });
  });

  it('azp wins over client_id', async () => {
    const v = verifierFor();
    await expect(v.verify(await issuer.sign(claims({ azp: 'agent-azp' })))).resolves.toMatchObject({
      client: 'agent-azp',
    });
  });
});

describe('audience', () => {
  it('identity.audience, where set, is the resource a token must name', async () => {
    const v = verifierFor({ audience: 'https://gw.example/mcp' });
    expect(v.resource).toBe('https://gw.example/mcp');
    await expect(v.verify(await issuer.sign(claims({ aud: 'https://gw.example/mcp' })))).resolves.toBeTruthy();
    await expect(v.verify(await issuer.sign(claims()))).rejects.toMatchObject({ code: 'invalid_token' });
  });

  it('a token for several resources passes when ours is one of them', async () => {
    const v = verifierFor();
    await expect(v.verify(await issuer.sign(claims({ aud: ['https://api.example', RESOURCE] })))).resolves.toBeTruthy();
  });
});

describe('typ and algorithms', () => {
  it('"at+jwt" requires the header', async () => {
    const v = verifierFor({ accessTokenTyp: 'at+jwt' });
    await expect(v.verify(await issuer.sign(claims()))).resolves.toBeTruthy();
    await expect(v.verify(await issuer.sign(claims(), { typ: null }))).rejects.toMatchObject({
      message: 'token type is not at+jwt',
    });
  });

  it('"any" takes the JWT typ some issuers write', async () => {
    const v = verifierFor({ accessTokenTyp: 'any' });
    await expect(v.verify(await issuer.sign(claims(), { typ: 'JWT' }))).resolves.toBeTruthy();
  });

  it('only the configured algorithms', async () => {
    const v = verifierFor({ algorithms: ['ES256'] });
    await expect(v.verify(await issuer.sign(claims()))).rejects.toMatchObject({
      code: 'invalid_token',
      message: 'token algorithm is not allowed',
    });
  });
});

describe('opaque tokens', () => {
  it('without introspection configured they are invalid', async () => {
    const v = verifierFor({ introspection: undefined });
    await expect(v.verify('an-opaque-token')).rejects.toMatchObject({
      code: 'invalid_token',
      message: 'token is not a JWT, and no introspection is configured',
    });
  });

  it('introspection refusing our client credentials is an outage, not the caller being wrong', async () => {
    const v = verifierFor({
      introspection: { endpoint: issuer.introspectionEndpoint, clientId: 'keyward-rs', clientSecret: 'wrong' },
    });
    await expect(v.verify('an-opaque-token')).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('discovery and the issuer being unreachable', () => {
  it('looks where RFC 8414 and OpenID Connect put metadata', () => {
    expect(metadataUrls('https://idp.example')).toEqual([
      'https://idp.example/.well-known/oauth-authorization-server',
      'https://idp.example/.well-known/openid-configuration',
    ]);
    expect(metadataUrls('https://idp.example/tenant/')).toEqual([
      'https://idp.example/.well-known/oauth-authorization-server/tenant',
      'https://idp.example/.well-known/openid-configuration/tenant',
      'https://idp.example/tenant/.well-known/openid-configuration',
    ]);
  });

  it('a configured jwksUri needs no discovery', async () => {
    const own = await startFakeIssuer();
    try {
      const v = createTokenVerifier(identityFor(own, { jwksUri: own.jwksUri }), {
        resource: RESOURCE,
        clock: fixedClock,
      });
      await expect(v.verify(await own.sign(claims({ iss: own.issuer })))).resolves.toBeTruthy();
      expect(own.hits.get('/.well-known/openid-configuration')).toBeUndefined();
    } finally {
      await own.close();
    }
  });

  it('metadata naming another issuer is refused, and prepare() says so at start-up', async () => {
    const own = await startFakeIssuer();
    try {
      own.metadataOverrides.issuer = 'https://someone.else';
      const v = createTokenVerifier(identityFor(own), { resource: RESOURCE, clock: fixedClock });
      await expect(v.prepare()).rejects.toMatchObject({ code: 'unavailable' });
      await expect(v.verify(await own.sign(claims({ iss: own.issuer })))).rejects.toMatchObject({
        code: 'unavailable',
      });
    } finally {
      await own.close();
    }
  });

  it('a JWKS outage is a 503 with Retry-After, not a 401 that would make clients sign in again', async () => {
    const own = await startFakeIssuer();
    const app = await startApp(identityFor(own));
    try {
      own.jwksStatus = 500;
      const res = await post(app, await own.sign(claims({ iss: own.issuer, aud: app.resource })));
      expect(res.status).toBe(503);
      expect(res.challenge).toBeNull();
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.body).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the authorization server keys could not be loaded',
      });
    } finally {
      await app.close();
      await own.close();
    }
  });
});
