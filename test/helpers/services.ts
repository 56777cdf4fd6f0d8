// Real Redis and Postgres for tests: a private redis-server per file, a private Postgres schema per run.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import pg from 'pg';
import { freePort } from './ports.js';

/**
 * A missing service skips its tests with a loud notice on a workstation, and fails the run in CI
 * (CI=true), where a skipped backend would let a broken one pass unnoticed.
 */
export function requireService(name: string, available: boolean, why = ''): boolean {
  if (available) return true;
  const notice = `${name} is not available${why ? ` (${why})` : ''}`;
  if (process.env.CI === 'true') throw new Error(`${notice}; CI must run every backend`);
  console.warn(`\n*** SKIPPING ${name} TESTS: ${notice}. Install it to run them; CI fails here. ***\n`);
  return false;
}

async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

export interface RedisService {
  url: string;
  port: number;
  /** Stops the server; the port stays reserved for `start()`. */
  stop(): Promise<void>;
  /** Starts it again on the same port (empty: nothing is persisted). */
  start(): Promise<void>;
}

/** A private redis-server on a free loopback port, with persistence off. */
export async function startRedis(): Promise<RedisService> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const start = async () => {
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
      { stdio: 'ignore' },
    );
    child = proc;
    // A test run that dies without its afterAll must not leave a server behind.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    const failed = new Promise<never>((_, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}`)));
    });
    failed.catch(() => undefined);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const ok = await Promise.race([ping(port), failed]);
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  const stop = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = once(proc, 'exit');
    proc.kill('SIGTERM');
    await exited;
  };

  await start();
  return { url: `redis://127.0.0.1:${port}`, port, stop, start };
}

/** startRedis(), or undefined (with the notice) where redis-server is not installed. */
export async function startRedisOrSkip(): Promise<RedisService | undefined> {
  try {
    return await startRedis();
  } catch (err) {
    requireService('redis', false, (err as Error).message);
    return undefined;
  }
}

const POSTGRES_CANDIDATES = [
  process.env.KEYWARD_TEST_POSTGRES,
  'postgres://root@127.0.0.1:5432/test',
  'postgres://postgres@127.0.0.1:5432/test',
].filter((u): u is string => !!u);

/** The first reachable test database (trust auth on loopback), or undefined. */
export async function postgresUrl(): Promise<string | undefined> {
  for (const url of POSTGRES_CANDIDATES) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      return url;
    } catch {
      // next candidate
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return undefined;
}

export interface PostgresService {
  /** The store URL, with `?schema=` naming this run's private schema. */
  url: string;
  /** The database URL without the schema parameter. */
  baseUrl: string;
  schema: string;
  /** Drops the schema and everything in it. */
  stop(): Promise<void>;
}

/** A private schema in the test database, so that test files running at once never collide. */
export async function postgresOrSkip(): Promise<PostgresService | undefined> {
  const baseUrl = await postgresUrl();
  if (!requireService('postgres', baseUrl !== undefined, `none of ${POSTGRES_CANDIDATES.join(', ')} answered`)) {
    return undefined;
  }
  const schema = `kw_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: baseUrl, connectionTimeoutMillis: 3000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  await admin(`CREATE SCHEMA "${schema}"`);
  const url = new URL(baseUrl as string);
  url.searchParams.set('schema', schema);
  return {
    url: url.toString(),
    baseUrl: baseUrl as string,
    schema,
    stop: () => admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  };
}
