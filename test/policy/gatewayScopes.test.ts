// Gateway scopes and the call's policy step: who may use a tool at all, decided from data alone.
import { describe, expect, it } from 'vitest';
import { InsufficientScopeError } from '../../src/errors.js';
import { decideCall, refusalError } from '../../src/policy/call.js';
import { gatewayScopeDecision } from '../../src/policy/gatewayScopes.js';

describe('gatewayScopeDecision', () => {
  it.each([
    { case: 'no verified token (stdio) is not limited', caller: undefined, tool: ['admin'], want: { allowed: true } },
    { case: 'a tool naming no gateway scope', caller: [], tool: undefined, want: { allowed: true } },
    { case: 'a tool naming an empty list', caller: [], tool: [], want: { allowed: true } },
    { case: 'every scope held', caller: ['mcp', 'notes:read'], tool: ['notes:read'], want: { allowed: true } },
    {
      case: 'one scope missing',
      caller: ['mcp', 'notes:read'],
      tool: ['notes:read', 'notes:admin'],
      want: { allowed: false, needed: ['notes:read', 'notes:admin'], missing: ['notes:admin'] },
    },
    {
      case: 'a verified token with no scopes at all',
      caller: [],
      tool: ['notes:read'],
      want: { allowed: false, needed: ['notes:read'], missing: ['notes:read'] },
    },
  ])('$case', ({ caller, tool, want }) => {
    expect(gatewayScopeDecision(caller, tool)).toEqual(want);
  });
});

describe('decideCall', () => {
  const tool = { name: 'delete_note', gatewayScopes: ['notes:admin'] };

  it.each([
    { case: 'stdio caller', input: { tool }, want: { allowed: true } },
    {
      case: 'caller holding the scope',
      input: { tool, callerGatewayScopes: ['notes:admin'] },
      want: { allowed: true },
    },
    {
      case: 'caller lacking the scope',
      input: { tool, callerGatewayScopes: ['mcp'] },
      want: { allowed: false, refusal: { reason: 'gateway_scope', needed: ['notes:admin'], missing: ['notes:admin'] } },
    },
  ])('$case', ({ input, want }) => {
    expect(decideCall(input)).toEqual(want);
  });

  it('a gateway-scope refusal is insufficient_scope with no authorize URL or provider', () => {
    const decision = decideCall({ tool, callerGatewayScopes: ['mcp'] });
    if (decision.allowed) throw new Error('expected a refusal');
    const err = refusalError(decision.refusal);
    expect(err).toBeInstanceOf(InsufficientScopeError);
    expect(err.toPayload('call-1')).toEqual({
      code: 'insufficient_scope',
      message: "The caller's token lacks gateway scopes this tool needs.",
      scopes: ['notes:admin'],
      missingScopes: ['notes:admin'],
      reason: 'gateway_scope',
      retryable: false,
      callId: 'call-1',
    });
  });
});
