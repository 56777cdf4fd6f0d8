// The RFC 6749 reading of a token endpoint response; presets wrap it with their provider's quirks.
import type { TokenFailureKind, TokenResponseVerdict, TokenResponseView } from './types.js';

/** OAuth error codes that mean "try again later" rather than "this grant is over". */
const TRANSIENT_ERRORS = new Set(['temporarily_unavailable', 'server_error', 'slow_down']);

export function failureOfError(error: string, status: number): TokenFailureKind {
  if (error === 'invalid_grant') return 'dead';
  if (error === 'invalid_scope') return 'invalid_scope';
  if (TRANSIENT_ERRORS.has(error) || status >= 500 || status === 429) return 'transient';
  return 'rejected';
}

/**
 * RFC 6749 s.5.2: an error is a 4xx with `error`. A 5xx, a 429, or a body that is neither a
 * token response nor an error is transient: the grant must not be touched for it.
 */
export function classifyStandard(view: TokenResponseView): TokenResponseVerdict {
  const { status, body } = view;
  const error = typeof body?.error === 'string' ? body.error : undefined;
  if (status >= 500 || status === 429) return { ok: false, kind: 'transient', error };
  if (error) return { ok: false, kind: failureOfError(error, status), error };
  if (status >= 200 && status < 300 && typeof body?.access_token === 'string' && body.access_token) return { ok: true };
  // A 2xx without a token, or a 4xx without an OAuth error: malformed, so not a verdict on the grant.
  return { ok: false, kind: 'transient', error: status >= 400 ? `http_${status}` : 'malformed_response' };
}

/** Builds a classifier for a provider whose dead refresh token has its own error code. */
export function classifyWithDeadCodes(deadCodes: readonly string[]) {
  const dead = new Set(deadCodes);
  return (view: TokenResponseView): TokenResponseVerdict => {
    const error = typeof view.body?.error === 'string' ? view.body.error : undefined;
    // A server error or a rate limit is transient whatever its body says: the grant is not judged on it.
    if (view.status >= 500 || view.status === 429) return classifyStandard(view);
    // Checked before the rest of the status: GitHub answers 200 with an error body.
    if (error && dead.has(error)) return { ok: false, kind: 'dead', error };
    if (error && view.status >= 200 && view.status < 300) {
      return { ok: false, kind: failureOfError(error, 400), error };
    }
    return classifyStandard(view);
  };
}
