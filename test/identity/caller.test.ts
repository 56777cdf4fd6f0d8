// The caller a verified token describes: which claims make it, which refuse it, and that no token is kept.
import { describe, expect, it } from 'vitest';
import type { ResolvedIdentity } from '../../src/config/types.js';
import { callerFromClaims, missingScopes, scopesOf } from '../../src/identity/caller.js';
import { InvalidTokenError } from '../../src/identity/errors.js';

const identity: ResolvedIdentity = {
  issuer: 'https://idp.example',
  userClaim: 'sub',
  requiredScopes: ['mcp'],
  algorithms: ['RS256'],
  clockSkewSeconds: 30,
  accessTokenTyp: 'at+jwt-or-absent',
};
const claims = {
  iss: 'https://idp.example',
  sub: 'alice',
  client_id: 'agent-1',
  scope: 'mcp notes:read',
  exp: 1_750_000_300,
};

describe('callerFromClaims', () => {
  it('names the user, the client, the scopes and the expiry, and keeps no token', () => {
    const caller = callerFromClaims(identity, { ...claims, azp: 'agent-azp', jti: 'tok-1' }, 'jwt');
    expect(caller).toEqual({
      user: 'alice',
      client: 'agent-azp',
      scopes: ['mcp', 'notes:read'],
      expiresAt: 1_750_000_300,
      tokenId: 'tok-1',
      issuer: 'https://idp.example',
      via: 'jwt',
      claims: { ...claims, azp: 'agent-azp', jti: 'tok-1' },
    });
    expect(Object.isFrozen(caller.claims)).toBe(true);
  });

  it.each([
    ['no user claim', { sub: undefined }, 'token has no sub claim'],
    ['no client', { client_id: undefined }, 'token names no client (azp or client_id)'],
    ['no expiry', { exp: undefined }, 'token has no expiry'],
  ])('refuses a token with %s', (_label, over, message) => {
    expect(() => callerFromClaims(identity, { ...claims, ...over }, 'jwt')).toThrow(new InvalidTokenError(message));
  });

  it('requires the tenant claim where one is configured, so no token falls into a tenant-less key', () => {
    const tenanted = { ...identity, tenantClaim: 'tid' };
    expect(() => callerFromClaims(tenanted, claims, 'jwt')).toThrow(new InvalidTokenError('token has no tid claim'));
    expect(callerFromClaims(tenanted, { ...claims, tid: 't1' }, 'introspection')).toMatchObject({
      tenant: 't1',
      via: 'introspection',
    });
  });
});

describe('scopesOf', () => {
  it('reads scope and scp, without duplicates or empties', () => {
    expect(scopesOf({ scope: ' a  b ', scp: ['b', 'c', 1] })).toEqual(['a', 'b', 'c']);
    expect(scopesOf({ scp: 'x y' })).toEqual(['x', 'y']);
    expect(scopesOf({})).toEqual([]);
  });
});

describe('missingScopes', () => {
  it('lists what is needed and not held, in the order needed', () => {
    expect(missingScopes(['mcp'], ['notes:admin', 'mcp', 'notes:read'])).toEqual(['notes:admin', 'notes:read']);
    expect(missingScopes(['mcp'], [])).toEqual([]);
  });
});
