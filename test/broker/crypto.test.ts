// Encryption at rest: round trips, rotation keys, and every way a ciphertext must refuse to open.
import { describe, expect, it } from 'vitest';
import {
  createGrantCipher,
  encryptionKeyFrom,
  generateEncryptionKey,
  isSealedSecret,
  keyIdOf,
} from '../../src/broker/crypto.js';
import { ReauthRequiredError, StoreUnavailableError } from '../../src/errors.js';

const keyA = encryptionKeyFrom(generateEncryptionKey());
const keyB = encryptionKeyFrom(generateEncryptionKey());
const alice = { user: 'alice', provider: 'github' };
const bob = { user: 'bob', provider: 'github' };
const TOKEN = 'gho_canary_refresh_token_0123456789';

async function expectUndecryptable(p: Promise<unknown>, message: RegExp) {
  const err = await p.then(
    () => expect.fail('decrypted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreUnavailableError);
  const payload = (err as StoreUnavailableError).toPayload();
  expect(payload.code).toBe('store_unavailable');
  expect(payload.message).toMatch(message);
  expect(JSON.stringify(payload)).not.toContain(TOKEN);
}

describe('keys', () => {
  it('generates 32-byte base64url keys whose kid is a short digest', () => {
    const text = generateEncryptionKey();
    expect(text).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const key = encryptionKeyFrom(text);
    expect(key.key).toHaveLength(32);
    expect(key.kid).toBe(keyIdOf(key.key));
    expect(key.kid).toHaveLength(12);
    expect(key.kid).not.toBe(keyIdOf(keyB.key));
  });

  it('rejects keys of the wrong size or alphabet, naming the fix', () => {
    expect(() => encryptionKeyFrom('c2hvcnQ')).toThrow(/32 bytes.*keyward keygen/);
    expect(() => encryptionKeyFrom('not a key!')).toThrow(/base64url/);
    expect(() => createGrantCipher({ current: { kid: 'x', key: new Uint8Array(16) } })).toThrow(
      'encryption.current.key: must be 32 bytes',
    );
  });
});

describe('grant cipher', () => {
  const cipher = createGrantCipher({ current: keyA, previous: [] });

  it('round-trips and carries kid and binding in the protected header, not the token', async () => {
    const jwe = await cipher.encrypt(TOKEN, alice);
    expect(isSealedSecret(jwe)).toBe(true);
    expect(jwe).not.toContain(TOKEN);
    const header = JSON.parse(Buffer.from(jwe.split('.')[0] as string, 'base64url').toString());
    expect(header).toEqual({ alg: 'dir', enc: 'A256GCM', kid: keyA.kid, kw_u: 'alice', kw_p: 'github' });
    expect(await cipher.decrypt(jwe, alice)).toBe(TOKEN);
    expect(cipher.kidOf(jwe)).toBe(keyA.kid);
  });

  it('binds the tenant too', async () => {
    const jwe = await cipher.encrypt(TOKEN, { ...alice, tenant: 'acme' });
    expect(await cipher.decrypt(jwe, { ...alice, tenant: 'acme' })).toBe(TOKEN);
    await expectUndecryptable(cipher.decrypt(jwe, alice), /belongs to another grant/);
    await expectUndecryptable(cipher.decrypt(jwe, { ...alice, tenant: 'other' }), /belongs to another grant/);
  });

  it('refuses a ciphertext swapped between two users', async () => {
    const alicesToken = await cipher.encrypt(TOKEN, alice);
    await expectUndecryptable(cipher.decrypt(alicesToken, bob), /belongs to another grant/);
    await expectUndecryptable(cipher.decrypt(alicesToken, { user: 'alice', provider: 'google' }), /another grant/);
  });

  it('refuses a header edited to name another user (the header is authenticated)', async () => {
    const [, ...rest] = (await cipher.encrypt(TOKEN, alice)).split('.');
    const forged = Buffer.from(
      JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: keyA.kid, kw_u: 'bob', kw_p: 'github' }),
    ).toString('base64url');
    await expectUndecryptable(cipher.decrypt([forged, ...rest].join('.'), bob), /does not match/);
  });

  it('still opens ciphertexts under a previous key, and seals under the current one', async () => {
    const old = await createGrantCipher({ current: keyA }).encrypt(TOKEN, alice);
    const rotated = createGrantCipher({ current: keyB, previous: [keyA] });
    expect(await rotated.decrypt(old, alice)).toBe(TOKEN);
    const fresh = await rotated.encrypt(TOKEN, alice);
    expect(rotated.kidOf(fresh)).toBe(keyB.kid);
    const rewrapped = await rotated.rewrap(old);
    expect(rotated.kidOf(rewrapped)).toBe(keyB.kid);
    expect(await createGrantCipher({ current: keyB }).decrypt(rewrapped, alice)).toBe(TOKEN);
  });

  it('a user grant under a key the config no longer has: not retryable, names both fixes', async () => {
    const underB = await createGrantCipher({ current: keyB }).encrypt(TOKEN, alice);
    {
      const err = await cipher.decrypt(underB, alice).then(
        () => expect.fail('decrypted'),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ReauthRequiredError);
      const payload = (err as ReauthRequiredError).toPayload();
      expect(payload).toMatchObject({
        code: 'reauth_required',
        retryable: false,
        provider: 'github',
        reason: 'encryption_key_unknown',
      });
      expect(payload.retryAfterSeconds).toBeUndefined();
      expect(payload.message).toContain(`kid ${keyB.kid}`);
      expect(payload.message).toMatch(/previousEncryptionKeys.*grant access again/);
      expect(JSON.stringify(payload)).not.toContain(TOKEN);
    }
    // Same kid, different key material: damaged data or a hand-edited key, not a missing one.
    const impostor = createGrantCipher({ current: { kid: keyB.kid, key: keyA.key } });
    await expectUndecryptable(
      impostor.decrypt(underB, alice),
      new RegExp(`^a stored grant could not be decrypted: the encryption key does not match \\(kid ${keyB.kid}\\)$`),
    );
  });

  it("the gateway's own secrets (signing key) and rotation name previousEncryptionKeys", async () => {
    const gateway = { user: '@gateway', provider: 'signing-key' };
    const underB = await createGrantCipher({ current: keyB }).encrypt(TOKEN, gateway);
    await expectUndecryptable(
      cipher.decrypt(underB, gateway),
      new RegExp(`no configured encryption key has kid ${keyB.kid}; add the key .* to previousEncryptionKeys`),
    );
    await expectUndecryptable(cipher.rewrap(underB), /previousEncryptionKeys/);
  });

  it('gives store_unavailable for garbage', async () => {
    await expectUndecryptable(cipher.decrypt('not-a-jwe', alice), /not a ciphertext/);
    await expectUndecryptable(cipher.decrypt(TOKEN, alice), /not a ciphertext/);
    const jwe = await cipher.encrypt(TOKEN, alice);
    const parts = jwe.split('.');
    parts[3] = `${parts[3]?.slice(0, -2)}AA`;
    await expectUndecryptable(cipher.decrypt(parts.join('.'), alice), /does not match|malformed/);
    expect(isSealedSecret(TOKEN)).toBe(false);
    expect(isSealedSecret('a..b.c.d')).toBe(false);
  });
});
