// The failure every token request ends in: which provider, what kind, whether it was delivered, and the OAuth error code.
import type { TokenFailureKind } from './types.js';

/**
 * Whether a failed token request reached the authorization server. Promise 6 rests on it: a
 * refresh token may be sent again only when the first request certainly never arrived.
 * - `not_sent`: it never left (connection refused, name not resolved, held back by the provider's
 *   Retry-After, or failed before any request). Safe to send again.
 * - `answered`: the server answered with a status; its verdict is known and final.
 * - `unknown`: it was (or may have been) sent and no verdict came back: a timeout, a connection
 *   cut, an abort after sending, a 2xx whose body cannot be read. The server may have acted on it,
 *   for example rotated the refresh token, so that token must be treated as possibly spent.
 */
export type TokenRequestDelivery = 'not_sent' | 'answered' | 'unknown';

/** A token request failed. The message names the provider and the OAuth error code, nothing more. */
export class TokenEndpointError extends Error {
  readonly provider: string;
  readonly kind: TokenFailureKind;
  readonly oauthError?: string;
  readonly status?: number;
  readonly retryAfterSeconds?: number;
  /** See TokenRequestDelivery. Default: `answered` with a status, else `unknown` (never assume "not sent"). */
  readonly delivery: TokenRequestDelivery;
  /** `delivery === 'unknown'`: the server may have processed it; never send the same refresh token again. */
  readonly maybeProcessed: boolean;
  /** What was asked ("refresh request", "token exchange request", ...), for messages. */
  readonly what: string;
  constructor(
    provider: string,
    kind: TokenFailureKind,
    detail: {
      oauthError?: string;
      status?: number;
      retryAfterSeconds?: number;
      what?: string;
      delivery?: TokenRequestDelivery;
    },
    options?: { cause?: unknown },
  ) {
    const facts: string[] = [kind];
    if (detail.oauthError) facts.push(detail.oauthError);
    if (detail.status !== undefined) facts.push(`HTTP ${detail.status}`);
    const what = detail.what ?? 'token request';
    super(`${what} to ${provider} failed (${facts.join(', ')})`, options);
    this.name = 'TokenEndpointError';
    this.provider = provider;
    this.kind = kind;
    this.oauthError = detail.oauthError;
    this.status = detail.status;
    this.retryAfterSeconds = detail.retryAfterSeconds;
    this.delivery = detail.delivery ?? (detail.status !== undefined ? 'answered' : 'unknown');
    this.maybeProcessed = this.delivery === 'unknown';
    this.what = what;
  }

  /** The same failure, telling the caller how long the gateway holds this provider back. */
  withRetryAfter(seconds: number): TokenEndpointError {
    return new TokenEndpointError(
      this.provider,
      this.kind,
      {
        oauthError: this.oauthError,
        status: this.status,
        retryAfterSeconds: seconds,
        what: this.what,
        delivery: this.delivery,
      },
      { cause: this.cause },
    );
  }
}
