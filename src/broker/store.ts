// The grant store: grants and other gateway records on keyv, over sqlite, Redis, Postgres or memory.
import { mkdir } from 'node:fs/promises';
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
import {
  checkGrantForWrite,
  expectationOf,
  GrantConflictError,
  type GrantExpectation,
  parseGrant,
  REDIS_CAS,
  rawMatches,
  redisCasArgs,
  sqlCas,
  UnreadableGrantError,
} from './grantRecord.js';
import { pathExists, restrictIfCreated } from './ownFile.js';
import type { Grant, GrantStore } from './types.js';

export type { StoreBackend } from './backends.js';
export { GrantConflictError, type GrantExpectation, UnreadableGrantError } from './grantRecord.js';

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

/** A stored text that is not JSON: kept distinct from "absent", so a grant can be quarantined. */
const UNPARSEABLE = Object.freeze({ unparseable: true });

/** Compare-and-set of one raw record: true when written, false when `expected` did not hold. */
type RawCas = (rawKey: string, raw: string, expected: GrantExpectation) => Promise<boolean>;

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
    deserialize: (text: string) => {
      try {
        return JSON.parse(text);
      } catch {
        return { value: UNPARSEABLE };
      }
    },
  };
  let keyv: Keyv;
  let release: () => Promise<void>;
  let cas: RawCas;
  // keyv's own key layout (`<namespace>:<key>`; the Redis adapter's is `<namespace>::<key>`).
  let rawKeyOf = (key: string) => `${namespace}:${key}`;

  switch (location.backend) {
    case 'memory': {
      const map = new Map<string, string>();
      keyv = new Keyv({ ...keyvOptions, store: map });
      release = async () => {};
      // One synchronous step: nothing else runs between the check and the write.
      cas = async (rawKey, raw, expected) => {
        if (!rawMatches(map.get(rawKey), expected)) return false;
        map.set(rawKey, raw);
        return true;
      };
      break;
    }
    case 'sqlite': {
      if (location.path !== ':memory:') await mkdir(dirname(location.path), { recursive: true, mode: 0o700 });
      const existedBefore = location.path === ':memory:' || (await pathExists(location.path));
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
          await restrictIfCreated(location.path, existedBefore);
        }
        await adapter.query('SELECT 1');
      } catch (err) {
        await adapter.disconnect().catch(() => undefined);
        throw storeUnavailable('sqlite', 'grant store', err);
      }
      release = () => adapter.disconnect();
      cas = async (rawKey, raw, expected) => {
        const sql = sqlCas('sqlite', TABLE, expected.holder !== undefined);
        const params: unknown[] = [rawKey, raw, expected.generation];
        if (expected.holder !== undefined) params.push(expected.holder);
        const rows = (await adapter.query(sql, ...(params as [string]))) as unknown[];
        return rows.length === 1;
      };
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
      rawKeyOf = (key) => `${namespace}::${key}`;
      cas = async (rawKey, raw, expected) =>
        Number(await client.eval(REDIS_CAS, { keys: [rawKey], arguments: redisCasArgs(raw, expected) })) === 1;
      break;
    }
    case 'postgres': {
      const { adapter, query, table } = await postgresAdapter(location.url, location.schema, logBackendError);
      keyv = new Keyv({ ...keyvOptions, store: adapter });
      keyv.on('error', logBackendError);
      release = () => adapter.disconnect();
      cas = async (rawKey, raw, expected) => {
        const params: unknown[] = [rawKey, raw, String(expected.generation)];
        if (expected.holder !== undefined) params.push(expected.holder);
        return (await query(sqlCas('postgres', table, expected.holder !== undefined), params)).length === 1;
      };
      break;
    }
  }

  return new KeyvGrantStore(keyv, location.backend, opTimeoutMs, release, cas, rawKeyOf, opts.logger);
}

/** The options of a grant write: what the writer read (default: the generation before this one). */
export interface PutGrantOptions {
  expect?: GrantExpectation;
}

class KeyvGrantStore implements KeywardStore {
  #closed = false;

  constructor(
    private readonly keyv: Keyv,
    readonly backend: StoreBackend,
    private readonly opTimeoutMs: number,
    private readonly release: () => Promise<void>,
    private readonly cas: RawCas,
    private readonly rawKeyOf: (key: string) => string,
    private readonly logger?: Logger,
  ) {}

  /** Throws UnreadableGrantError for a record that fails the check: that grant is quarantined. */
  async getGrant(user: string, provider: string, tenant?: string): Promise<Grant | undefined> {
    const key = grantKey(user, provider, tenant);
    const value = await this.#run('read', () => this.keyv.get(key));
    if (value === undefined || value === null) return undefined;
    try {
      return parseGrant(key, value === UNPARSEABLE ? undefined : value, keyOfGrant);
    } catch (err) {
      this.#quarantined(err as UnreadableGrantError);
      throw err;
    }
  }

  /**
   * Writes `grant` only if the stored one is still what the writer read (`opts.expect`, by default
   * the generation before it): a holder whose lease lapsed cannot overwrite a newer grant. The
   * record is read back afterwards, so a write that reported success but did not land is an error.
   */
  async putGrant(grant: Grant, opts: PutGrantOptions = {}): Promise<void> {
    checkGrantForWrite(grant);
    const key = grantKey(grant.user, grant.provider, grant.tenant);
    const expected = expectationOf(grant, opts.expect);
    if (grant.generation < expected.generation) throw new TypeError('grant.generation: never lower than the one read');
    const raw = JSON.stringify({ value: grant });
    const written = await this.#run('write', () => this.cas(this.rawKeyOf(key), raw, expected));
    const stored = await this.#run('read', () => this.keyv.get(key));
    const mine = JSON.stringify(JSON.parse(raw).value);
    if (stored !== undefined && stored !== null && JSON.stringify(stored) === mine) return;
    // Refused, and not because an earlier attempt of this very write already landed.
    if (!written) throw new GrantConflictError(key, expected);
    throw storeUnavailable(
      this.backend,
      'grant store',
      new Error(`read-back after writing ${key} (generation ${grant.generation}) found another record`),
    );
  }

  async listGrants(filter: { user?: string; provider?: string } = {}): Promise<Grant[]> {
    // Keyed, because a listing paged while other processes write may see a row twice.
    const grants = new Map<string, Grant>();
    // Listing reads the backend itself (SCAN, a key range), so grants written by other
    // processes appear without an index that concurrent writers could tear.
    await this.#run('list', async () => {
      for await (const [key, value] of this.#iterate()) {
        if (!key.startsWith(GRANT_PREFIX) || !value) continue;
        let grant: Grant;
        try {
          grant = parseListed(key, value);
        } catch (err) {
          // One bad record must not fail every user's listing (or a key rotation): named and skipped.
          this.#quarantined(err as UnreadableGrantError);
          continue;
        }
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

  #quarantined(err: UnreadableGrantError): void {
    this.logger?.error(
      { key: err.key, problem: err.problem, backend: this.backend, status: 'quarantined' },
      'grant record unreadable; quarantined until the user grants access again',
    );
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

/** A listed record: keyv's iterator yields the key without its namespace and the parsed value. */
function parseListed(key: string, value: unknown): Grant {
  const doc: unknown = value;
  if (doc === UNPARSEABLE) throw new UnreadableGrantError(key, 'not JSON');
  return parseGrant(key, doc, keyOfGrant);
}

const keyOfGrant = (g: Grant) => grantKey(g.user, g.provider, g.tenant);

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
  return { adapter, query, table };
}
