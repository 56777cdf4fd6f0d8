// Grant writes fenced by generation (compare-and-set) on every store, and unreadable records quarantined, not fatal.
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createGrantCipher, encryptionKeyFrom, generateEncryptionKey } from '../../src/broker/crypto.js';
import { rotateEncryptionKey } from '../../src/broker/rotateKey.js';
import { createGrantStore, GrantConflictError, grantKey, UnreadableGrantError } from '../../src/broker/store.js';
import type { Grant } from '../../src/broker/types.js';
import { createLogger } from '../../src/log.js';
import { collect } from '../helpers/canary.js';
import { postgresOrSkip, startRedisOrSkip } from '../helpers/services.js';

const redis = await startRedisOrSkip();
const postgres = await postgresOrSkip();
const dir = path.join(tmpdir(), `kw-fence-${process.pid}-${Date.now()}`);
afterAll(async () => {
  await redis?.stop();
  await postgres?.stop();
  await rm(dir, { recursive: true, force: true });
});

const key = generateEncryptionKey();
const cipher = createGrantCipher({ current: encryptionKeyFrom(key) });

async function grantFor(user: string, generation = 1): Promise<Grant> {
  return {
    id: `g-${user}`,
    user,
    provider: 'github',
    scopes: ['repo'],
    refreshTokenEnc: await cipher.encrypt(`rt-${user}-${generation}-0123456789abcdef`, { user, provider: 'github' }),
    consentedAt: 1_800_000_000_000,
    generation,
    client: 'agent',
    status: 'active',
    updatedAt: 1_800_000_000_000 + generation,
  };
}

/** Writes raw text under a grant's key, bypassing the store's checks: bad data planted from outside. */
type Plant = (namespace: string, key: string, text: string) => Promise<void>;

