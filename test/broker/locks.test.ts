// Refresh locks: mutual exclusion in one process and across processes, busy, lease expiry, renewal, outages.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createMemoryLock,
  createRefreshLock,
  type LockWaitInfo,
  type RefreshLockOptions,
} from '../../src/broker/locks/index.js';
import type { RefreshLock } from '../../src/broker/types.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { createMetrics } from '../../src/metrics.js';
import { freePort } from '../helpers/ports.js';
import { postgresOrSkip, startRedisOrSkip } from '../helpers/services.js';

const root = path.resolve(import.meta.dirname, '../..');
const CHILD = path.join(root, 'test/fixtures/lock-child.mjs');
const redis = await startRedisOrSkip();
const postgres = await postgresOrSkip();
const dir = path.join(tmpdir(), `kw-locks-${process.pid}-${Date.now()}`);
mkdirSync(dir, { recursive: true });
afterAll(async () => {
  await redis?.stop();
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The children import dist/: build it when it is missing or older than the lock sources. */
function ensureBuilt() {
  const built = path.join(root, 'dist/src/broker/locks/index.js');
  const sources = [
    'locks/index.ts',
    'locks/common.ts',
    'locks/distributed.ts',
    'locks/memory.ts',
    'locks/sqlite.ts',
    'locks/redis.ts',
    'locks/postgres.ts',
    'backends.ts',
  ];
  let stale: boolean;
  try {
    const builtAt = statSync(built).mtimeMs;
    stale = sources.some((s) => statSync(path.join(root, 'src/broker', s)).mtimeMs > builtAt);
  } catch {
    stale = true;
  }
  if (stale) {
    try {
      execFileSync(
        process.execPath,
        [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
        {
          cwd: root,
          stdio: 'ignore',
        },
      );
    } catch {
      // Type errors elsewhere in the tree still emit; the import below tells whether ours did.
    }
  }
}

async function expectBusy(p: Promise<unknown>) {
  const err = await p.then(
    () => expect.fail('the lock was granted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreUnavailableError);
  expect((err as StoreUnavailableError).toPayload()).toMatchObject({
    code: 'store_unavailable',
    message: 'refresh lock busy',
  });
}

async function expectStoreDown(p: Promise<unknown>) {
  const err = await p.then(
    () => expect.fail('the lock was granted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreUnavailableError);
  expect((err as Error).message).not.toBe('refresh lock busy');
  expect((err as Error).cause).toBeDefined();
}

/** Runs `n` racy read-sleep-write increments through `lock` and returns what the counter ended at. */
async function racyIncrements(lock: RefreshLock, key: string, n: number, opts?: { ttlMs?: number }) {
  let counter = 0;
  let inside = 0;
  let maxInside = 0;
  await Promise.all(
    Array.from({ length: n }, () =>
      lock.withLock(
        key,
        async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          const seen = counter;
          await sleep(2);
          counter = seen + 1;
          inside--;
        },
        { waitMs: 20_000, ...opts },
      ),
    ),
  );
  return { counter, maxInside };
}

describe('memory lock', () => {
  it('lets one caller in at a time per key, and different keys run side by side', async () => {
    const lock = createMemoryLock();
    expect(await racyIncrements(lock, 'grant:a', 50)).toEqual({ counter: 50, maxInside: 1 });
    let both = false;
    let inA = false;
    await Promise.all([
      lock.withLock('a', async () => {
        inA = true;
        await sleep(30);
        inA = false;
      }),
      lock.withLock('b', async () => {
        await sleep(10);
        both = inA;
      }),
    ]);
    expect(both).toBe(true);
  });

  it('gives up after waitMs with "refresh lock busy", and the queue behind a quitter still waits for the holder', async () => {
    const waits: LockWaitInfo[] = [];
    const metrics = createMetrics();
    const lock = createMemoryLock({ onWait: (w) => waits.push(w), metrics });
    let holderDone = false;
    const holder = lock.withLock('k', async () => {
      await sleep(150);
      holderDone = true;
    });
    await expectBusy(lock.withLock('k', async () => 'never', { waitMs: 20 }));
    // Queued after the quitter: must still wait for the holder, not slip in when the quitter left.
    const sawHolderDone = await lock.withLock('k', async () => holderDone, { waitMs: 1000 });
    await holder;
    expect(sawHolderDone).toBe(true);
    expect(waits.map((w) => [w.backend, w.acquired])).toEqual([
      ['memory', true],
      ['memory', false],
      ['memory', true],
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/keyward_lock_wait_seconds_count\{backend="memory"\} 3/);
  });

  it('releases when fn throws, and passes the error through', async () => {
    const lock = createMemoryLock();
    await expect(lock.withLock('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await lock.withLock('k', async () => 'next', { waitMs: 50 })).toBe('next');
  });
});

interface Backend {
  name: 'sqlite' | 'redis' | 'postgres';
  url: () => string;
  skip: boolean;
  /** Whether the lock is a lease that expires (sqlite, redis) or a session that dies with its holder. */
  lease: boolean;
}

const backends: Backend[] = [
  { name: 'sqlite', url: () => `sqlite:${dir}/store.db`, skip: false, lease: true },
  { name: 'redis', url: () => redis?.url ?? '', skip: !redis, lease: true },
  { name: 'postgres', url: () => postgres?.url ?? '', skip: !postgres, lease: false },
];

let ns = 0;

/** Spawns the child script; resolves with its process and a way to await lines it prints. */
function child(args: Record<string, unknown>) {
  const proc = spawn(process.execPath, [CHILD, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (d) => {
    out += d;
  });
  proc.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const line = async (text: string, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!out.split('\n').includes(text)) {
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
        throw new Error(`child never printed ${text}; stderr: ${err}`);
      }
      await sleep(10);
    }
  };
  return { proc, exited, line, stderr: () => err };
}

async function childrenRace(
  storeUrl: string,
  namespace: string,
  mode: 'lock' | 'nolock',
  children = 3,
  iterations = 6,
) {
  const counterFile = path.join(dir, `${namespace}-counter`);
  const goFile = path.join(dir, `${namespace}-go`);
  writeFileSync(counterFile, '0');
  const args = {
    storeUrl,
    namespace,
    key: 'grant:-:alice:github',
    counterFile,
    goFile,
    mode,
    iterations,
    sleepMs: 15,
    ttlMs: 5000,
  };
  const procs = Array.from({ length: children }, () => child(args));
  // Everyone imports and connects first, then all start at once, so the increments really overlap.
  await Promise.all(procs.map((p) => p.line('ready')));
  writeFileSync(goFile, '');
  const results = await Promise.all(procs.map((p) => p.exited));
  for (const [i, r] of results.entries()) expect(r, procs[i]?.stderr()).toEqual({ code: 0, signal: null });
  return Number(await readFile(counterFile, 'utf8'));
}

describe('across processes', () => {
  ensureBuilt();

  it('the race is real: without a lock, three processes lose updates', async () => {
    const total = await childrenRace('memory:', `nolock${++ns}`, 'nolock');
    expect(total).toBeLessThan(18);
  });
});

for (const backend of backends) {
  describe.skipIf(backend.skip)(`${backend.name} lock`, () => {
    const open = async (namespace: string, opts: RefreshLockOptions = {}) =>
      createRefreshLock(backend.url(), { namespace, ...opts });

    it('excludes callers in one process and across two lock instances (as two processes would hold)', async () => {
      const namespace = `x${++ns}`;
      const waits: LockWaitInfo[] = [];
      const metrics = createMetrics();
      const [a, b] = [await open(namespace, { onWait: (w) => waits.push(w), metrics }), await open(namespace)];
      try {
        let counter = 0;
        let inside = 0;
        let maxInside = 0;
        const bump = async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          const seen = counter;
          await sleep(3);
          counter = seen + 1;
          inside--;
        };
        await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).withLock('grant:k', bump, { waitMs: 20_000 })),
        );
        expect({ counter, maxInside }).toEqual({ counter: 20, maxInside: 1 });
        expect(waits.every((w) => w.backend === backend.name && w.acquired)).toBe(true);
        expect(waits).toHaveLength(10);
        expect(await metrics.registry.metrics()).toContain(
          `keyward_lock_wait_seconds_count{backend="${backend.name}"} 10`,
        );
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('answers "refresh lock busy" after waitMs, and frees the key when fn throws', async () => {
      const namespace = `b${++ns}`;
      const [a, b] = [await open(namespace), await open(namespace)];
      try {
        let release!: () => void;
        const held = a.withLock('k', () => new Promise<void>((r) => (release = r)));
        await sleep(50);
        const started = Date.now();
        await expectBusy(b.withLock('k', async () => 'never', { waitMs: 150 }));
        expect(Date.now() - started).toBeGreaterThanOrEqual(140);
        release();
        await held;
        await expect(b.withLock('k', async () => Promise.reject(new Error('boom')), { waitMs: 2000 })).rejects.toThrow(
          'boom',
        );
        expect(await a.withLock('k', async () => 'free', { waitMs: 2000 })).toBe('free');
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });

    it('keeps one refresh at a time across 3 processes: no lost update', async () => {
      expect(await childrenRace(backend.url(), `p${++ns}`, 'lock')).toBe(18);
    });

    it(`lets another process in after a holder crashes (${backend.lease ? 'its lease lapses' : 'its session ends'})`, async () => {
      const namespace = `c${++ns}`;
      const ttlMs = 800;
      const crashed = child({ storeUrl: backend.url(), namespace, key: 'grant:k', mode: 'crash', ttlMs });
      await crashed.line('locked');
      expect((await crashed.exited).signal).toBe('SIGKILL');
      const lock = await open(namespace);
      try {
        const started = Date.now();
        expect(await lock.withLock('grant:k', async () => 'taken over', { waitMs: 10_000 })).toBe('taken over');
        const waited = Date.now() - started;
        if (backend.lease) {
          expect(waited).toBeGreaterThan(100);
          expect(waited).toBeLessThan(ttlMs + 1500);
        } else {
          expect(waited).toBeLessThan(3000);
        }
      } finally {
        await lock.close();
      }
    });

    it('renews a long holder: nobody takes over while it still runs past its ttl', async () => {
      const namespace = `r${++ns}`;
      const [a, b] = [await open(namespace), await open(namespace)];
      try {
        let stillMine = false;
        const holder = a.withLock(
          'k',
          async () => {
            await sleep(1500);
            stillMine = true;
          },
          { ttlMs: 400 },
        );
        await sleep(100);
        // Three ttls pass while b waits; without renewal the lease would have lapsed after one.
        await expectBusy(b.withLock('k', async () => 'stolen', { waitMs: 1100, ttlMs: 400 }));
        await holder;
        expect(stillMine).toBe(true);
        expect(await b.withLock('k', async () => 'after', { waitMs: 2000 })).toBe('after');
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    });
  });
}

describe.skipIf(!redis)('redis lock outage', () => {
  it('answers store_unavailable (not busy) while Redis is down, and works again when it is back', async () => {
    const lock = await createRefreshLock(redis?.url as string, { namespace: `o${++ns}` });
    try {
      expect(await lock.withLock('k', async () => 1)).toBe(1);
      await redis?.stop();
      await expectStoreDown(lock.withLock('k', async () => 2, { waitMs: 1000 }));
      await redis?.start();
      await expect
        .poll(() => lock.withLock('k', async () => 3, { waitMs: 500 }).catch(() => 'down'), { timeout: 10_000 })
        .toBe(3);
    } finally {
      await lock.close();
    }
  });
});

describe.skipIf(!postgres)('postgres lock outage', () => {
  it('answers store_unavailable when Postgres cannot be reached', async () => {
    const lock = await createRefreshLock(`postgres://root@127.0.0.1:${await freePort()}/test`);
    try {
      await expectStoreDown(lock.withLock('k', async () => 1, { waitMs: 1000 }));
    } finally {
      await lock.close();
    }
  });
});

describe.skipIf(!postgres)('a postgres lock session that dies', () => {
  it('is a lost lock, never a crash: the holder is told before it uses a token, and others take the lock', async () => {
    const url = postgres?.url as string;
    const a = await createRefreshLock(url, { namespace: `pgd${++ns}` });
    const b = await createRefreshLock(url, { namespace: `pgd${ns}` });
    const admin = new pg.Client({ connectionString: postgres?.baseUrl });
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      const outcome = await a.withLock('k', async (hold) => {
        await hold.confirm();
        // The holder's own session, found by the advisory lock it holds, is ended from outside.
        const { rows } = await admin.query<{ pid: number }>(
          "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()",
        );
        expect(rows.length).toBeGreaterThan(0);
        for (const { pid } of rows) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        await sleep(100);
        // Before the fix this 'error' had no listener on a checked-out client: the process ended.
        return hold.confirm().then(
          () => 'still held',
          (err: Error) => err,
        );
      });
      expect(outcome).toBeInstanceOf(StoreUnavailableError);
      expect((outcome as StoreUnavailableError).details.internal).toMatch(/lost/);
      expect(await b.withLock('k', async () => 'taken', { waitMs: 2000 })).toBe('taken');
      expect(await a.withLock('k', async () => 'again', { waitMs: 2000 })).toBe('again');
    } finally {
      await admin.end();
      await a.close();
      await b.close();
    }
  });
});

describe.skipIf(!redis)('a redis lock whose server goes away while held', () => {
  it('cannot be confirmed, does not crash, and works again once the server is back', async () => {
    const lock = await createRefreshLock(redis?.url as string, { namespace: `rk${++ns}` });
    try {
      const outcome = await lock.withLock('k', async (hold) => {
        await hold.confirm();
        await redis?.stop();
        return hold.confirm().then(
          () => 'still held',
          (err: Error) => err,
        );
      });
      expect(outcome).toBeInstanceOf(StoreUnavailableError);
      await redis?.start();
      await expect
        .poll(() => lock.withLock('k', async () => 3, { waitMs: 500 }).catch(() => 'down'), { timeout: 10_000 })
        .toBe(3);
    } finally {
      await lock.close();
    }
  });
});

describe('the lock wait limit is the one limit', () => {
  it('a second caller in the same process gives up after its own waitMs, not after the holder', async () => {
    const lock = await createRefreshLock(`sqlite:${dir}/wait-${++ns}.db`);
    try {
      let release!: () => void;
      const held = lock.withLock('k', () => new Promise<void>((r) => (release = r)), { waitMs: 1000 });
      await sleep(50);
      const started = performance.now();
      await expect(lock.withLock('k', async () => 1, { waitMs: 200 })).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(performance.now() - started).toBeLessThan(1500);
      release();
      await held;
    } finally {
      await lock.close();
    }
  });
});

describe('lease times come from the injected clock', () => {
  it('a sqlite lease lapses when the clock says so, without sleeping, and its old holder can no longer confirm', async () => {
    let now = Date.now();
    const clock = { now: () => now };
    const url = `sqlite:${dir}/clock-${++ns}.db`;
    const a = await createRefreshLock(url, { clock });
    const b = await createRefreshLock(url, { clock });
    try {
      const seen = await a.withLock(
        'k',
        async (hold) => {
          await expect(b.withLock('k', async () => 'early', { waitMs: 0 })).rejects.toBeInstanceOf(
            StoreUnavailableError,
          );
          // A frozen holder: a minute passes without a renewal, and another process takes the lapsed lease.
          now += 120_000;
          return b.withLock(
            'k',
            () =>
              hold.confirm().then(
                () => 'still held',
                (err: Error) => err,
              ),
            { waitMs: 0 },
          );
        },
        { ttlMs: 60_000 },
      );
      expect(seen).toBeInstanceOf(StoreUnavailableError);
      expect((seen as StoreUnavailableError).details.internal).toMatch(/lost/);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
