// Encryption at rest for grant secrets: JWE (dir + A256GCM) bound to its user, provider and tenant.
import { CompactEncrypt, type CompactJWEHeaderParameters, compactDecrypt, decodeProtectedHeader } from 'jose';
import { KEY_BYTES } from '../config/keys.js';
import type { EncryptionKey } from '../config/types.js';
import { ReauthRequiredError, StoreUnavailableError } from '../errors.js';
import type { GrantCipher, SecretBinding } from './types.js';

// Kept importable from here for the CLI and tests; the config owns the one decoder.
export { encryptionKeyFrom, generateEncryptionKey, keyIdOf } from '../config/keys.js';

const ALG = 'dir';
const ENC = 'A256GCM';
/** Compact JWE with `dir`: header, an empty encrypted key, iv, ciphertext, tag. */
const COMPACT_DIR_JWE = /^[A-Za-z0-9_-]+\.\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$/;

/** True for a string that has the shape of a ciphertext this module wrote; says nothing about which key. */
export function isSealedSecret(value: unknown): value is string {
  if (typeof value !== 'string' || !COMPACT_DIR_JWE.test(value)) return false;
  const header = headerOf(value);
  return header !== undefined && typeof header.kid === 'string' && typeof header.kw_u === 'string';
}

/** The cipher the broker uses, plus what key rotation needs. */
export interface KeywardCipher extends GrantCipher {
  readonly currentKid: string;
  /** The kid a ciphertext names, or undefined for something that is not one of ours. */
  kidOf(jwe: string): string | undefined;
  /**
   * Decrypts with the binding the ciphertext carries and seals it again under the current key,
   * with the same binding. For key rotation only: the binding cannot change on the way.
   */
  rewrap(jwe: string): Promise<string>;
}

interface BoundHeader {
  alg?: unknown;
  enc?: unknown;
  kid?: unknown;
  kw_u?: unknown;
  kw_p?: unknown;
  kw_t?: unknown;
}

function headerOf(jwe: string): BoundHeader | undefined {
  try {
    return decodeProtectedHeader(jwe) as BoundHeader;
  } catch {
    return undefined;
  }
}

function undecryptable(reason: string, internal: string, cause?: unknown): StoreUnavailableError {
  return new StoreUnavailableError(
    `a stored grant could not be decrypted: ${reason}`,
    { internal },
    cause === undefined ? undefined : { cause },
  );
}

/**
 * A ciphertext under a key the config no longer has. Waiting will not help, so it is never
 * retryable: the operator puts the old key back in `previousEncryptionKeys`, or, for a user's
 * grant, the user grants access again (which seals a new grant under the current key). The grant
 * itself is left as it is, so the first fix still works after the error.
 */
function wrongKey(kid: string, detail: string, internal: string, grant: SecretBinding | undefined): Error {
  if (grant && !grant.user.startsWith('@')) {
    return new ReauthRequiredError(
      `The stored ${grant.provider} grant was sealed with an encryption key this gateway does not have (kid ${kid}): ` +
        'the operator can add that key to previousEncryptionKeys, or the user can grant access again.',
      { provider: grant.provider, reason: 'encryption_key_unknown', internal },
    );
  }
  return new StoreUnavailableError(
    `a stored secret could not be decrypted: ${detail}; add the key it was written with to previousEncryptionKeys`,
    { internal },
  );
}

function checkKey(option: string, k: EncryptionKey): void {
  if (!k || typeof k.kid !== 'string' || k.kid.length === 0) {
    throw new TypeError(`${option}.kid: required`);
  }
  if (!(k.key instanceof Uint8Array) || k.key.length !== KEY_BYTES) {
    throw new TypeError(`${option}.key: must be ${KEY_BYTES} bytes`);
  }
}

/**
 * One current key seals; the current and every previous key open. A ciphertext opens only for
 * the binding sealed into its protected header, so it cannot be moved to another user's grant.
 */
