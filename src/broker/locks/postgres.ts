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
 * checks that the session is still alive; a session that died (a server restart,
 * pg_terminate_backend) is a lost lock, never a crash: its connection's 'error' is listened for.
 * A lost session cannot matter to the grant either, since every grant write is fenced by its
 * generation. The key includes the schema, so gateways that share a database but not a schema do
 * not wait on each other.
 */
export async function createPostgresLock(
  url: string,
  schema: string,
  opts: RefreshLockOptions = {},
): Promise<RefreshLock> {
  const pool = await openPostgresPool(
    url,
    (err) => opts.logger?.warn({ err: err.message }, 'postgres lock pool error'),
    // Each held lock keeps a connection for the length of a refresh.
    16,
  );
  const held = new Map<string, { client: PoolClient; id: string; dead?: string; onError: (err: Error) => void }>();
  const sessionKey = (key: string, owner: string) => `${key}\u0000${owner}`;

  return createDistributedLock(
    {
      name: 'postgres',
      async tryAcquire(key, owner) {
        const id = advisoryKey(`${schema}:${key}`);
        // Waiting does not hold a connection: one is taken per attempt and kept only on success.
        const client = await pool.connect();
        // A checked-out client has no pool listener: without this, its server going away ends the process.
        const session: { client: PoolClient; id: string; dead?: string; onError: (err: Error) => void } = {
          client,
          id,
          onError: (err) => {
            session.dead = err.message;
            opts.logger?.warn({ key, err: err.message }, 'postgres lock session ended');
          },
        };
        client.on('error', session.onError);
        try {
          const { rows } = await client.query<{ locked: boolean }>(
            'SELECT pg_try_advisory_lock($1::bigint) AS locked',
            [id],
          );
          if (rows[0]?.locked) {
            held.set(sessionKey(key, owner), session);
            return true;
          }
          client.off('error', session.onError);
          client.release();
          return false;
        } catch (err) {
          // Destroyed, so a late 'error' from this connection has nowhere to go but our listener.
          client.release(true);
          throw err;
        }
      },
      async renew(key, owner) {
        const session = held.get(sessionKey(key, owner));
        if (!session || session.dead) return false;
        try {
          await session.client.query('SELECT 1');
        } catch (err) {
          session.dead ??= (err as Error).message;
          return false;
        }
        return !session.dead;
      },
      async release(key, owner) {
        const session = held.get(sessionKey(key, owner));
        if (!session) return;
        held.delete(sessionKey(key, owner));
        if (session.dead) {
          // The server already freed the lock with the session.
          session.client.release(true);
          return;
        }
        try {
          await session.client.query('SELECT pg_advisory_unlock($1::bigint)', [session.id]);
          session.client.off('error', session.onError);
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
