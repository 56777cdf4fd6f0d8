// An API's refusal, judged: a missing scope the user can grant, a rate limit to wait out, or a plain failure.
import { missingScopes } from './scopes.js';

/** What was read from a non-2xx answer (src/downstream/classify.ts parses; this decides). */
export interface ApiRefusalSignals {
  status: number;
  /** An RFC 6750 `insufficient_scope` challenge, or a provider's own marker for it in the body. */
  scopeInsufficient: boolean;
  /** The scopes the challenge names, when it names any: the API's text, not yet trusted. */
  challengeScopes?: string[];
  /** A provider's rate-limit marker on a 403 (GitHub's remaining 0, Google's rateLimitExceeded). */
  rateLimitMarker: boolean;
}

export type ApiRefusal =
  | { kind: 'insufficient_scope'; scopes: string[]; missing: string[] }
  | { kind: 'rate_limited'; status: 429 }
  | { kind: 'failed'; status: number };

export interface ApiRefusalContext {
  /** What the credential that was refused holds. */
  grantedScopes: readonly string[];
  toolScopes: readonly string[];
  /** Scopes the provider's config knows: a challenged scope counts only if it is one of these or the tool's. */
  knownScopes: readonly string[];
}

export function judgeApiRefusal(signals: ApiRefusalSignals, ctx: ApiRefusalContext): ApiRefusal {
  if (signals.status === 403 && signals.scopeInsufficient) {
    // A scope the API names reaches the agent and a connect link only if the config knows it, so an
    // API cannot smuggle a token (or anything else) into the error through the challenge.
    const known = new Set([...ctx.knownScopes, ...ctx.toolScopes]);
    const challenged = (signals.challengeScopes ?? []).filter((s) => known.has(s));
    const wanted = challenged.length ? challenged : [...ctx.toolScopes];
    const missing = missingScopes(ctx.grantedScopes, wanted);
    // The credential may already hold what the API names (a stale grant on the API's side): ask for it all again.
    return { kind: 'insufficient_scope', scopes: wanted, missing: missing.length ? missing : wanted };
  }
  // Some APIs say "rate limited" with a 403; the agent is told 429, which is what it means.
  if (signals.status === 429 || (signals.status === 403 && signals.rateLimitMarker)) {
    return { kind: 'rate_limited', status: 429 };
  }
  return { kind: 'failed', status: signals.status };
}
