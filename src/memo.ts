// A promise shared by every caller until it settles well; a rejection is forgotten so the next caller tries again.

/**
 * Wraps `load` so that concurrent and later callers share one promise. A rejected promise is
 * dropped (only if it is still the current one, so a newer load is never cleared by an older failure).
 * `reset()` forgets a settled value, for a caller that knows it has gone stale.
 */
export function memoiseUnlessRejected<T>(load: () => Promise<T>): { get(): Promise<T>; reset(): void } {
  let current: Promise<T> | undefined;
  return {
    get() {
      if (!current) {
        const p = load();
        current = p;
        p.catch(() => {
          if (current === p) current = undefined;
        });
      }
      return current;
    },
    reset() {
      current = undefined;
    },
  };
}
