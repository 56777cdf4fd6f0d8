import { describe, expect, it } from 'vitest';
import { InsufficientScopeError } from '../../src/errors.js';
import {
  type CallerIdentity,
  checkGatewayScopes,
  readCaller,
  scopesOf,
  toAuthInfo,
} from '../../src/identity/caller.js';

const caller: CallerIdentity = {
  user: 'alice',
  client: 'agent-1',
  scopes: ['mcp', 'notes:read'],
  expiresAt: 1_750_000_300,
  issuer: 'https://idp.example',
  via: 'jwt',
  claims: { sub: 'alice' },
};

describe('checkGatewayScopes (the tool-call path)', () => {
  it('passes a tool that needs no gateway scope, or only held ones', () => {
    expect(() => checkGatewayScopes(caller, {})).not.toThrow();
    expect(() => checkGatewayScopes(caller, { gatewayScopes: ['notes:read'] })).not.toThrow();
  });

  it("throws the gateway's insufficient_scope, naming what is missing", () => {
    let thrown: unknown;
    try {
      checkGatewayScopes(caller, { gatewayScopes: ['notes:read', 'notes:admin'] });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InsufficientScopeError);
    expect((thrown as InsufficientScopeError).toPayload('call-1')).toEqual({
      code: 'insufficient_scope',
      message: "The caller's sign-in lacks gateway scopes this tool needs (notes:admin); sign in again and grant them.",
      scopes: ['notes:read', 'notes:admin'],
      missingScopes: ['notes:admin'],
      reason: 'gateway_scope',
      retryable: false,
      callId: 'call-1',
    });
  });
});

describe('AuthInfo', () => {
  it('carries the caller and no token', () => {
    const info = toAuthInfo(caller, 'https://gw.example/mcp');
    expect(info.token).toBe('');
    expect(info.resource?.href).toBe('https://gw.example/mcp');
    expect(readCaller(info)).toBe(caller);
    expect(readCaller(undefined)).toBeUndefined();
    expect(readCaller({ token: 'x', clientId: 'c', scopes: [] })).toBeUndefined();
  });
});

describe('scopesOf', () => {
  it('reads scope and scp, without duplicates or empties', () => {
    expect(scopesOf({ scope: ' a  b ', scp: ['b', 'c', 1] })).toEqual(['a', 'b', 'c']);
    expect(scopesOf({ scp: 'x y' })).toEqual(['x', 'y']);
    expect(scopesOf({})).toEqual([]);
  });
});
