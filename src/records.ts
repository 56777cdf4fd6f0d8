// Short-lived records (flows, links, sessions) under one key prefix of the shared store, apart from grants and secrets.

/** JSON values by key, with an optional TTL; `take` reads and deletes, and only one taker wins. */
export interface RecordStore {
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, ttlMs?: number): Promise<void>;
  /** Whether a record was there to delete. */
  delete(key: string): Promise<boolean>;
  /** The value, for exactly one of several concurrent callers; the others get undefined. */
  take<T>(key: string): Promise<T | undefined>;
}

/** What a prefixed view needs from the backend: its plain record calls (the grant store has them). */
export interface RecordBacking {
  getRecord<T>(key: string): Promise<T | undefined>;
  setRecord<T>(key: string, value: T, ttlMs?: number): Promise<void>;
  deleteRecord(key: string): Promise<boolean>;
}

/**
 * A view of `backing` that sees only keys under `prefix`. Whoever holds it cannot name a grant,
 * a cached credential or the signing key, because every key it names is prefixed.
 */
export function prefixedRecords(backing: RecordBacking, prefix: string): RecordStore {
  if (!/^[a-z][a-z0-9-]*:$/.test(prefix)) throw new TypeError('prefix: lowercase letters, digits and -, ending in ":"');
  const k = (key: string) => {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('record key: required');
    return `${prefix}${key}`;
  };
  return {
    get: (key) => backing.getRecord(k(key)),
    set: (key, value, ttlMs) => backing.setRecord(k(key), value, ttlMs),
    delete: (key) => backing.deleteRecord(k(key)),
    async take<T>(key: string) {
      const value = await backing.getRecord<T>(k(key));
      if (value === undefined) return undefined;
      // The backend's delete reports whether this caller removed it: of two racing takers, one wins.
      return (await backing.deleteRecord(k(key))) ? value : undefined;
    },
  };
}
