// Narrowed credentials, cached per (grant, consent, scope set, audience) in memory and, encrypted, in the shared store.
import { createHash } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { CallCredential, Grant, GrantCipher, GrantStore, SecretBinding } from './types.js';

export type CredentialMeta = CallCredential['meta'];

export interface CachedCredential {
  token: string;
  meta: CredentialMeta;
}

/** The store record under `cred:<grant id>:…`: the token is a JWE bound to the grant's user and provider. */
interface StoredCredential {
  v: 1;
  tokenEnc: string;
  meta: CredentialMeta;
}

export const CREDENTIAL_PREFIX = 'cred:';

export interface CredentialCacheOptions {
  store: GrantStore;
  cipher: GrantCipher;
  clock: Clock;
  logger: Logger;
  /** A credential is not handed out this close to its expiry. */
  skewMs: number;
  /** Share credentials with other processes through the store. */
  shared: boolean;
  maxEntries?: number;
}

export type CacheSource = 'memory' | 'store';

export function bindingOf(grant: Pick<Grant, 'user' | 'provider' | 'tenant'>): SecretBinding {
  return grant.tenant
    ? { user: grant.user, provider: grant.provider, tenant: grant.tenant }
    : { user: grant.user, provider: grant.provider };
}

/** A digest that names a token in logs and audit records without revealing it. */
export function credentialId(token: string): string {
  return `sha256:${createHash('sha256').update(token).digest('base64url').slice(0, 22)}`;
}

export function createCredentialCache(opts: CredentialCacheOptions) {
  const memory = new Map<string, CachedCredential>();
  const maxEntries = opts.maxEntries ?? 10_000;

  const fresh = (meta: CredentialMeta) => meta.expiresAt - opts.skewMs > opts.clock.now();

  /**
   * The key changes when the user consents again (consentedAt), so a credential from an
   * earlier consent is never handed out; revocation is checked on the grant before any lookup.
   */
  function keyFor(grant: Grant, kind: string, scopes: readonly string[], audience: string): string {
    const digest = createHash('sha256')
      .update(JSON.stringify([kind, [...scopes].sort(), audience]))
      .digest('base64url')
      .slice(0, 22);
    return `${CREDENTIAL_PREFIX}${grant.id}:${grant.consentedAt}:${digest}`;
  }

  function remember(key: string, cred: CachedCredential): void {
    if (memory.size >= maxEntries) {
      for (const [k, v] of memory) if (!fresh(v.meta)) memory.delete(k);
      // Still full: drop the oldest insertions.
      for (const k of memory.keys()) {
        if (memory.size < maxEntries) break;
        memory.delete(k);
      }
    }
    memory.set(key, cred);
  }

  async function get(
    key: string,
    grant: Grant,
    opts2: { memoryOnly?: boolean } = {},
  ): Promise<{ cred: CachedCredential; source: CacheSource } | undefined> {
    const m = memory.get(key);
    if (m) {
      if (fresh(m.meta)) return { cred: m, source: 'memory' };
      memory.delete(key);
    }
    if (!opts.shared || opts2.memoryOnly) return undefined;
    const stored = await opts.store.getRecord<StoredCredential>(key);
    if (stored?.v !== 1 || !fresh(stored.meta)) return undefined;
    let token: string;
    try {
      token = await opts.cipher.decrypt(stored.tokenEnc, bindingOf(grant));
    } catch (err) {
      // A cached copy is never worth failing a call for: the grant itself decides.
      opts.logger.debug({ err: (err as Error).name, grantId: grant.id }, 'cached credential unreadable; ignoring it');
      return undefined;
    }
    const cred = { token, meta: stored.meta };
    remember(key, cred);
    return { cred, source: 'store' };
  }

  async function set(key: string, grant: Grant, cred: CachedCredential): Promise<void> {
    remember(key, cred);
    const ttl = cred.meta.expiresAt - opts.skewMs - opts.clock.now();
    if (!opts.shared || ttl <= 0) return;
    try {
      const record: StoredCredential = {
        v: 1,
        tokenEnc: await opts.cipher.encrypt(cred.token, bindingOf(grant)),
        meta: cred.meta,
      };
      await opts.store.setRecord(key, record, ttl);
    } catch (err) {
      // The credential was paid for with a refresh and serves this call from memory; another
      // process that misses it refreshes again, under the grant lock.
      opts.logger.debug({ err: (err as Error).name, grantId: grant.id }, 'credential not shared through the store');
    }
  }

  /** Drops `key`, but only while it still holds the credential `id` (a newer one stays). */
  async function drop(key: string, id: string): Promise<void> {
    if (memory.get(key)?.meta.id === id) memory.delete(key);
    if (!opts.shared) return;
    const stored = await opts.store.getRecord<StoredCredential>(key);
    if (stored?.meta.id === id) await opts.store.deleteRecord(key);
  }

  return {
    keyFor,
    get,
    set,
    drop,
    clear: () => memory.clear(),
    get size() {
      return memory.size;
    },
  };
}

export type CredentialCache = ReturnType<typeof createCredentialCache>;