export function createGrantCipher(opts: { current: EncryptionKey; previous?: EncryptionKey[] }): KeywardCipher {
  checkKey('encryption.current', opts.current);
  const previous = opts.previous ?? [];
  for (const [i, k] of previous.entries()) checkKey(`encryption.previous[${i}]`, k);

  // Several keys may share a kid only by misconfiguration; try each rather than guess.
  const byKid = new Map<string, Uint8Array[]>();
  for (const k of [opts.current, ...previous]) {
    const list = byKid.get(k.kid) ?? [];
    if (!list.some((existing) => Buffer.compare(existing, k.key) === 0)) list.push(k.key);
    byKid.set(k.kid, list);
  }

  // Importing once keeps 200 concurrent decrypts from importing the same key 200 times.
  const imported = new Map<Uint8Array, Promise<CryptoKey>>();
  const cryptoKey = (raw: Uint8Array): Promise<CryptoKey> => {
    let p = imported.get(raw);
    if (!p) {
      p = globalThis.crypto.subtle.importKey('raw', new Uint8Array(raw), { name: 'AES-GCM' }, false, [
        'encrypt',
        'decrypt',
      ]);
      imported.set(raw, p);
    }
    return p;
  };

  const seal = async (plaintext: string, binding: SecretBinding): Promise<string> => {
    if (typeof plaintext !== 'string') throw new TypeError('encrypt: plaintext must be a string');
    checkBinding(binding);
    const header: CompactJWEHeaderParameters & Record<string, string> = {
      alg: ALG,
      enc: ENC,
      kid: opts.current.kid,
      kw_u: binding.user,
      kw_p: binding.provider,
    };
    if (binding.tenant !== undefined) header.kw_t = binding.tenant;
    return new CompactEncrypt(new TextEncoder().encode(plaintext))
      .setProtectedHeader(header)
      .encrypt(await cryptoKey(opts.current.key));
  };

  /** Opens a ciphertext and returns the plaintext and the binding it was sealed with. */
  const open = async (jwe: string, grant?: SecretBinding): Promise<{ plaintext: string; bound: SecretBinding }> => {
    if (typeof jwe !== 'string' || !COMPACT_DIR_JWE.test(jwe)) {
      throw undecryptable('the stored value is not a ciphertext this gateway wrote', 'not a compact dir JWE');
    }
    const header = headerOf(jwe);
    if (!header) throw undecryptable('the stored value is malformed', 'protected header does not decode');
    if (header.alg !== ALG || header.enc !== ENC) {
      throw undecryptable(
        'the stored value uses an unexpected algorithm',
        `alg=${String(header.alg)} enc=${String(header.enc)}`,
      );
    }
    if (typeof header.kid !== 'string') throw undecryptable('the stored value names no key (kid)', 'no kid');
    if (typeof header.kw_u !== 'string' || typeof header.kw_p !== 'string') {
      throw undecryptable('the stored value carries no user and provider binding', 'no kw_u/kw_p');
    }
    const candidates = byKid.get(header.kid);
    if (!candidates) {
      throw wrongKey(
        header.kid,
        `no configured encryption key has kid ${header.kid}`,
        `unknown kid ${header.kid}; known: ${[...byKid.keys()].join(', ')}`,
        grant,
      );
    }
    let lastError: unknown;
    for (const raw of candidates) {
      try {
        const { plaintext } = await compactDecrypt(jwe, await cryptoKey(raw), {
          keyManagementAlgorithms: [ALG],
          contentEncryptionAlgorithms: [ENC],
        });
        const bound: SecretBinding = { user: header.kw_u, provider: header.kw_p };
        if (typeof header.kw_t === 'string') bound.tenant = header.kw_t;
        return { plaintext: new TextDecoder().decode(plaintext), bound };
      } catch (err) {
        lastError = err;
      }
    }
    // The kid is a digest of the key, so a known kid that fails means damaged data, not a missing key.
    throw undecryptable(
      `the encryption key does not match (kid ${header.kid})`,
      `decryption failed with every key named ${header.kid}`,
      lastError,
    );
  };

  return {
    currentKid: opts.current.kid,
    encrypt: seal,
    async decrypt(jwe, binding) {
      checkBinding(binding);
      const { plaintext, bound } = await open(jwe, binding);
      // The header is authenticated, so a match here means the ciphertext was sealed for this grant.
      if (bound.user !== binding.user || bound.provider !== binding.provider || bound.tenant !== binding.tenant) {
        throw undecryptable(
          'the ciphertext belongs to another grant (user, provider or tenant differ)',
          `sealed for ${JSON.stringify(bound)}, asked for ${JSON.stringify({ user: binding.user, provider: binding.provider, tenant: binding.tenant })}`,
        );
      }
      return plaintext;
    },
    kidOf(jwe) {
      if (!isSealedSecret(jwe)) return undefined;
      const kid = headerOf(jwe)?.kid;
      return typeof kid === 'string' ? kid : undefined;
    },
    async rewrap(jwe) {
      const { plaintext, bound } = await open(jwe);
      return seal(plaintext, bound);
    },
  };
}

function checkBinding(binding: SecretBinding): void {
  if (!binding || typeof binding.user !== 'string' || binding.user.length === 0) {
    throw new TypeError('binding.user: required');
  }
  if (typeof binding.provider !== 'string' || binding.provider.length === 0) {
    throw new TypeError('binding.provider: required');
  }
  if (binding.tenant !== undefined && typeof binding.tenant !== 'string') {
    throw new TypeError('binding.tenant: must be a string');
  }
}
