// The ID token that comes back with the code: signature, issuer, audience, nonce, and the claims OIDC requires.
import type { JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyIdToken } from '../../src/providers/idToken.js';
import { type FakeIssuer, startFakeIssuer } from '../identity/fakeIssuer.js';

const NOW = 1_750_000_000;
let issuer: FakeIssuer;
beforeAll(async () => {
  issuer = await startFakeIssuer();
});
afterAll(async () => {
  await issuer?.close();
});

const claims = (over: JWTPayload = {}): JWTPayload => ({
  iss: issuer.issuer,
  sub: 'demo',
  aud: 'keyward-demo',
  nonce: 'n-1',
  iat: NOW - 5,
  exp: NOW + 300,
  ...over,
});

const verify = async (c: JWTPayload) =>
  verifyIdToken(await issuer.sign(c, { typ: 'JWT' }), {
    issuer: issuer.issuer,
    jwksUri: issuer.jwksUri,
    clientId: 'keyward-demo',
    nonce: 'n-1',
    nowMs: NOW * 1000,
  });

describe('verifyIdToken', () => {
  it('returns the claims of a good ID token', async () => {
    await expect(verify(claims())).resolves.toMatchObject({ sub: 'demo' });
  });

  it.each([
    ['no exp', { exp: undefined }, 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['no iat', { iat: undefined }, 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['no sub', { sub: undefined }, 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['an expired one', { exp: NOW - 120 }, 'ERR_JWT_EXPIRED'],
    ['another audience', { aud: 'someone-else' }, 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['another issuer', { iss: 'http://127.0.0.1:1/evil' }, 'ERR_JWT_CLAIM_VALIDATION_FAILED'],
    ['another nonce', { nonce: 'n-2' }, 'nonce_mismatch'],
  ])('refuses %s', async (_name, over, reason) => {
    await expect(verify(claims(over))).rejects.toMatchObject({ name: 'IdTokenError', reason });
  });
});
