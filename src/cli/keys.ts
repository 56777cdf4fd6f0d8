// `keyward keygen`, `keyward jwks` and `keyward rotate-key`: the gateway's own keys.
import { createGrantCipher, generateEncryptionKey } from '../broker/crypto.js';
import { createRefreshLock } from '../broker/locks/index.js';
import { rotateEncryptionKey } from '../broker/rotateKey.js';
import { createSigningKeys } from '../broker/signingKey.js';
import { createGrantStore } from '../broker/store.js';
import { loadConfig } from '../config/load.js';

export function runKeygen(): void {
  console.log(generateEncryptionKey());
}

export async function runJwks(opts: { config: string }): Promise<void> {
  const config = await loadConfig(opts.config);
  const store = await createGrantStore(config.store);
  try {
    const cipher = createGrantCipher(config.encryption);
    const lock = await createRefreshLock(config.store);
    try {
      const keys = createSigningKeys({ store, cipher, lock, issuer: config.server.publicUrl });
      console.log(JSON.stringify(await keys.jwks(), null, 2));
    } finally {
      await lock.close();
    }
  } finally {
    await store.close();
  }
}

export async function runRotateKey(opts: { config: string }): Promise<void> {
  const config = await loadConfig(opts.config);
  const store = await createGrantStore(config.store);
  try {
    const lock = await createRefreshLock(config.store);
    try {
      const r = await rotateEncryptionKey(store, createGrantCipher(config.encryption), { lock });
      console.log(
        `sealed ${r.secrets} secret(s) in ${r.grants} grant(s) and ${r.records} record(s) again under key ${config.encryption.current.kid}; ${r.unchanged} already current`,
      );
    } finally {
      await lock.close();
    }
  } finally {
    await store.close();
  }
}
