// The refresh lock for processes on one machine sharing the embedded sqlite store: a lease row in a sibling file.

import { systemClock } from '../../clock.js';
import { pathExists, restrictIfCreated } from '../ownFile.js';
import type { RefreshLock } from '../types.js';
import type { RefreshLockOptions } from './common.js';
import { createDistributedLock } from './distributed.js';

/**
 * The lock rows live in `<store file>-locks`, not in the store file itself: @keyv/sqlite drives the
 * store through node-sqlite3, and two SQLite libraries holding POSIX locks on one file in one
 * process can release each other's locks (sqlite.org/howtocorrupt.html, 2.2.1).
 */
export function lockFileFor(storePath: string): string {
  return `${storePath}-locks`;
}

export async function createSqliteLock(storePath: string, opts: RefreshLockOptions = {}): Promise<RefreshLock> {
  const { default: Database } = await import('better-sqlite3');
  const file = lockFileFor(storePath);
  const existedBefore = await pathExists(file);
  const db = new Database(file);
  // better-sqlite3 blocks the event loop while SQLite waits on a busy file, so the wait is kept
  // short and a busy answer just means "poll again".
  db.pragma('busy_timeout = 100');
  try {
    db.pragma('journal_mode = WAL');
  } catch {
    // Another process switching the mode at the same moment; the mode it picks is fine too.
  }
  db.exec(
    'CREATE TABLE IF NOT EXISTS keyward_locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL)',
  );
  await restrictIfCreated(file, existedBefore);

  // One statement each, so each is its own short transaction: take the row if it is absent or its
  // lease has lapsed (a crashed holder), extend it only while we own it, delete it only if ours.
  const acquire = db.prepare(
    `INSERT INTO keyward_locks (key, owner, expires_at) VALUES (@key, @owner, @expiresAt)
     ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
     WHERE keyward_locks.expires_at <= @now`,
  );
  const renew = db.prepare('UPDATE keyward_locks SET expires_at = @expiresAt WHERE key = @key AND owner = @owner');
  const release = db.prepare('DELETE FROM keyward_locks WHERE key = @key AND owner = @owner');

  const clock = opts.clock ?? systemClock;
  const busy = (err: unknown) => {
    const code = (err as { code?: string }).code ?? '';
    return code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED';
  };

  return createDistributedLock(
    {
      name: 'sqlite',
      async tryAcquire(key, owner, ttlMs) {
        const now = clock.now();
        try {
          return acquire.run({ key, owner, expiresAt: now + ttlMs, now }).changes === 1;
        } catch (err) {
          if (busy(err)) return false;
          throw err;
        }
      },
      async renew(key, owner, ttlMs) {
        // A busy answer proves nothing either way, and confirm() must not take it for "held".
        for (let attempt = 0; ; attempt++) {
          try {
            return renew.run({ key, owner, expiresAt: clock.now() + ttlMs }).changes === 1;
          } catch (err) {
            if (!busy(err) || attempt >= 20) throw err;
            await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
          }
        }
      },
      async release(key, owner) {
        for (let attempt = 0; ; attempt++) {
          try {
            release.run({ key, owner });
            return;
          } catch (err) {
            if (!busy(err) || attempt >= 20) throw err;
            await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
          }
        }
      },
      async close() {
        db.close();
      },
    },
    opts,
  );
}
