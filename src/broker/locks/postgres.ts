// The refresh lock for gateways sharing Postgres: a session advisory lock on a connection held while fn runs.
import { createHash } from 'node:crypto';
import type { PoolClient } from 'pg';
import { openPostgresPool } from '../backends.js';
import type { RefreshLock } from '../types.js';
import type { RefreshLockOptions } from './common.js';
import { createDistributedLock } from './distributed.js';

/** Advisory locks are keyed by one bigint per database: the first 8 bytes of sha256, signed. */
export function advisoryKey(key: string): string {
  return createHash('sha256').update(key).digest().readBigInt64BE(0).toString();
}

/**
 * The lock lives as long as the session that took it: a crashed holder's connection closes and
 * the server frees the lock at once, so there is no lease to renew or to expire. Renewal only
 * checks that the session is still alive. The key includes the schema, so gateways that share a
 * database but not a schema do not wait on each other.
 */
export async function createPostgresLock(
  url: string,
  schema: string,
  opts: RefreshLockOptions = {},
): Promise<RefreshLock> {
  const pool = await openPostgresPool(
    url,
    (err) => opts.logger?.debug({ err: err.message }, 'postgres lock pool error'),
    // Each held lock keeps a connection for the length of a refresh.
    16,
  );
  const held = new Map<string, { client: PoolClient; id: string }>();
  const sessionKey = (key: string, owner: string) => `${key}\u0000${owner}`;

  return createDistributedLock(
    {
      name: 'postgres',
      async tryAcquire(key, owner) {
        const id = advisoryKey(`${schema}:${key}`);
        // Waiting does not hold a connection: one is taken per attempt and kept only on success.
        const client = await pool.connect();
        try {
          const { rows } = await client.query<{ locked: boolean }>(
            'SELECT pg_try_advisory_lock($1::bigint) AS locked',
            [id],
          );
          if (rows[0]?.locked) {
            held.set(sessionKey(key, owner), { client, id });
            return true;
          }
          client.release();
          return false;
        } catch (err) {
          client.release(true);
          throw err;
        }
      },
      async renew(key, owner) {
        const session = held.get(sessionKey(key, owner));
        if (!session) return false;
        await session.client.query('SELECT 1');
        return true;
      },
      async release(key, owner) {
        const session = held.get(sessionKey(key, owner));
        if (!session) return;
        held.delete(sessionKey(key, owner));
        try {
          await session.client.query('SELECT pg_advisory_unlock($1::bigint)', [session.id]);
          session.client.release();
        } catch (err) {
          // Destroying the connection ends the session, which frees the lock on the server.
          session.client.release(true);
          throw err;
        }
      },
      async close() {
        for (const { client } of held.values()) client.release(true);
        held.clear();
        await pool.end();
      },
    },
    opts,
  );
}
