// The in-process refresh lock: a FIFO queue per key, for the memory: store (one process, nothing shared).
import type { LockHold, RefreshLock } from '../types.js';
import { lockBusy, type RefreshLockOptions, reportWait, resolveTimes } from './common.js';

/**
 * Each caller chains onto the previous caller's link. A waiter that gives up resolves its own
 * link at once, so those behind it wait for the holder ahead of it and for nobody else.
 */
export function createMemoryLock(opts: RefreshLockOptions = {}): RefreshLock {
  const tails = new Map<string, Promise<void>>();

  return {
    async withLock<T>(key: string, fn: (hold: LockHold) => Promise<T>, call?: { waitMs?: number; ttlMs?: number }) {
      const { waitMs } = resolveTimes(opts, call);
      const started = performance.now();
      const ahead = tails.get(key) ?? Promise.resolve();
      let releaseMine!: () => void;
      const mine = new Promise<void>((resolve) => {
        releaseMine = resolve;
      });
      const tail = ahead.then(() => mine);
      tails.set(key, tail);
      // Forget the key once the queue has drained through us; a later caller may have chained on.
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });

      let timer: NodeJS.Timeout | undefined;
      const gotIt = await Promise.race([
        ahead.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), waitMs);
        }),
      ]);
      clearTimeout(timer);
      const waitedMs = performance.now() - started;
      reportWait(opts, { backend: 'memory', key, waitedMs, acquired: gotIt });
      if (!gotIt) {
        // Our link still waits for the holder ahead, so whoever queued behind us keeps waiting too.
        releaseMine();
        throw lockBusy(key, waitedMs);
      }
      const kept: Promise<unknown>[] = [];
      // Nothing else can take a lock that lives in this process: it is held until released.
      const hold: LockHold = {
        confirm: async () => undefined,
        keepUntil: (work) => void kept.push(work.catch(() => undefined)),
      };
      try {
        return await fn(hold);
      } finally {
        if (kept.length > 0) void Promise.all(kept).then(releaseMine);
        else releaseMine();
      }
    },
    async close() {},
  };
}
