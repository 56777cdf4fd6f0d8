// A verified caller through the SDK: carried in AuthInfo with an empty token, and read back whole in a tool handler.
import { describe, expect, it } from 'vitest';
import { type AuthenticatedCaller, callerFromAuthInfo, toAuthInfo } from '../../src/mcp/auth.js';

const caller: AuthenticatedCaller = {
  user: 'alice',
  client: 'agent-1',
  scopes: ['mcp', 'notes:read'],
  gatewayScopes: ['mcp', 'notes:read'],
  expiresAt: 1_750_000_300,
};

describe('AuthInfo', () => {
  it('carries the caller, the resource and what the token granted, and no token', () => {
    const info = toAuthInfo(caller, 'https://gw.example/mcp');
    expect({ ...info, resource: info.resource?.href }).toEqual({
      token: '',
      clientId: 'agent-1',
      scopes: ['mcp', 'notes:read'],
      expiresAt: 1_750_000_300,
      resource: 'https://gw.example/mcp',
      extra: { caller },
    });
    expect(callerFromAuthInfo(info)).toBe(caller);
  });

  it('reads back no caller where none was put', () => {
    expect(callerFromAuthInfo(undefined)).toBeUndefined();
    expect(callerFromAuthInfo({ token: 'x', clientId: 'c', scopes: [] })).toBeUndefined();
    expect(
      callerFromAuthInfo({ token: '', clientId: 'c', scopes: [], extra: { caller: { user: 'a' } } }),
    ).toBeUndefined();
  });
});
