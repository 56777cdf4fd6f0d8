// The gateway's own signing key for `mint`: generated once, kept encrypted in the store, loaded once per process.
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { type Clock, systemClock } from '../clock.js';
import { StoreUnavailableError } from '../errors.js';
import { memoiseUnlessRejected } from '../memo.js';
import type { GrantCipher, GrantStore, RefreshLock, SecretBinding } from './types.js';

export const SIGNING_KEY_RECORD = 'signing-key';
export type SigningAlg = 'ES256' | 'EdDSA';

/** Store record `signing-key`: the private JWK is a JWE bound to the gateway itself. */
interface StoredSigningKey {
  v: 1;
  alg: SigningAlg;
  kid: string;
  publicJwk: JWK;
  privateJwkEnc: string;
  createdAt: number;
}

export interface Signer {
  alg: SigningAlg;
  kid: string;
  key: CryptoKey;
  /** The `iss` of minted credentials. */
  issuer: string;
}

export interface SigningKeys {
  /** The key to sign with; loaded (or created) on first use, then kept in memory. */
  signer(): Promise<Signer>;
  /** For /.well-known/jwks.json and `keyward jwks`. */
  jwks(): Promise<{ keys: JWK[] }>;
}

const BINDING: SecretBinding = { user: '@gateway', provider: SIGNING_KEY_RECORD };

export function createSigningKeys(deps: {
  store: GrantStore;
  cipher: GrantCipher;
  issuer: string;
  /** Serializes first-time creation across processes sharing the store. */
  lock?: RefreshLock;
  alg?: SigningAlg;
  /** When a new key says it was created. */
  clock?: Clock;
}): SigningKeys {
  const alg = deps.alg ?? 'ES256';
  const clock = deps.clock ?? systemClock;

  async function create(): Promise<StoredSigningKey> {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    return {
      v: 1,
      alg,
      kid,
      publicJwk: { ...publicJwk, kid, alg, use: 'sig' },
      privateJwkEnc: await deps.cipher.encrypt(JSON.stringify(privateJwk), BINDING),
      createdAt: clock.now(),
    };
  }

  async function loadOrCreate(): Promise<StoredSigningKey> {
    const existing = await deps.store.getRecord<StoredSigningKey>(SIGNING_KEY_RECORD);
    if (existing) return existing;
    const make = async () => {
      // Re-read under the lock: another process may have just created it.
      const again = await deps.store.getRecord<StoredSigningKey>(SIGNING_KEY_RECORD);
      if (again) return again;
      await deps.store.setRecord(SIGNING_KEY_RECORD, await create());
      // Without a lock two processes may race; whichever write landed is the one everybody uses.
      const stored = await deps.store.getRecord<StoredSigningKey>(SIGNING_KEY_RECORD);
      if (!stored) throw new StoreUnavailableError('The signing key could not be stored.');
      return stored;
    };
    return deps.lock ? deps.lock.withLock(SIGNING_KEY_RECORD, make) : make();
  }

  async function load() {
    const stored = await loadOrCreate();
    const jwk = JSON.parse(await deps.cipher.decrypt(stored.privateJwkEnc, BINDING)) as JWK;
    const key = (await importJWK(jwk, stored.alg)) as CryptoKey;
    return { signer: { alg: stored.alg, kid: stored.kid, key, issuer: deps.issuer }, publicJwk: stored.publicJwk };
  }

  // A failed load (store down) is not kept: the next signer() tries again.
  const loaded = memoiseUnlessRejected(load).get;

  return {
    signer: async () => (await loaded()).signer,
    jwks: async () => ({ keys: [(await loaded()).publicJwk] }),
  };
}
