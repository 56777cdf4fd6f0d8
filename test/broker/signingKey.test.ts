// The gateway's signing key: created once on the injected clock, shared by concurrent callers, a failed load not kept.
import { describe, expect, test } from 'vitest';
import { createGrantCipher, encryptionKeyFrom, generateEncryptionKey } from '../../src/broker/crypto.js';
import { createSigningKeys, SIGNING_KEY_RECORD } from '../../src/broker/signingKey.js';
import { createGrantStore } from '../../src/broker/store.js';
import { manualClock } from '../../src/clock.js';

describe('signing keys', () => {
  test('one key for concurrent first callers, dated by the injected clock; a failed load is tried again', async () => {
    const store = await createGrantStore('memory:');
    try {
      const cipher = createGrantCipher({ current: encryptionKeyFrom(generateEncryptionKey()) });
      const clock = manualClock(Date.UTC(2031, 4, 6));
      const getRecord = store.getRecord.bind(store);
      let down = true;
      store.getRecord = (async (key: string) => {
        if (down) throw new Error('store is down');
        return getRecord(key);
      }) as typeof store.getRecord;
      const keys = createSigningKeys({ store, cipher, issuer: 'http://127.0.0.1:9', clock });
      await expect(keys.signer()).rejects.toThrow('store is down');
      down = false;
      const signers = await Promise.all(Array.from({ length: 10 }, () => keys.signer()));
      expect(new Set(signers.map((s) => s.kid)).size).toBe(1);
      expect((await keys.jwks()).keys.map((k) => k.kid)).toEqual([signers[0]!.kid]);
      const stored = await getRecord<{ createdAt: number; privateJwkEnc: string }>(SIGNING_KEY_RECORD);
      expect(stored?.createdAt).toBe(Date.UTC(2031, 4, 6));
      expect(JSON.stringify(stored)).not.toContain('"d"');
    } finally {
      await store.close();
    }
  });
});
