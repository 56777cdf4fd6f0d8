// `keyward rotate-key`: seal every stored secret again under the current encryption key.
import { type Clock, systemClock } from '../clock.js';
import type { KeywardCipher } from './crypto.js';
import { isSealedSecret } from './crypto.js';
import { GRANT_PREFIX, grantKey, type KeywardStore } from './store.js';
import type { Grant, RefreshLock } from './types.js';

export interface RotationResult {
  /** Grants whose secrets were sealed again. */
  grants: number;
  /** Other records (signing key, cached credentials, …) whose secrets were sealed again. */
  records: number;
  /** Ciphertexts sealed again, across both. */
  secrets: number;
  /** Grants and records that held secrets already under the current key. */
  unchanged: number;
}

export interface RotateOptions {
  /**
   * The refresh lock the broker uses. With it, a grant is rewritten while its lock is held, so a
   * refresh in a running gateway cannot interleave with the rewrite. Without it, the grant is
   * read again before the write and the rewrite retried if a refresh moved it on.
   */
  lock?: RefreshLock;
  /** The lock key of a grant; must match the broker's. Default: the broker's, `grantKey`. */
  lockKey?: (grant: Grant) => string;
  /** Reads a record's remaining lifetime; the store's expiry times are on the same clock. */
  clock?: Clock;
}

const GRANT_SECRET_FIELDS = ['refreshTokenEnc', 'accessTokenEnc'] as const;

/**
 * Seals every ciphertext that is not under `cipher.currentKid` again, with the same binding. The
 * cipher must know every key in use (current and previous); a ciphertext under a key it does not
 * know stops the rotation with StoreUnavailableError and leaves that value as it was. Safe to run
 * again: values already under the current key are left alone.
 */
export async function rotateEncryptionKey(
  store: KeywardStore,
  cipher: KeywardCipher,
  opts: RotateOptions = {},
): Promise<RotationResult> {
  const result: RotationResult = { grants: 0, records: 0, secrets: 0, unchanged: 0 };
  const stale = (value: unknown): value is string => isSealedSecret(value) && cipher.kidOf(value) !== cipher.currentKid;

  for (const listed of await store.listGrants()) {
    const rewrite = async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        const grant = await store.getGrant(listed.user, listed.provider, listed.tenant);
        if (!grant) return;
        const next: Grant = { ...grant };
        let sealed = 0;
        for (const field of GRANT_SECRET_FIELDS) {
          const value = grant[field];
          if (stale(value)) {
            next[field] = await cipher.rewrap(value);
            sealed++;
          }
        }
        if (sealed === 0) {
          if (GRANT_SECRET_FIELDS.some((field) => isSealedSecret(grant[field]))) result.unchanged++;
          return;
        }
        if (!opts.lock) {
          const now = await store.getGrant(grant.user, grant.provider, grant.tenant);
          const moved =
            !now ||
            now.generation !== grant.generation ||
            GRANT_SECRET_FIELDS.some((field) => now[field] !== grant[field]);
          if (moved) continue;
        }
        // Same generation: a rewrap is not a refresh, but it must not land on a grant that moved.
        await store.putGrant(next, { expect: { generation: grant.generation } });
        result.grants++;
        result.secrets += sealed;
        return;
      }
      throw new Error(`grant ${listed.id} kept changing during the rotation; run it again`);
    };
    if (opts.lock) {
      const key = opts.lockKey?.(listed) ?? grantKey(listed.user, listed.provider, listed.tenant);
      await opts.lock.withLock(key, rewrite);
    } else {
      await rewrite();
    }
  }

  for (const key of await store.keys()) {
    if (key.startsWith(GRANT_PREFIX)) continue;
    const entry = await store.getEntry<unknown>(key);
    if (!entry) continue;
    const counter = { sealed: 0 };
    const value = await rewrapDeep(entry.value, cipher, stale, counter);
    if (counter.sealed === 0) {
      if (containsSecret(entry.value)) result.unchanged++;
      continue;
    }
    let ttlMs: number | undefined;
    if (entry.expiresAt !== undefined) {
      ttlMs = entry.expiresAt - (opts.clock ?? systemClock).now();
      // It expired while we worked: nothing left to protect.
      if (ttlMs <= 0) continue;
    }
    await store.setRecord(key, value, ttlMs);
    result.records++;
    result.secrets += counter.sealed;
  }
  return result;
}

/** Records are free-form JSON: any string in them that is one of our ciphertexts is sealed again. */
async function rewrapDeep(
  value: unknown,
  cipher: KeywardCipher,
  stale: (v: unknown) => v is string,
  counter: { sealed: number },
): Promise<unknown> {
  if (stale(value)) {
    counter.sealed++;
    return cipher.rewrap(value);
  }
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) out.push(await rewrapDeep(item, cipher, stale, counter));
    return out;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = await rewrapDeep(v, cipher, stale, counter);
    return out;
  }
  return value;
}

function containsSecret(value: unknown): boolean {
  if (isSealedSecret(value)) return true;
  if (Array.isArray(value)) return value.some(containsSecret);
  if (value && typeof value === 'object') return Object.values(value).some(containsSecret);
  return false;
}
