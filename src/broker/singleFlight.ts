// In-process coalescing: one promise per key for concurrent callers.

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
