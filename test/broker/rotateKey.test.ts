// Key rotation: every grant secret and every sealed record value moves to the current key, and nothing else changes.
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGrantCipher, encryptionKeyFrom, generateEncryptionKey } from '../../src/broker/crypto.js';
import { createMemoryLock } from '../../src/broker/locks/index.js';
import { rotateEncryptionKey } from '../../src/broker/rotateKey.js';
import { createGrantStore, grantKey } from '../../src/broker/store.js';
import type { Grant } from '../../src/broker/types.js';
import { StoreUnavailableError } from '../../src/errors.js';

const dir = path.join(tmpdir(), `kw-rotate-${process.pid}-${Date.now()}`);
afterAll(() => rm(dir, { recursive: true, force: true }));

const oldKey = encryptionKeyFrom(generateEncryptionKey());
const newKey = encryptionKeyFrom(generateEncryptionKey());
const before = createGrantCipher({ current: oldKey });
const after = createGrantCipher({ current: newKey, previous: [oldKey] });
const onlyNew = createGrantCipher({ current: newKey });

const alice = { user: 'alice', provider: 'github' };
const bobAcme = { user: 'bob', provider: 'google', tenant: 'acme' };

async function grant(binding: { user: string; provider: string; tenant?: string }, n: number): Promise<Grant> {
  return {
    id: `g${n}`,
    ...binding,
    scopes: ['a'],
    refreshTokenEnc: await before.encrypt(`refresh-${n}`, binding),
    accessTokenEnc: await before.encrypt(`access-${n}`, binding),
    consentedAt: 1,
    generation: 7,
    client: 'c',
    status: 'active',
    updatedAt: 2,
  };
}

describe('rotateEncryptionKey', () => {
  it('seals grants and record secrets again under the new key, keeping bindings, TTLs and everything else', async () => {
    const store = await createGrantStore(`sqlite:${dir}/rotate.db`);
    try {
      const g1 = await grant(alice, 1);
      const g2 = await grant(bobAcme, 2);
      await store.putGrant(g1);
      await store.putGrant(g2);
      await store.putGrant({
        ...(await grant({ user: 'carol', provider: 'github' }, 3)),
        refreshTokenEnc: undefined,
        accessTokenEnc: undefined,
      });
      const signing = {
        kid: 'sig1',
        privateJwkEnc: await before.encrypt('{"d":"secret"}', { user: '@gateway', provider: 'signing-key' }),
      };
      await store.setRecord('signing-key', signing);
      await store.setRecord(
        'cred:g1:x',
        { v: 1, tokenEnc: await before.encrypt('cached-1', alice), meta: { id: 'm' } },
        60_000,
      );
      await store.setRecord('onboard-state:s', { verifier: 'not-a-secret-to-us' }, 60_000);

      const waits: string[] = [];
      const lock = createMemoryLock({ onWait: (w) => waits.push(w.key) });
      const result = await rotateEncryptionKey(store, after, { lock });
      expect(result).toEqual({ grants: 2, records: 2, secrets: 6, unchanged: 0 });
      expect(waits.sort()).toEqual(
        [grantKey('alice', 'github'), grantKey('bob', 'google', 'acme'), grantKey('carol', 'github')].sort(),
      );

      // The old key can go now: a cipher that knows only the new one opens everything.
      const r1 = (await store.getGrant('alice', 'github')) as Grant;
      expect(await onlyNew.decrypt(r1.refreshTokenEnc as string, alice)).toBe('refresh-1');
      expect(await onlyNew.decrypt(r1.accessTokenEnc as string, alice)).toBe('access-1');
      expect({ ...r1, refreshTokenEnc: undefined, accessTokenEnc: undefined }).toEqual({
        ...g1,
        refreshTokenEnc: undefined,
        accessTokenEnc: undefined,
      });
      const r2 = (await store.getGrant('bob', 'google', 'acme')) as Grant;
      expect(await onlyNew.decrypt(r2.refreshTokenEnc as string, bobAcme)).toBe('refresh-2');
      // The binding came along: the rewrapped ciphertext still refuses another user.
      await expect(onlyNew.decrypt(r2.refreshTokenEnc as string, alice)).rejects.toBeInstanceOf(StoreUnavailableError);

      const s = await store.getRecord<typeof signing>('signing-key');
      expect(s?.kid).toBe('sig1');
      expect(await onlyNew.decrypt(s?.privateJwkEnc as string, { user: '@gateway', provider: 'signing-key' })).toBe(
        '{"d":"secret"}',
      );
      const cred = await store.getEntry<{ tokenEnc: string; meta: unknown }>('cred:g1:x');
      expect(await onlyNew.decrypt(cred?.value.tokenEnc as string, alice)).toBe('cached-1');
      expect(cred?.value.meta).toEqual({ id: 'm' });
      expect(cred?.expiresAt).toBeGreaterThan(Date.now() + 50_000);
      expect(await store.getRecord('onboard-state:s')).toEqual({ verifier: 'not-a-secret-to-us' });

      // Running it again finds nothing left to do.
      expect(await rotateEncryptionKey(store, after)).toEqual({ grants: 0, records: 0, secrets: 0, unchanged: 4 });
    } finally {
      await store.close();
    }
  });

  it('stops with store_unavailable on a secret under a key it was not given, leaving it untouched', async () => {
    const store = await createGrantStore('memory:');
    try {
      const g = await grant(alice, 1);
      await store.putGrant(g);
      await expect(rotateEncryptionKey(store, onlyNew)).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(await store.getGrant('alice', 'github')).toEqual(g);
    } finally {
      await store.close();
    }
  });

  it('without a lock, does not overwrite a grant that a refresh moved on meanwhile', async () => {
    const store = await createGrantStore('memory:');
    try {
      await store.putGrant(await grant(alice, 1));
      // A refresh lands between the rotation's read and its write (simulated on the first re-read).
      const refreshed = {
        ...(await grant(alice, 1)),
        generation: 8,
        refreshTokenEnc: await after.encrypt('refresh-new', alice),
      };
      let reads = 0;
      const racing = new Proxy(store, {
        get(target, prop) {
          if (prop === 'getGrant') {
            return async (user: string, provider: string, tenant?: string) => {
              reads++;
              if (reads === 2) await target.putGrant(refreshed);
              return target.getGrant(user, provider, tenant);
            };
          }
          const value = Reflect.get(target, prop);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
      const result = await rotateEncryptionKey(racing, after);
      expect(result.grants).toBe(1);
      const final = (await store.getGrant('alice', 'github')) as Grant;
      expect(final.generation).toBe(8);
      expect(await onlyNew.decrypt(final.refreshTokenEnc as string, alice)).toBe('refresh-new');
      expect(await onlyNew.decrypt(final.accessTokenEnc as string, alice)).toBe('access-1');
    } finally {
      await store.close();
    }
  });
});
