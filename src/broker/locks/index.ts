// Picks the refresh lock that matches the store URL: one refresh per grant, across every process sharing it.
import { parseStoreUrl } from '../backends.js';
import type { RefreshLock } from '../types.js';
import type { RefreshLockOptions } from './common.js';
import { createMemoryLock } from './memory.js';
import { createPostgresLock } from './postgres.js';
import { createRedisLock } from './redis.js';
import { createSqliteLock } from './sqlite.js';

export type { LockWaitInfo, RefreshLockOptions } from './common.js';
export { DEFAULT_TTL_MS, DEFAULT_WAIT_MS } from './common.js';
export { createMemoryLock } from './memory.js';
export { advisoryKey, createPostgresLock } from './postgres.js';
export { createRedisLock } from './redis.js';
export { createSqliteLock, lockFileFor } from './sqlite.js';

/**
 * `memory:` and `sqlite::memory:` live in one process, so an in-process queue is enough; every
 * other store is shared, and its lock holds across processes and instances.
 */
export async function createRefreshLock(storeUrl: string, opts: RefreshLockOptions = {}): Promise<RefreshLock> {
  const location = parseStoreUrl(storeUrl);
  switch (location.backend) {
    case 'memory':
      return createMemoryLock(opts);
    case 'sqlite':
      return location.path === ':memory:' ? createMemoryLock(opts) : createSqliteLock(location.path, opts);
    case 'redis':
      return createRedisLock(location.url, opts);
    case 'postgres':
      return createPostgresLock(location.url, location.schema, opts);
  }
}
