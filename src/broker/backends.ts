// The store URL and the connections behind it, shared by the grant store and the refresh locks.
import { isAbsolute } from 'node:path';
import type { GatewayError } from '../errors.js';
import { fromStoreFailure } from './errorBoundary.js';

export type StoreBackend = 'memory' | 'sqlite' | 'redis' | 'postgres';

export type StoreLocation =
  | { backend: 'memory' }
  /** `path` is absolute, or ':memory:' for a private in-process database. */
  | { backend: 'sqlite'; path: string }
  | { backend: 'redis'; url: string }
  /** `url` has our own `schema` parameter removed; `schema` defaults to public. */
  | { backend: 'postgres'; url: string; schema: string };

const SQL_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * `memory:`, `sqlite:<absolute path>` (or `sqlite:///abs`, `sqlite::memory:`), `redis://…`,
 * `rediss://…`, `postgres://…?schema=<name>` or `postgresql://…`.
 */
export function parseStoreUrl(url: string): StoreLocation {
  if (typeof url !== 'string' || url.length === 0) throw new TypeError('store: required');
  if (url === 'memory:' || url === 'memory://') return { backend: 'memory' };
  if (url.startsWith('sqlite:')) {
    let path = url.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === ':memory:') return { backend: 'sqlite', path };
    if (!isAbsolute(path)) throw new TypeError('store: a sqlite: path must be absolute');
    return { backend: 'sqlite', path };
  }
  if (url.startsWith('redis://') || url.startsWith('rediss://')) return { backend: 'redis', url };
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const parsed = new URL(url);
    const schema = parsed.searchParams.get('schema') ?? 'public';
    if (!SQL_IDENTIFIER.test(schema)) throw new TypeError('store: the postgres schema must be a plain SQL identifier');
    parsed.searchParams.delete('schema');
    return { backend: 'postgres', url: parsed.toString(), schema };
  }
  // The URL may carry a password: name the scheme only.
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(url)?.[0] ?? 'this kind of';
  throw new TypeError(`store: ${scheme} URLs are not supported (use sqlite:, redis://, postgres:// or memory:)`);
}

/**
 * Every backend failure leaves here as one error with a safe message; the driver's own message,
 * which may name hosts, goes to `internal` and `cause` for the logs.
 */
export function storeUnavailable(backend: StoreBackend, what: string, cause: unknown): GatewayError {
  return fromStoreFailure(cause, { message: `the ${what} is unavailable (${backend}); retry shortly`, backend });
}

/** Rejects after `ms` so that a hung backend becomes an error instead of a hung tool call. */
export async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  // If the timeout wins, the late outcome of `work` must not surface as an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A Redis client that fails fast while the server is away (no offline queue, so a command never
 * waits for a reconnect) and keeps reconnecting in the background, so the gateway recovers
 * without a restart.
 */
export async function openRedis(url: string, onError?: (err: Error) => void) {
  const { createClient } = await import('@redis/client');
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 3000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000) + Math.floor(Math.random() * 50),
    },
  });
  // Without a listener an 'error' event would end the process; reconnects report through here.
  client.on('error', (err: Error) => onError?.(err));
  // Not awaited to the end: while the server is down this keeps retrying in the background, and
  // commands fail fast meanwhile. Start-up waits only for the first attempt to answer.
  const firstAttempt = new Promise<void>((resolve) => {
    client.once('ready', resolve);
    client.once('error', () => resolve());
    setTimeout(resolve, 3000).unref();
  });
  client.connect().catch((err: unknown) => onError?.(err as Error));
  await firstAttempt;
  return client;
}

export type RedisConnection = Awaited<ReturnType<typeof openRedis>>;

export async function closeRedis(client: RedisConnection): Promise<void> {
  try {
    if (client.isReady) await client.close();
    else client.destroy();
  } catch {
    client.destroy();
  }
}

export async function openPostgresPool(url: string, onError?: (err: Error) => void, max = 8) {
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
    query_timeout: 10_000,
    keepAlive: true,
  });
  // An idle client that loses its server emits here; unhandled, it would end the process.
  pool.on('error', (err) => onError?.(err));
  return pool;
}
