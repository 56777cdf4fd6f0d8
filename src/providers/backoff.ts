// A provider's "wait" (Retry-After, a 5xx, a 429) held for every later token request to it, not just passed on.
import type { Clock } from '../clock.js';
import { TokenEndpointError } from './types.js';

export interface BackoffPolicy {
  /** The hold after a 5xx or 429 that names no Retry-After; doubled for each one in a row. */
  defaultSeconds: number;
  /** The doubling stops here. */
  maxDefaultSeconds: number;
  /** A Retry-After beyond this is read as this: a typo in a proxy must not stop a provider for a day. */
  maxSeconds: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { defaultSeconds: 2, maxDefaultSeconds: 60, maxSeconds: 900 };

/**
 * OAuth errors by which a server says "later" without a 5xx (RFC 6749 s.5.2). Not `slow_down`:
 * in a device grant it is about one device code's polling, not the provider as a whole.
 */
const WAIT_ERRORS = new Set(['temporarily_unavailable']);

export interface ProviderBackoff {
  /** Throws a not-sent, transient TokenEndpointError carrying the seconds left, while held. */
  assertOpen(what: string): void;
  /**
   * Learns from a failed request. Returns the error to throw: the same one, or, when this failure
   * starts a hold it did not name, one that tells the caller how long the hold is.
   */
  failed(err: TokenEndpointError): TokenEndpointError;
  /** A request went through: the next 5xx starts from the default again. */
  succeeded(): void;
  /** Seconds until token requests may go again; 0 when they may. */
  remainingSeconds(): number;
}

/** Per provider, in this process, across calls: every token request to it checks this first. */
export function createProviderBackoff(
  provider: string,
  clock: Clock,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): ProviderBackoff {
  let until = 0;
  let strikes = 0;

  const remainingMs = () => Math.max(0, until - clock.now());

  return {
    remainingSeconds: () => Math.ceil(remainingMs() / 1000),
    assertOpen(what) {
      const left = remainingMs();
      if (left <= 0) return;
      throw new TokenEndpointError(provider, 'transient', {
        oauthError: 'held_back',
        retryAfterSeconds: Math.ceil(left / 1000),
        what,
        delivery: 'not_sent',
      });
    },
    failed(err) {
      if (err.kind !== 'transient' || err.delivery !== 'answered') return err;
      const status = err.status ?? 0;
      const asked = err.retryAfterSeconds !== undefined;
      const wait = status >= 500 || status === 429 || (err.oauthError !== undefined && WAIT_ERRORS.has(err.oauthError));
      if (!wait && !asked) return err;
      strikes++;
      const seconds = asked
        ? Math.min(err.retryAfterSeconds!, policy.maxSeconds)
        : Math.min(policy.defaultSeconds * 2 ** (strikes - 1), policy.maxDefaultSeconds);
      // A later, shorter answer never shortens a hold already promised to callers.
      until = Math.max(until, clock.now() + seconds * 1000);
      return asked && seconds === err.retryAfterSeconds ? err : err.withRetryAfter(seconds);
    },
    succeeded() {
      strikes = 0;
    },
  };
}
