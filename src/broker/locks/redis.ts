// The refresh lock for gateways sharing Redis: SET NX PX with an owner token, released and renewed by Lua.
import { closeRedis, openRedis, type RedisConnection, withTimeout } from '../backends.js';
import type { RefreshLock } from '../types.js';
import type { RefreshLockOptions } from './common.js';
import { createDistributedLock } from './distributed.js';

// Compare-and-delete and compare-and-extend: a holder whose lease lapsed and was taken over
// must not delete or extend the new holder's lease.
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/** A server that stops answering (not one that refuses) would otherwise hold a call forever. */
const COMMAND_TIMEOUT_MS = 5000;

export async function createRedisLock(url: string, opts: RefreshLockOptions = {}): Promise<RefreshLock> {
  const client: RedisConnection = await openRedis(url, (err) =>
    opts.logger?.debug({ err: err.message }, 'redis lock connection error'),
  );
  return createDistributedLock(
    {
      name: 'redis',
      async tryAcquire(key, owner, ttlMs) {
        // If this times out but lands later, the lease is ours unknowingly and lapses after ttlMs.
        const reply = await withTimeout(
          client.set(key, owner, { condition: 'NX', expiration: { type: 'PX', value: Math.ceil(ttlMs) } }),
          COMMAND_TIMEOUT_MS,
          'redis SET NX',
        );
        return reply === 'OK';
      },
      async renew(key, owner, ttlMs) {
        const reply = await withTimeout(
          client.eval(RENEW, { keys: [key], arguments: [owner, String(Math.ceil(ttlMs))] }),
          COMMAND_TIMEOUT_MS,
          'redis renew',
        );
        return Number(reply) === 1;
      },
      async release(key, owner) {
        await withTimeout(
          client.eval(RELEASE, { keys: [key], arguments: [owner] }),
          COMMAND_TIMEOUT_MS,
          'redis release',
        );
      },
      close: () => closeRedis(client),
    },
    opts,
  );
}
