// The grant store: grants and other gateway records on keyv, over sqlite, Redis, Postgres or memory.
import { chmod, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import Keyv from 'keyv';
import type { Logger } from '../log.js';
import {
  closeRedis,
  openPostgresPool,
  openRedis,
  parseStoreUrl,
  type StoreBackend,
  storeUnavailable,
  withTimeout,
} from './backends.js';
import { isSealedSecret } from './crypto.js';
import type { Grant, GrantStore } from './types.js';

export type { StoreBackend } from './backends.js';

export const GRANT_PREFIX = 'grant:';
const NO_TENANT = '-';
const TABLE = 'keyward_store';

export interface GrantStoreOptions {
  /** Keeps several gateways (or test runs) apart in one backend. Default `keyward`. */
  namespace?: string;
  /** A backend call that takes longer becomes StoreUnavailableError. Default 5000. */
  opTimeoutMs?: number;
  /** Backend errors and reconnects are logged here at debug level. */
  logger?: Logger;
}

/** A live record, with its absolute expiry, so that a rewrite can keep its TTL. */
export interface StoredEntry<T = unknown> {
  value: T;
  expiresAt?: number;
}

/** The GrantStore contract, plus what maintenance (key rotation, tests) needs. */
export interface KeywardStore extends GrantStore {
  readonly backend: StoreBackend;
  /** Keys of live records that start with `prefix` (grants too, under `grant:`). */
  keys(prefix?: string): Promise<string[]>;
  getEntry<T>(key: string): Promise<StoredEntry<T> | undefined>;
}

/**
 * The storage key of a grant, and the key of the lock every writer of it takes (refreshes,
 * onboarding, revocation, key rotation): one identity, one layout. Each part is URI-encoded, so a `:` inside a user id cannot forge
 * another grant's key; a literal tenant of `-` is encoded so it cannot pass for "no tenant".
 */
export function grantKey(user: string, provider: string, tenant?: string): string {
  const t = tenant === undefined ? NO_TENANT : encodeURIComponent(tenant).replace(/^-$/, '%2D');
  return `${GRANT_PREFIX}${t}:${encodeURIComponent(user)}:${encodeURIComponent(provider)}`;
}

export async function createGrantStore(url: string, opts: GrantStoreOptions = {}): Promise<KeywardStore> {
  const location = parseStoreUrl(url);
  const namespace = opts.namespace ?? 'keyward';
  // keyv strips its prefix at the first ':' when it lists keys, and lists sqlite and Postgres
  // keys with LIKE, where '_' is a wildcard and sqlite ignores case.
  if (!/^[a-z0-9-]+$/.test(namespace)) throw new TypeError('namespace: lowercase letters, digits and - only');
  const opTimeoutMs = opts.opTimeoutMs ?? 5000;
  const logBackendError = (err: Error) =>
    opts.logger?.debug({ err: err.message, backend: location.backend }, 'store backend error');

  const keyvOptions = {
    namespace,
    throwOnErrors: true,
    // Plain JSON: keyv's default serializer turns strings that start with ':base64:' into Buffers.
    serialize: JSON.stringify,
    deserialize: JSON.parse,
  };
  let keyv: Keyv;
  let release: () => Promise<void>;

  switch (location.backend) {
    case 'memory': {
      keyv = new Keyv({ ...keyvOptions, store: new Map() });
      release = async () => {};
      break;
    }
    case 'sqlite': {
      if (location.path !== ':memory:') await mkdir(dirname(location.path), { recursive: true, mode: 0o700 });
      const { KeyvSqlite } = await import('@keyv/sqlite');
      const adapter = new KeyvSqlite({
        uri: `sqlite://${location.path}`,
        table: TABLE,
        // Other gateway processes write the same file; wait for them instead of failing.
        busyTimeout: 5000,
        iterationLimit: 500,
      } as ConstructorParameters<typeof KeyvSqlite>[0]);
      keyv = new Keyv({ ...keyvOptions, store: adapter });
      keyv.on('error', logBackendError);
      try {
        if (location.path !== ':memory:') {
          // WAL lets readers in other processes carry on while one writes. Best effort: a busy
          // file keeps its mode, and correctness does not depend on it.
          await adapter.query('PRAGMA journal_mode=WAL').catch(() => undefined);
          await chmod(location.path, 0o600).catch(() => undefined);
        }
        await adapter.query('SELECT 1');
      } catch (err) {
        await adapter.disconnect().catch(() => undefined);
        throw storeUnavailable('sqlite', 'grant store', err);
      }
      release = () => adapter.disconnect();
      break;
    }
    case 'redis': {
      const { default: KeyvRedis } = await import('@keyv/redis');
      const client = await openRedis(location.url, logBackendError);
      const adapter = new KeyvRedis(client, { namespace, throwOnErrors: true, throwOnConnectError: true });
      // The adapter prefixes keys itself (`<namespace>::key`); keyv must not add another prefix.
      keyv = new Keyv({ ...keyvOptions, store: adapter, useKeyPrefix: false });
      keyv.on('error', logBackendError);
      release = () => closeRedis(client);
      break;
    }
    case 'postgres': {
      const adapter = await postgresAdapter(location.url, location.schema, logBackendError);
      keyv = new Keyv({ ...keyvOptions, store: adapter });
      keyv.on('error', logBackendError);
      release = () => adapter.disconnect();
      break;
    }
  }

  return new KeyvGrantStore(keyv, location.backend, opTimeoutMs, release);
}

class KeyvGrantStore implements KeywardStore {
  #closed = false;

  constructor(
    private readonly keyv: Keyv,
    readonly backend: StoreBackend,
    private readonly opTimeoutMs: number,
    private readonly release: () => Promise<void>,
  ) {}

  async getGrant(user: string, provider: string, tenant?: string): Promise<Grant | undefined> {
    const key = grantKey(user, provider, tenant);
    const value = await this.#run('read', () => this.keyv.get(key));
    return value === undefined || value === null ? undefined : (value as Grant);
  }

  async putGrant(grant: Grant): Promise<void> {
    checkGrant(grant);
    const key = grantKey(grant.user, grant.provider, grant.tenant);
    await this.#run('write', () => this.keyv.set(key, grant));
  }

  async listGrants(filter: { user?: string; provider?: string } = {}): Promise<Grant[]> {
    // Keyed, because a listing paged while other processes write may see a row twice.
    const grants = new Map<string, Grant>();
    // Listing reads the backend itself (SCAN, a key range), so grants written by other
    // processes appear without an index that concurrent writers could tear.
    await this.#run('list', async () => {
      for await (const [key, value] of this.#iterate()) {
        if (!key.startsWith(GRANT_PREFIX) || !value) continue;
        const grant = value as Grant;
        if (filter.user !== undefined && grant.user !== filter.user) continue;
        if (filter.provider !== undefined && grant.provider !== filter.provider) continue;
        grants.set(key, grant);
      }
    });
    return [...grants.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, grant]) => grant);
  }

  async getRecord<T>(key: string): Promise<T | undefined> {
    checkRecordKey(key);
    const value = await this.#run('read', () => this.keyv.get(key));
    return value === null ? undefined : (value as T | undefined);
  }

  async setRecord<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    checkRecordKey(key);
    if (value === undefined) throw new TypeError('setRecord: value must not be undefined');
    if (ttlMs !== undefined && !(Number.isFinite(ttlMs) && ttlMs > 0)) {
      throw new TypeError('setRecord: ttlMs must be a positive number of milliseconds');
    }
    await this.#run('write', () => this.keyv.set(key, value, ttlMs));
  }

  async deleteRecord(key: string): Promise<boolean> {
    checkRecordKey(key);
    return this.#run('write', () => this.keyv.delete(key));
  }

  async keys(prefix = ''): Promise<string[]> {
    const keys = new Set<string>();
    await this.#run('list', async () => {
      for await (const [key] of this.#iterate()) if (key.startsWith(prefix)) keys.add(key);
    });
    return [...keys].sort();
  }

  async getEntry<T>(key: string): Promise<StoredEntry<T> | undefined> {
    const raw = (await this.#run('read', () => this.keyv.get(key, { raw: true }))) as
      | { value?: T; expires?: number | null }
      | undefined;
    if (!raw || raw.value === undefined || raw.value === null) return undefined;
    return typeof raw.expires === 'number' ? { value: raw.value, expiresAt: raw.expires } : { value: raw.value };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.release().catch(() => undefined);
  }

  #iterate(): AsyncGenerator<[string, unknown]> {
    const iterator = this.keyv.iterator;
    if (!iterator) throw new Error(`the ${this.backend} adapter cannot list keys`);
    return iterator(undefined) as AsyncGenerator<[string, unknown]>;
  }

  async #run<T>(op: 'read' | 'write' | 'list', work: () => Promise<T>): Promise<T> {
    if (this.#closed) throw storeUnavailable(this.backend, 'grant store', new Error('the store is closed'));
    try {
      // A listing walks the whole namespace; give it more room than a single read.
      return await withTimeout(work(), op === 'list' ? this.opTimeoutMs * 4 : this.opTimeoutMs, `store ${op}`);
    } catch (err) {
      throw storeUnavailable(this.backend, 'grant store', err);
    }
  }
}

function checkRecordKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw new TypeError('record key: required');
  if (key.startsWith(GRANT_PREFIX)) throw new TypeError(`record key: '${GRANT_PREFIX}' is reserved for grants`);
}

function checkGrant(grant: Grant): void {
  for (const field of ['id', 'user', 'provider', 'client'] as const) {
    if (typeof grant?.[field] !== 'string' || grant[field].length === 0)
      throw new TypeError(`grant.${field}: required`);
  }
  if (!Number.isInteger(grant.generation) || grant.generation < 0) {
    throw new TypeError('grant.generation: a non-negative integer');
  }
  // Promise 1 at rest: a plaintext token never reaches the backend, whatever the caller did.
  for (const field of ['refreshTokenEnc', 'accessTokenEnc'] as const) {
    if (grant[field] !== undefined && !isSealedSecret(grant[field])) {
      throw new TypeError(`grant.${field}: must be sealed with the grant cipher, never plaintext`);
    }
  }
}

/**
 * @keyv/postgres over our own pool: its built-in pool is a process-wide singleton with no error
 * listener (one restart of the server would end the process), its listing swallows errors (a
 * down server would list no grants), and a table it failed to create at start stays missing.
 */
async function postgresAdapter(url: string, schema: string, onError: (err: Error) => void) {
  const { KeyvPostgres } = await import('@keyv/postgres');
  const pool = await openPostgresPool(url, onError);
  const table = `"${schema}"."${TABLE}"`;
  const createTable = `CREATE SCHEMA IF NOT EXISTS "${schema}"; CREATE TABLE IF NOT EXISTS ${table}(key VARCHAR(1024) PRIMARY KEY, value TEXT)`;
  let ensured: Promise<unknown> | undefined;
  const ensureTable = () => {
    ensured ??= pool.query(createTable).catch((err: { code?: string }) => {
      ensured = undefined;
      // Two gateways creating the table at once: the loser sees a duplicate, which is fine.
      if (err.code !== '23505' && err.code !== '42P06' && err.code !== '42P07') throw err;
    });
    return ensured;
  };
  const query = async (sql: string, values?: unknown[]): Promise<unknown[]> => {
    await ensureTable();
    try {
      return (await pool.query(sql, values)).rows;
    } catch (err) {
      if ((err as { code?: string }).code !== '42P01') throw err;
      ensured = undefined;
      await ensureTable();
      return (await pool.query(sql, values)).rows;
    }
  };

  class PooledKeyvPostgres extends KeyvPostgres {
    override async connect() {
      return query as (sql: string, values?: unknown) => Promise<unknown[]>;
    }
    override async *iterator(namespace?: string): AsyncGenerator<string[], void, unknown> {
      const pattern = `${namespace ? `${namespace.replace(/[%_\\]/g, '\\$&')}:` : ''}%`;
      let lastKey: string | null = null;
      for (;;) {
        const rows = (await (lastKey === null
          ? query(`SELECT key, value FROM ${table} WHERE key LIKE $1 ORDER BY key LIMIT 500`, [pattern])
          : query(`SELECT key, value FROM ${table} WHERE key LIKE $1 AND key > $2 ORDER BY key LIMIT 500`, [
              pattern,
              lastKey,
            ]))) as { key: string; value: string }[];
        for (const row of rows) yield [row.key, row.value];
        if (rows.length < 500) return;
        lastKey = rows[rows.length - 1]?.key ?? null;
      }
    }
    override async disconnect() {
      await pool.end();
    }
  }
  // The adapter's own CREATE TABLE runs through `query` above, so it needs the quoted names.
  const adapter = new PooledKeyvPostgres({
    uri: url,
    schema: `"${schema}"`,
    table: TABLE,
    dialect: 'postgres',
    keySize: 1024,
  });
  adapter.on('error', onError);
  return adapter;
}
