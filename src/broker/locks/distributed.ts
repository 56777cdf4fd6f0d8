// A refresh lock over a shared backend: a lease polled for, renewed, confirmed before use and released.
import { randomUUID } from 'node:crypto';
import { storeUnavailable } from '../backends.js';
import type { LockHold, RefreshLock } from '../types.js';
import {
  type LockBackend,
  lockBusy,
  lockLost,
  type RefreshLockOptions,
  reportWait,
  resolveTimes,
  sleep,
} from './common.js';

/**
 * A RefreshLock over a backend. Every caller polls the backend itself, so the wait limit is the
 * one limit (in-process coalescing is single-flight's job, one promise per grant). The holder
 * renews its lease while `fn` runs; `confirm()` renews once more and fails if the lease passed to
 * another owner (or the backend cannot say), so a holder frozen past its lease stops before it uses a token.
 */
export function createDistributedLock(backend: LockBackend, opts: RefreshLockOptions): RefreshLock {
  const namespace = opts.namespace ?? 'keyward';
  let closed = false;

  return {
    async withLock<T>(key: string, fn: (hold: LockHold) => Promise<T>, call?: { waitMs?: number; ttlMs?: number }) {
      const { waitMs, ttlMs } = resolveTimes(opts, call);
      if (closed) throw storeUnavailable(backend.name, 'refresh lock', new Error('the lock is closed'));
      const started = performance.now();
      const deadline = started + waitMs;
      const backendKey = `${namespace}:lock:${key}`;
      const report = (acquired: boolean) =>
        reportWait(opts, { backend: backend.name, key, waitedMs: performance.now() - started, acquired });

      const owner = randomUUID();
      let delay = 4;
      for (;;) {
        let acquired: boolean;
        try {
          acquired = await backend.tryAcquire(backendKey, owner, ttlMs);
        } catch (err) {
          report(false);
          opts.logger?.warn({ key, backend: backend.name, err: (err as Error).message }, 'refresh lock backend error');
          throw storeUnavailable(backend.name, 'refresh lock', err);
        }
        if (acquired) break;
        const left = deadline - performance.now();
        if (left <= 0) {
          report(false);
          throw lockBusy(key, performance.now() - started);
        }
        // Jitter keeps several processes from polling in step.
        await sleep(Math.min(left, delay + Math.random() * delay));
        delay = Math.min(delay * 1.6, 100);
      }
      report(true);

      let lost: string | undefined;
      const markLost = (why: string) => {
        if (lost) return;
        lost = why;
        opts.logger?.warn({ key, backend: backend.name, why }, 'refresh lock lease lost while its holder ran');
      };
      const renewNow = async (): Promise<void> => {
        const held = await backend.renew(backendKey, owner, ttlMs);
        if (!held) markLost('another owner holds it, or its session ended');
      };
      const renewal = setInterval(
        () => {
          renewNow().catch((err: unknown) =>
            opts.logger?.warn(
              { key, backend: backend.name, err: (err as Error).message },
              'refresh lock renewal failed',
            ),
          );
        },
        Math.max(50, Math.floor(ttlMs / 3)),
      );
      renewal.unref();

      const kept: Promise<unknown>[] = [];
      const hold: LockHold = {
        // The backend's answer is authoritative: a lease that lapsed but that nobody took is still
        // ours (nobody could have refreshed meanwhile), and one that another owner took is not.
        async confirm() {
          if (!lost) {
            try {
              await renewNow();
            } catch (err) {
              // Unknown is not "held": a holder that cannot prove it holds the lock must not go on.
              markLost(`renewal failed: ${(err as Error).message}`);
            }
          }
          if (lost) throw lockLost(key, lost);
        },
        keepUntil(work) {
          kept.push(work.catch(() => undefined));
        },
      };

      const release = async () => {
        clearInterval(renewal);
        // A release that fails leaves the lease to lapse after ttlMs; fn's outcome stands.
        await backend
          .release(backendKey, owner)
          .catch((err: unknown) =>
            opts.logger?.warn(
              { key, backend: backend.name, err: (err as Error).message },
              'refresh lock release failed',
            ),
          );
      };
      try {
        return await fn(hold);
      } finally {
        if (kept.length > 0) void Promise.all(kept).then(release);
        else await release();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await backend.close();
    },
  };
}
