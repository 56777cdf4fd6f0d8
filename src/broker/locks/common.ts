// What every refresh lock shares: options, the busy error, wait metrics, and the backend seam.
import type { Clock } from '../../clock.js';
import { StoreUnavailableError } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { StoreBackend } from '../backends.js';
import { STORE_RETRY_AFTER_SECONDS } from '../errorBoundary.js';

export const DEFAULT_WAIT_MS = 10_000;
export const DEFAULT_TTL_MS = 15_000;

export interface LockWaitInfo {
  backend: StoreBackend;
  key: string;
  waitedMs: number;
  acquired: boolean;
}

export interface RefreshLockOptions {
  /** Observes `lockWait` (seconds, label `backend`) for every acquisition and every give-up. */
  metrics?: Pick<Metrics, 'lockWait'>;
  onWait?: (info: LockWaitInfo) => void;
  /** Lost locks and failed releases are logged here. */
  logger?: Logger;
  /** Keeps several gateways (or test runs) apart in one backend. Default `keyward`. */
  namespace?: string;
  /** Used when a call passes no `waitMs`. Default 10 000. */
  defaultWaitMs?: number;
  /** Used when a call passes no `ttlMs`. Default 15 000. */
  defaultTtlMs?: number;
  /** Lease times are read from it, so tests advance time instead of sleeping. Default the system clock. */
  clock?: Clock;
}

export function lockBusy(key: string, waitedMs: number): StoreUnavailableError {
  return new StoreUnavailableError('refresh lock busy', {
    retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
    internal: `lock ${key} not acquired after ${Math.round(waitedMs)} ms`,
  });
}

/** The holder no longer holds the lock: it must stop before it presents a refresh token. */
export function lockLost(key: string, why: string): StoreUnavailableError {
  return new StoreUnavailableError('refresh lock lost', {
    retryAfterSeconds: 1,
    internal: `lock ${key} lost: ${why}`,
  });
}

export function reportWait(opts: RefreshLockOptions, info: LockWaitInfo): void {
  opts.metrics?.lockWait.labels({ backend: info.backend }).observe(info.waitedMs / 1000);
  opts.onWait?.(info);
}

export function resolveTimes(
  opts: RefreshLockOptions,
  call: { waitMs?: number; ttlMs?: number } | undefined,
): { waitMs: number; ttlMs: number } {
  const waitMs = call?.waitMs ?? opts.defaultWaitMs ?? DEFAULT_WAIT_MS;
  const ttlMs = call?.ttlMs ?? opts.defaultTtlMs ?? DEFAULT_TTL_MS;
  if (!(waitMs >= 0)) throw new TypeError('waitMs: a non-negative number of milliseconds');
  if (!(ttlMs >= 100)) throw new TypeError('ttlMs: at least 100 milliseconds');
  return { waitMs, ttlMs };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** One backend's primitive operations; each either answers or throws a driver error. */
export interface LockBackend {
  readonly name: StoreBackend;
  /** Takes `key` for `owner` if it is free or its holder's lease has lapsed. */
  tryAcquire(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Extends the lease; false when `owner` no longer holds `key`. */
  renew(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Lets go of `key` only if `owner` still holds it. */
  release(key: string, owner: string): Promise<void>;
  close(): Promise<void>;
}
