// Bounded retry of token requests that certainly never reached the provider, with backoff and full jitter, within a deadline.
import { type Clock, sleep, systemClock } from '../../clock.js';
import { TokenEndpointError } from '../../providers/types.js';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** The whole budget for one refresh or exchange, retries included. */
  budgetMs: number;
  /** Told to the agent when the provider gave no Retry-After. */
  defaultRetryAfterSeconds: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  attempts: 3,
  baseDelayMs: 200,
  maxDelayMs: 2_000,
  budgetMs: 15_000,
  defaultRetryAfterSeconds: 5,
};

/**
 * Only a request that never left may be sent again (promise 6). A timeout or a cut connection may
 * have been processed, and sending the same refresh token twice costs the grant. A provider's
 * answer (5xx, 429) is not retried here either: the provider's hold answers the call at once.
 */
export function isSafeToRetry(err: unknown): err is TokenEndpointError {
  return (
    err instanceof TokenEndpointError &&
    err.kind === 'transient' &&
    err.delivery === 'not_sent' &&
    err.retryAfterSeconds === undefined
  );
}

/** Retries `fn` while it fails before sending, never past the deadline or an abort. */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy,
  opts: { signal?: AbortSignal; random?: () => number; clock?: Clock } = {},
): Promise<T> {
  const clock = opts.clock ?? systemClock;
  const deadline = clock.now() + policy.budgetMs;
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isSafeToRetry(err) || attempt >= policy.attempts || opts.signal?.aborted) throw err;
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      const delay = Math.round(ceiling * (0.5 + random() / 2));
      if (clock.now() + delay >= deadline) throw err;
      await sleep(clock, delay, opts.signal);
      if (opts.signal?.aborted) throw err;
    }
  }
}
