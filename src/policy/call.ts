// The policy step of a tool call: everything decided from the caller and the tool before a credential is sought.
import { type GatewayError, InsufficientScopeError } from '../errors.js';
import { gatewayScopeDecision } from './gatewayScopes.js';

export interface CallPolicyInput {
  /** The inbound token's scopes; undefined where no token was verified (stdio). */
  callerGatewayScopes?: readonly string[];
  tool: { name: string; gatewayScopes?: readonly string[] };
}

/** Why a call may not go ahead. Approvals and allow/deny rules (issue 11) add their reasons here. */
export type CallRefusal = { reason: 'gateway_scope'; needed: string[]; missing: string[] };

export type CallDecision = { allowed: true } | { allowed: false; refusal: CallRefusal };

export function decideCall(input: CallPolicyInput): CallDecision {
  const scopes = gatewayScopeDecision(input.callerGatewayScopes, input.tool.gatewayScopes);
  if (!scopes.allowed) {
    return { allowed: false, refusal: { reason: 'gateway_scope', needed: scopes.needed, missing: scopes.missing } };
  }
  return { allowed: true };
}

/** What the agent is told for a refusal. */
export function refusalError(refusal: CallRefusal): GatewayError {
  const reason = refusal.reason;
  switch (reason) {
    case 'gateway_scope':
      // No authorize URL: the inbound token's scopes come from the client's own authorization server.
      return new InsufficientScopeError(`The caller's token lacks gateway scopes this tool needs.`, {
        scopes: refusal.needed,
        missingScopes: refusal.missing,
        reason: 'gateway_scope',
      });
  }
  const _exhaustive: never = reason;
  return _exhaustive;
}
