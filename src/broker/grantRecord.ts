// A grant as stored: the one check for reads and writes, and the compare-and-set each backend runs on it.
import { z } from 'zod';
import { isSealedSecret } from './crypto.js';
import type { Grant } from './types.js';

const sealed = z.string().refine(isSealedSecret, 'must be sealed with the grant cipher, never plaintext');
const millis = z.number().finite();

/** Strict on what the broker relies on (an unknown `status` is not "active"), loose on extra fields. */
const GrantRecord = z.looseObject({
  id: z.string().min(1),
  user: z.string().min(1),
  tenant: z.string().min(1).optional(),
  provider: z.string().min(1),
  scopes: z.array(z.string()),
  refreshTokenEnc: sealed.optional(),
  accessTokenEnc: sealed.optional(),
  accessTokenExpiresAt: millis.optional(),
  consentedAt: millis,
  consentExpiresAt: millis.optional(),
  generation: z.number().int().nonnegative(),
  client: z.string().min(1),
  status: z.enum(['active', 'needs_reauth', 'revoked']),
  reason: z.string().optional(),
  updatedAt: millis,
  lastUsedAt: millis.optional(),
  refreshing: z.strictObject({ holder: z.string().min(1), startedAt: millis }).optional(),
});

/**
 * A grant record that fails the check: it is quarantined (never refreshed, never rewritten by a
 * refresh) and that one user is asked to grant access again. The message names fields, never values.
 */
export class UnreadableGrantError extends Error {
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`grant record ${key} is unreadable: ${problem}`);
    this.name = 'UnreadableGrantError';
  }
}

/** The stored grant is not the one the writer read: a newer writer won, and this write was refused. */
export class GrantConflictError extends Error {
  constructor(
    readonly key: string,
    readonly expected: GrantExpectation,
  ) {
    super(`grant ${key} changed: generation ${expected.generation} expected`);
    this.name = 'GrantConflictError';
  }
}

/**
 * What a writer read. `holder`, when given, must match the stored refresh marker's holder
 * (`null`: no marker), which is how a refresh claims a token before presenting it.
 */
export interface GrantExpectation {
  generation: number;
  holder?: string | null;
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || 'record'}: ${i.message}`)
    .join('; ');
}

/**
 * Checks a grant read from `key`. The key is the caller's (user, provider, tenant): a record whose
 * own fields name another grant was copied here, and serves nobody.
 */
export function parseGrant(key: string, value: unknown, keyOf: (g: Grant) => string): Grant {
  const parsed = GrantRecord.safeParse(value);
  if (!parsed.success) throw new UnreadableGrantError(key, describe(parsed.error));
  const grant = parsed.data as Grant;
  if (keyOf(grant) !== key) throw new UnreadableGrantError(key, 'stored under another grant key');
  return grant;
}

/** The write check: same rules as the read, so that a grant written can always be read back. */
export function checkGrantForWrite(grant: Grant): void {
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
  const parsed = GrantRecord.safeParse(JSON.parse(JSON.stringify(grant)));
  if (!parsed.success) throw new TypeError(`grant: ${describe(parsed.error)}`);
}

/** The default expectation of a write: the generation just before it, whatever the marker. */
export function expectationOf(grant: Grant, given?: GrantExpectation): GrantExpectation {
  return given ?? { generation: grant.generation - 1 };
}

/**
 * Runs on the raw stored text (keyv's `{"value": grant}`): whether `expected` holds. An absent
 * record accepts any write; a record that does not parse accepts none.
 */
export function rawMatches(raw: string | undefined, expected: GrantExpectation): boolean {
  if (raw === undefined || raw === null) return true;
  let stored: { value?: { generation?: unknown; refreshing?: { holder?: unknown } } };
  try {
    stored = JSON.parse(raw);
  } catch {
    return false;
  }
  if (stored?.value?.generation !== expected.generation) return false;
  if (expected.holder === undefined) return true;
  return (stored.value.refreshing?.holder ?? null) === expected.holder;
}

/** Redis: the same check as `rawMatches`, atomically on the server. 1 written, 0 refused. */
export const REDIS_CAS = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if not ok or type(doc) ~= 'table' or type(doc['value']) ~= 'table' then return 0 end
  local v = doc['value']
  if tonumber(v['generation']) ~= tonumber(ARGV[2]) then return 0 end
  if ARGV[3] == '1' then
    local holder = ''
    if type(v['refreshing']) == 'table' and type(v['refreshing']['holder']) == 'string' then
      holder = v['refreshing']['holder']
    end
    if holder ~= ARGV[4] then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

export function redisCasArgs(raw: string, expected: GrantExpectation): string[] {
  return [raw, String(expected.generation), expected.holder === undefined ? '0' : '1', expected.holder ?? ''];
}

/**
 * SQL for sqlite (`?` placeholders) and Postgres (`$n`): insert, or update only while the stored
 * generation (and marker holder, when checked) is the expected one; a row comes back when written.
 */
export function sqlCas(dialect: 'sqlite' | 'postgres', table: string, checkHolder: boolean): string {
  if (dialect === 'sqlite') {
    const holder = checkHolder ? ` AND json_extract(${table}.value, '$.value.refreshing.holder') IS ?` : '';
    return `INSERT INTO ${table} (key, value) VALUES (?, ?)
      ON CONFLICT(key) DO UPDATE SET value = excluded.value
      WHERE json_valid(${table}.value) AND json_extract(${table}.value, '$.value.generation') = ?${holder}
      RETURNING key`;
  }
  const holder = checkHolder
    ? ` AND (${table}.value::jsonb #>> '{value,refreshing,holder}') IS NOT DISTINCT FROM $4`
    : '';
  return `INSERT INTO ${table} (key, value) VALUES ($1, $2)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value
    WHERE (${table}.value::jsonb #>> '{value,generation}') = $3::text${holder}
    RETURNING key`;
}