let seq = 0;
const backends: Array<{ name: string; url: () => string; plant?: Plant; skip: boolean }> = [
  { name: 'memory', url: () => 'memory:', skip: false },
  {
    name: 'sqlite',
    url: () => `sqlite:${dir}/f${seq}.db`,
    skip: false,
    plant: async (namespace, k, text) => {
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(`${dir}/f${seq}.db`);
      try {
        db.prepare('INSERT OR REPLACE INTO keyward_store (key, value) VALUES (?, ?)').run(`${namespace}:${k}`, text);
      } finally {
        db.close();
      }
    },
  },
  {
    name: 'redis',
    url: () => redis?.url ?? '',
    skip: !redis,
    plant: async (namespace, k, text) => {
      const { createClient } = await import('@redis/client');
      const client = createClient({ url: redis?.url });
      client.on('error', () => undefined);
      await client.connect();
      await client.set(`${namespace}::${k}`, text);
      await client.close();
    },
  },
  {
    name: 'postgres',
    url: () => postgres?.url ?? '',
    skip: !postgres,
    plant: async (namespace, k, text) => {
      const client = new pg.Client({ connectionString: postgres?.baseUrl });
      client.on('error', () => undefined);
      await client.connect();
      try {
        await client.query(
          `INSERT INTO "${postgres?.schema}"."keyward_store" (key, value) VALUES ($1, $2)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
          [`${namespace}:${k}`, text],
        );
      } finally {
        await client.end();
      }
    },
  },
];

for (const backend of backends) {
  describe.skipIf(backend.skip)(`grant writes on ${backend.name}`, () => {
    const open = async () => {
      seq++;
      const lines: string[] = [];
      const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
      const namespace = `fence${seq}`;
      const url = backend.url();
      const store = await createGrantStore(url, { namespace, logger });
      return { store, namespace, url, lines, logger };
    };

    it('a write lands only on the generation it read: a stale or repeated writer is refused', async () => {
      const { store } = await open();
      try {
        const g1 = await grantFor('alice', 1);
        await store.putGrant(g1);
        const g2 = await grantFor('alice', 2);
        await store.putGrant(g2);
        // A holder that read generation 1 and lost its lock meanwhile: its generation 2 must not land.
        const stale = { ...(await grantFor('alice', 2)), updatedAt: 42 };
        await expect(store.putGrant(stale)).rejects.toBeInstanceOf(GrantConflictError);
        await expect(store.putGrant(await grantFor('alice', 2), { expect: { generation: 0 } })).rejects.toBeInstanceOf(
          GrantConflictError,
        );
        // Generations never go back, whatever the writer says it read.
        await expect(store.putGrant(g1, { expect: { generation: 2 } })).rejects.toThrow(/generation/);
        await expect(store.putGrant(g2, { expect: { generation: 2 } })).resolves.toBeUndefined();
        expect(await store.getGrant('alice', 'github')).toEqual(g2);
        // The same write again (its first outcome unknown, e.g. a timeout that landed) is recognised as landed.
        await expect(store.putGrant(g2, { expect: { generation: 2 } })).resolves.toBeUndefined();
      } finally {
        await store.close();
      }
    });

    it('one claim wins among many at once, across instances; only its holder can write the result', async () => {
      const { store, namespace, url } = await open();
      const other = backend.name === 'memory' ? store : await createGrantStore(url, { namespace });
      try {
        const g = await grantFor('bob', 1);
        await store.putGrant(g);
        const claims = Array.from({ length: 12 }, (_, i) => ({
          ...g,
          refreshing: { holder: `holder-${i}`, startedAt: 1 },
        }));
        const settled = await Promise.allSettled(
          claims.map((c, i) => (i % 2 ? other : store).putGrant(c, { expect: { generation: 1, holder: null } })),
        );
        const won = settled.flatMap((r, i) => (r.status === 'fulfilled' ? [claims[i]!] : []));
        expect(won).toHaveLength(1);
        for (const r of settled) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(GrantConflictError);
        const loser = claims.find((c) => c !== won[0])!;
        const next = { ...(await grantFor('bob', 2)) };
        await expect(
          store.putGrant(next, { expect: { generation: 1, holder: loser.refreshing.holder } }),
        ).rejects.toBeInstanceOf(GrantConflictError);
        await store.putGrant(next, { expect: { generation: 1, holder: won[0]!.refreshing.holder } });
        expect(await other.getGrant('bob', 'github')).toEqual(next);
      } finally {
        if (other !== store) await other.close();
        await store.close();
      }
    });

    it.skipIf(!backend.plant)(
      'an unreadable record is quarantined and named: that user needs reauth, every other user and the rotation go on',
      async () => {
        const { store, namespace, lines } = await open();
        try {
          await store.putGrant(await grantFor('carol'));
          const good = await grantFor('dave');
          await store.putGrant(good);
          const bad = {
            unknownStatus: { ...(await grantFor('erin')), status: 'enabled' },
            copied: { ...(await grantFor('frank')), user: 'carol' },
          };
          await backend.plant!(namespace, grantKey('erin', 'github'), JSON.stringify({ value: bad.unknownStatus }));
          await backend.plant!(namespace, grantKey('frank', 'github'), JSON.stringify({ value: bad.copied }));
          await backend.plant!(namespace, grantKey('gina', 'github'), '{"value": {not json');
          for (const user of ['erin', 'frank', 'gina']) {
            await expect(store.getGrant(user, 'github')).rejects.toBeInstanceOf(UnreadableGrantError);
          }
          expect((await store.listGrants()).map((g) => g.user)).toEqual(['carol', 'dave']);
          const quarantined = lines.map((l) => JSON.parse(l)).filter((l) => l.status === 'quarantined');
          expect(new Set(quarantined.map((l) => l.key))).toEqual(
            new Set(['erin', 'frank', 'gina'].map((u) => grantKey(u, 'github'))),
          );
          // A key rotation is not stopped by them either.
          const next = createGrantCipher({
            current: encryptionKeyFrom(generateEncryptionKey()),
            previous: [encryptionKeyFrom(key)],
          });
          expect(await rotateEncryptionKey(store, next)).toMatchObject({ grants: 2 });
          expect(await next.decrypt((await store.getGrant('dave', 'github'))!.refreshTokenEnc!, good)).toContain(
            'rt-dave',
          );
          collect('fencing log', lines.join(''));
        } finally {
          await store.close();
        }
      },
    );

    it('the write check refuses what the read check would refuse', async () => {
      const { store } = await open();
      try {
        const g = await grantFor('hank');
        await expect(store.putGrant({ ...g, status: 'enabled' as Grant['status'] })).rejects.toThrow(/status/);
        expect(await store.getGrant('hank', 'github')).toBeUndefined();
      } finally {
        await store.close();
      }
    });
  });
}
