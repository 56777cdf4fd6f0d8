// A refresh lock over a shared backend: a local queue, then a lease polled for, renewed and released.
import { randomUUID } from 'node:crypto';
import { storeUnavailable } from '../backends.js';
import type { RefreshLock } from '../types.js';
import { type LockBackend, lockBusy, type RefreshLockOptions, reportWait, resolveTimes, sleep } from './common.js';
import { createMemoryLock } from './memory.js';

/**
 * A RefreshLock over a backend. Waiters in this process queue locally first, so that only one of
 * them polls the backend; the holder renews its lease while `fn` runs, so a long refresh is not
 * taken over, and a crashed holder's lease lapses after `ttlMs`.
 */
export function createDistributedLock(backend: LockBackend, opts: RefreshLockOptions): RefreshLock {
  const local = createMemoryLock({});
  const namespace = opts.namespace ?? 'keyward';
  let closed = false;

  return {
    async withLock<T>(key: string, fn: () => Promise<T>, call?: { waitMs?: number; ttlMs?: number }): Promise<T> {
      const { waitMs, ttlMs } = resolveTimes(opts, call);
      if (closed) throw storeUnavailable(backend.name, 'refresh lock', new Error('the lock is closed'));
      const started = performance.now();
      const deadline = started + waitMs;
      const backendKey = `${namespace}:lock:${key}`;
      const report = (acquired: boolean) =>
        reportWait(opts, { backend: backend.name, key, waitedMs: performance.now() - started, acquired });

      const holdAcrossProcesses = async (): Promise<T> => {
        const owner = randomUUID();
        let delay = 4;
        for (;;) {
          let acquired: boolean;
          try {
            acquired = await backend.tryAcquire(backendKey, owner, ttlMs);
          } catch (err) {
            report(false);
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

        let lost = false;
        const renewal = setInterval(
          () => {
            backend.renew(backendKey, owner, ttlMs).then(
              (held) => {
                if (!held && !lost) {
                  lost = true;
                  opts.logger?.warn({ key, backend: backend.name }, 'refresh lock lease lost while its holder ran');
                }
              },
              (err: unknown) =>
                opts.logger?.warn(
                  { key, backend: backend.name, err: (err as Error).message },
                  'refresh lock renewal failed',
                ),
            );
          },
          Math.max(50, Math.floor(ttlMs / 3)),
        );
        renewal.unref();
        try {
          return await fn();
        } finally {
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
        }
      };

      let reachedBackend = false;
      try {
        return await local.withLock(
          key,
          () => {
            reachedBackend = true;
            return holdAcrossProcesses();
          },
          { waitMs, ttlMs },
        );
      } catch (err) {
        // The local queue gave up before the backend saw this call: still a wait to report.
        if (!reachedBackend) report(false);
        throw err;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await backend.close();
    },
  };
}
