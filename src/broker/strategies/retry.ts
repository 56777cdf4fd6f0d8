// Bounded retry of transient provider failures, with exponential backoff and full jitter, within a deadline.
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

function isTransient(err: unknown): err is TokenEndpointError {
  return err instanceof TokenEndpointError && err.kind === 'transient';
}

/** Retries `fn` while it fails transiently, never past the deadline or an abort. */
export async function retryTransient<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy,
  opts: { signal?: AbortSignal; random?: () => number } = {},
): Promise<T> {
  const deadline = Date.now() + policy.budgetMs;
  const random = opts.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || attempt >= policy.attempts || opts.signal?.aborted) throw err;
      const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      // A Retry-After longer than the budget allows ends the retries here.
      const hinted = err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : 0;
      const delay = Math.max(hinted, Math.round(ceiling * (0.5 + random() / 2)));
      if (Date.now() + delay >= deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
