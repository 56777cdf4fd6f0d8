// The grant store on every backend: CRUD, listing across instances, TTL, and store_unavailable with recovery.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createGrantCipher, encryptionKeyFrom, generateEncryptionKey } from '../../src/broker/crypto.js';
import { createGrantStore, grantKey, type KeywardStore } from '../../src/broker/store.js';
import type { Grant } from '../../src/broker/types.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { freePort } from '../helpers/ports.js';
import { postgresOrSkip, startRedisOrSkip } from '../helpers/services.js';

const redis = await startRedisOrSkip();
const postgres = await postgresOrSkip();
const dir = path.join(tmpdir(), `kw-store-${process.pid}-${Date.now()}`);
afterAll(async () => {
  await redis?.stop();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

const cipher = createGrantCipher({ current: encryptionKeyFrom(generateEncryptionKey()) });
const REFRESH = 'rt_canary_9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const ACCESS = 'at_canary_0a1b2c3d4e5f60718293a4b5c6d7e8f9';

async function grantFor(user: string, provider: string, tenant?: string): Promise<Grant> {
  const binding = { user, provider, ...(tenant !== undefined ? { tenant } : {}) };
  return {
    id: `g-${user}-${provider}-${tenant ?? ''}`,
    user,
    provider,
    ...(tenant !== undefined ? { tenant } : {}),
    scopes: ['repo', 'read:user'],
    refreshTokenEnc: await cipher.encrypt(REFRESH, binding),
    accessTokenEnc: await cipher.encrypt(ACCESS, binding),
    accessTokenExpiresAt: 1_900_000_000_000,
    consentedAt: 1_800_000_000_000,
    generation: 1,
    client: 'claude-desktop',
    status: 'active',
    updatedAt: 1_800_000_000_000,
  };
}

async function expectUnavailable(p: Promise<unknown>) {
  const err = await p.then(
    () => expect.fail('the call succeeded'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StoreUnavailableError);
  expect((err as StoreUnavailableError).toPayload()).toMatchObject({ code: 'store_unavailable', retryable: true });
  expect((err as Error).cause).toBeDefined();
  return err as StoreUnavailableError;
}

let seq = 0;
const backends: { name: string; url: () => string; shared: boolean; skip: boolean }[] = [
  { name: 'memory', url: () => 'memory:', shared: false, skip: false },
  { name: 'sqlite', url: () => `sqlite:${dir}/nested/s${seq}.db`, shared: true, skip: false },
  { name: 'redis', url: () => redis?.url ?? '', shared: true, skip: !redis },
  { name: 'postgres', url: () => postgres?.url ?? '', shared: true, skip: !postgres },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`grant store on ${backend.name}`, () => {
    const open = async () => {
      seq++;
      const url = backend.url();
      const namespace = `t${seq}`;
      return { url, namespace, store: await createGrantStore(url, { namespace }) };
    };

    it('puts, gets and lists grants, keeping users, providers and tenants apart', async () => {
      const { store } = await open();
      try {
        expect(await store.getGrant('alice', 'github')).toBeUndefined();
        const grants = [
          await grantFor('alice', 'github'),
          await grantFor('alice', 'google'),
          await grantFor('bob', 'github'),
          await grantFor('alice', 'github', 'acme'),
          await grantFor('we:ird/user', 'git:hub'),
        ];
        for (const g of grants) await store.putGrant(g);
        expect(await store.getGrant('alice', 'github')).toEqual(grants[0]);
        expect(await store.getGrant('alice', 'github', 'acme')).toEqual(grants[3]);
        expect(await store.getGrant('we:ird/user', 'git:hub')).toEqual(grants[4]);
        expect(await store.getGrant('we', 'ird/user:git:hub')).toBeUndefined();
        expect(await store.getGrant('alice', 'github', '-')).toBeUndefined();

        expect(await store.listGrants()).toHaveLength(5);
        expect((await store.listGrants({ user: 'alice' })).map((g) => g.id).sort()).toEqual(
          [grants[0], grants[1], grants[3]].map((g) => g?.id).sort(),
        );
        expect((await store.listGrants({ user: 'alice', provider: 'google' })).map((g) => g.id)).toEqual([
          grants[1]?.id,
        ]);
        expect(await store.listGrants({ provider: 'nothing' })).toEqual([]);

        const updated = {
          ...(grants[0] as Grant),
          generation: 2,
          status: 'needs_reauth' as const,
          reason: 'invalid_grant',
        };
        await store.putGrant(updated);
        expect(await store.getGrant('alice', 'github')).toEqual(updated);
        expect(await store.listGrants()).toHaveLength(5);
      } finally {
        await store.close();
      }
    });

    it('keeps records apart from grants, with TTL and delete', async () => {
      const { store } = await open();
      try {
        await store.putGrant(await grantFor('alice', 'github'));
        await store.setRecord('signing-key', { kid: 'k1', jwk: { kty: 'EC' } });
        await store.setRecord('onboard-state:abc', { user: 'alice' }, 150);
        await store.setRecord('cred:x', ':base64:looks-like-a-buffer');
        expect(await store.getRecord('signing-key')).toEqual({ kid: 'k1', jwk: { kty: 'EC' } });
        expect(await store.getRecord('cred:x')).toBe(':base64:looks-like-a-buffer');
        expect((await store.getEntry('onboard-state:abc'))?.expiresAt).toBeGreaterThan(Date.now());
        expect(await store.keys()).toEqual(['cred:x', grantKey('alice', 'github'), 'onboard-state:abc', 'signing-key']);
        expect(await store.listGrants()).toHaveLength(1);
        await new Promise((r) => setTimeout(r, 250));
        expect(await store.getRecord('onboard-state:abc')).toBeUndefined();
        expect(await store.deleteRecord('cred:x')).toBe(true);
        expect(await store.deleteRecord('cred:x')).toBe(false);
        expect(await store.getRecord('cred:x')).toBeUndefined();
        expect(await store.keys('s')).toEqual(['signing-key']);
      } finally {
        await store.close();
      }
    });

    it('refuses plaintext secrets, malformed grants and record keys in the grant space', async () => {
      const { store } = await open();
      try {
        const g = await grantFor('alice', 'github');
        await expect(store.putGrant({ ...g, refreshTokenEnc: REFRESH })).rejects.toThrow(
          'grant.refreshTokenEnc: must be sealed with the grant cipher, never plaintext',
        );
        await expect(store.putGrant({ ...g, user: '' })).rejects.toThrow('grant.user: required');
        await expect(store.setRecord('grant:-:alice:github', {})).rejects.toThrow(/reserved for grants/);
        await expect(store.setRecord('x', 1, -5)).rejects.toThrow(/ttlMs/);
        expect(await store.getGrant('alice', 'github')).toBeUndefined();
      } finally {
        await store.close();
      }
    });

    it.skipIf(!backend.shared)(
      'lists grants written by another instance (another process) sharing the backend',
      async () => {
        const { url, namespace, store } = await open();
        const other = await createGrantStore(url, { namespace });
        const elsewhere = await createGrantStore(url, { namespace: `${namespace}x` });
        try {
          const [a, b] = [await grantFor('alice', 'github'), await grantFor('bob', 'github')];
          await Promise.all([store.putGrant(a), other.putGrant(b)]);
          expect((await store.listGrants()).map((g) => g.user)).toEqual(['alice', 'bob']);
          expect((await other.getGrant('alice', 'github'))?.user).toBe('alice');
          expect(await elsewhere.listGrants()).toEqual([]);
        } finally {
          await Promise.all([store.close(), other.close(), elsewhere.close()]);
        }
      },
    );
  });
}

describe('sqlite file', () => {
  it('holds no plaintext token anywhere in its files, and is private to its owner', async () => {
    const folder = path.join(dir, 'raw');
    const store = await createGrantStore(`sqlite:${folder}/keyward.db`);
    await store.putGrant(await grantFor('alice', 'github'));
    await store.setRecord('cred:alice', {
      tokenEnc: await cipher.encrypt(ACCESS, { user: 'alice', provider: 'github' }),
    });
    expect((await stat(`${folder}/keyward.db`)).mode & 0o777).toBe(0o600);
    // Read while open (WAL and all) and again after close.
    for (const phase of ['open', 'closed']) {
      for (const file of await readdir(folder)) {
        const bytes = await readFile(path.join(folder, file));
        expect(bytes.includes(REFRESH), `${file} (${phase})`).toBe(false);
        expect(bytes.includes(ACCESS), `${file} (${phase})`).toBe(false);
      }
      if (phase === 'open') await store.close();
    }
    const reopened = await createGrantStore(`sqlite:${folder}/keyward.db`);
    const g = await reopened.getGrant('alice', 'github');
    expect(await cipher.decrypt(g?.refreshTokenEnc as string, { user: 'alice', provider: 'github' })).toBe(REFRESH);
    await reopened.close();
  });

  it('refuses a relative path and an unknown scheme without echoing the URL', async () => {
    await expect(createGrantStore('sqlite:relative/x.db')).rejects.toThrow('store: a sqlite: path must be absolute');
    await expect(createGrantStore('mongodb://user:hunter2@host/db')).rejects.toThrow(/mongodb: URLs are not supported/);
    await expect(createGrantStore('mongodb://user:hunter2@host/db')).rejects.not.toThrow(/hunter2/);
  });
});

describe.skipIf(!redis)('redis outage', () => {
  it('answers store_unavailable while Redis is down and recovers when it is back, without a restart', async () => {
    const store = await createGrantStore(redis?.url as string, { namespace: 'outage' });
    try {
      await store.putGrant(await grantFor('alice', 'github'));
      await redis?.stop();
      const started = Date.now();
      const err = await expectUnavailable(store.getGrant('alice', 'github'));
      expect(Date.now() - started).toBeLessThan(2000);
      expect(err.message).toBe('the grant store is unavailable (redis); retry shortly');
      await expectUnavailable(store.putGrant(await grantFor('bob', 'github')));
      await expectUnavailable(store.listGrants());
      await redis?.start();
      await expect
        .poll(
          () =>
            store.setRecord('probe', 1).then(
              () => true,
              () => false,
            ),
          { timeout: 10_000 },
        )
        .toBe(true);
      // The restarted server is empty (no persistence): the store works again.
      await store.putGrant(await grantFor('bob', 'github'));
      expect((await store.listGrants()).map((g) => g.user)).toEqual(['bob']);
    } finally {
      await store.close();
    }
  });

  it('starts while Redis is unreachable and fails fast instead of hanging', async () => {
    const store = await createGrantStore(`redis://127.0.0.1:${await freePort()}`);
    try {
      await expectUnavailable(store.getGrant('alice', 'github'));
    } finally {
      await store.close();
    }
  });
});

/** A TCP relay to Postgres that the test can cut and restore, standing in for a server outage. */
async function relayTo(port: number) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  const listenPort = await freePort();
  const start = async () => {
    server = net.createServer((client) => {
      const upstream = net.connect(port, '127.0.0.1');
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server?.listen(listenPort, '127.0.0.1', resolve));
  };
  const stop = async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server?.close(resolve));
  };
  await start();
  return { port: listenPort, start, stop };
}

describe.skipIf(!postgres)('postgres outage', () => {
  it('answers store_unavailable while Postgres is unreachable and recovers when it is back', async () => {
    const upstream = new URL(postgres?.url as string);
    const relay = await relayTo(Number(upstream.port || 5432));
    upstream.port = String(relay.port);
    const store: KeywardStore = await createGrantStore(upstream.toString(), { namespace: 'outage' });
    try {
      await store.putGrant(await grantFor('alice', 'github'));
      await relay.stop();
      await expectUnavailable(store.getGrant('alice', 'github'));
      await expectUnavailable(store.listGrants());
      await relay.start();
      await expect
        .poll(
          () =>
            store.getGrant('alice', 'github').then(
              (g) => g?.user,
              () => 'down',
            ),
          { timeout: 10_000 },
        )
        .toBe('alice');
      expect(await store.listGrants()).toHaveLength(1);
    } finally {
      await store.close();
      await relay.stop();
    }
  });
});
