// In-process coalescing: one promise per key for concurrent callers, and a per-key queue for work that must not overlap.

export interface SingleFlight {
  /**
   * Runs `fn` unless a run for `key` is already in flight, in which case the caller joins it.
   * `onJoin` fires for every caller that joined instead of running.
   */
  run<T>(key: string, fn: () => Promise<T>, onJoin?: () => void): Promise<T>;
  readonly size: number;
}

export function createSingleFlight(): SingleFlight {
  const inflight = new Map<string, Promise<unknown>>();
  return {
    run<T>(key: string, fn: () => Promise<T>, onJoin?: () => void): Promise<T> {
      const existing = inflight.get(key);
      if (existing) {
        onJoin?.();
        return existing as Promise<T>;
      }
      const p: Promise<T> = Promise.resolve()
        .then(fn)
        .finally(() => {
          // Only our own promise: a later run may already have replaced it.
          if (inflight.get(key) === p) inflight.delete(key);
        });
      inflight.set(key, p);
      return p;
    },
    get size() {
      return inflight.size;
    },
  };
}

/** Runs work for one key strictly one after another (in this process), in arrival order. */
export interface KeyedQueue {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

export function createKeyedQueue(): KeyedQueue {
  const tails = new Map<string, Promise<void>>();
  return {
    run<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const prev = tails.get(key) ?? Promise.resolve();
      const result = prev.then(fn);
      const tail = result.then(
        () => undefined,
        () => undefined,
      );
      tails.set(key, tail);
      void tail.then(() => {
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
  };
}
