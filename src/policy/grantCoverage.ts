// Grant coverage: can this stored grant serve a tool needing these scopes now, and if not, what must the user do?
import { type GatewayError, InsufficientScopeError, ReauthRequiredError } from '../errors.js';
import { missingScopes } from './scopes.js';

/** What coverage reads of a grant; the broker's Grant has these fields. */
export interface GrantView {
  status: string;
  /** Why a grant needs reauth, as the broker recorded it. */
  reason?: string;
  consentExpiresAt?: number;
  scopes: readonly string[];
}

export type GrantVerdict =
  | { serves: true }
  | {
      serves: false;
      code: 'reauth_required';
      /** The grant's state, which picks the message. */
      state: 'no_grant' | 'revoked' | 'needs_reauth' | 'consent_expired';
      /** What the agent is told as `reason`. */
      reason: 'no_grant' | 'revoked' | 'invalid_grant' | 'needs_reauth' | 'consent_expired';
      internal?: string;
    }
  | { serves: false; code: 'insufficient_scope'; missing: string[] };

export function judgeGrant(grant: GrantView | undefined, scopes: readonly string[], now: number): GrantVerdict {
  if (!grant) return { serves: false, code: 'reauth_required', state: 'no_grant', reason: 'no_grant' };
  if (grant.status === 'revoked')
    return { serves: false, code: 'reauth_required', state: 'revoked', reason: 'revoked' };
  if (grant.status === 'needs_reauth') {
    return {
      serves: false,
      code: 'reauth_required',
      state: 'needs_reauth',
      reason: grant.reason === 'invalid_grant' || grant.reason === 'revoked' ? grant.reason : 'needs_reauth',
      ...(grant.reason !== undefined ? { internal: grant.reason } : {}),
    };
  }
  if (grant.consentExpiresAt !== undefined && now >= grant.consentExpiresAt) {
    return { serves: false, code: 'reauth_required', state: 'consent_expired', reason: 'consent_expired' };
  }
  const missing = missingScopes(grant.scopes, scopes);
  return missing.length ? { serves: false, code: 'insufficient_scope', missing } : { serves: true };
}

function refusal(verdict: Exclude<GrantVerdict, { serves: true }>, provider: string, scopes: string[]): GatewayError {
  if (verdict.code === 'insufficient_scope') {
    return new InsufficientScopeError(`The ${provider} grant does not cover this tool's scopes.`, {
      provider,
      scopes,
      missingScopes: verdict.missing,
    });
  }
  const state = verdict.state;
  const details = {
    provider,
    scopes,
    reason: verdict.reason,
    ...(verdict.internal !== undefined ? { internal: verdict.internal } : {}),
  };
  switch (state) {
    case 'no_grant':
      return new ReauthRequiredError(`No ${provider} access has been granted for this user yet.`, details);
    case 'revoked':
      return new ReauthRequiredError(`The ${provider} grant was revoked; access must be granted again.`, details);
    case 'needs_reauth':
      return new ReauthRequiredError(
        `The ${provider} grant is no longer valid; access must be granted again.`,
        details,
      );
    case 'consent_expired':
      return new ReauthRequiredError(
        `The user's consent for ${provider} has expired; it must be given again.`,
        details,
      );
  }
  const _exhaustive: never = state;
  return _exhaustive;
}

/**
 * Returns the grant when it can serve a tool needing `scopes` at `now`; otherwise throws what the
 * agent must be told: no grant, revoked, needs reauth, consent expired, or scopes missing.
 */
export function assertGrantServes<G extends GrantView>(
  grant: G | undefined,
  provider: string,
  scopes: string[],
  now: number,
): G {
  const verdict = judgeGrant(grant, scopes, now);
  if (!verdict.serves) throw refusal(verdict, provider, scopes);
  return grant as G;
}
