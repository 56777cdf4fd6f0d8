// Three gateway processes sharing a store (sqlite file, Redis, Postgres) and one grant: one refresh per expiry, nothing revoked.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createGrantCipher, generateEncryptionKey } from '../../src/broker/crypto.js';
import { createGrantService } from '../../src/broker/grants.js';
import { createGrantStore } from '../../src/broker/store.js';
import { resolveConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { createProviderRegistry } from '../../src/providers/registry.js';
// @ts-expect-error plain ESM fixture shared with bench/
import { split, startFleet } from '../fixtures/broker-fleet.mjs';
import { NOTES_SCOPES, startTestAuthServer, type TestAuthServer } from '../helpers/authServer.js';
import { postgresOrSkip, startRedisOrSkip } from '../helpers/services.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CALLS = 200;
const PROCESSES = 3;

let t: TestAuthServer;
let dir: string;
beforeAll(async () => {
  if (!existsSync(path.join(ROOT, 'dist/src/broker/broker.js'))) {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
    });
  }
  dir = mkdtempSync(path.join(tmpdir(), 'keyward-mp-'));
  t = await startTestAuthServer({ accessTokenTTL: 300 });
}, 180_000);
afterAll(async () => {
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  round: number;
  ok: number;
  errors: Record<string, number>;
  credentialIds: string[];
  p50: number;
  p99: number;
  refreshesSent: number;
}

async function runFleet(storeUrl: string, opts: { lock?: boolean } = {}) {
  const key = generateEncryptionKey();
  const raw = {
    server: { publicUrl: 'http://127.0.0.1:9', user: 'demo' },
    store: storeUrl,
    providers: {
      notes: {
        issuer: t.issuer,
        clientId: t.clientId,
        scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
        strategy: 'refresh',
        resource: t.resource,
        apiBaseUrl: t.api.url,
      },
    },
    tools: [],
    audit: 'memory:',
  };
  const config = resolveConfig(raw, { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: key } });
  const store = await createGrantStore(config.store);
  const logger = createLogger({ level: 'silent' });
  const grants = createGrantService({
    config,
    store,
    cipher: createGrantCipher(config.encryption),
    providers: createProviderRegistry(config, { logger }),
    clock: { now: () => Date.now() },
    logger,
  });
  const seeded = await grants.saveGrantFromTokens({
    user: 'demo',
    provider: 'notes',
    client: 'agent',
    tokens: await t.grant(),
  });
  t.as.resetStats();
  const fleet = await startFleet({
    processes: PROCESSES,
    callsPerProcess: split(CALLS, PROCESSES),
    env: {
      KW_CONFIG: JSON.stringify(raw),
      KEYWARD_ENCRYPTION_KEY: key,
      ...(opts.lock === false ? { KW_LOCK: 'off' } : {}),
    },
  });
  return { store, seeded, fleet };
}

function total(outcomes: Outcome[]) {
  const errors: Record<string, number> = {};
  for (const o of outcomes) for (const [k, v] of Object.entries(o.errors)) errors[k] = (errors[k] ?? 0) + v;
  return { ok: outcomes.reduce((a, o) => a + o.ok, 0), errors, ids: new Set(outcomes.flatMap((o) => o.credentialIds)) };
}

const backends: Array<[string, () => Promise<{ url: string; stop(): Promise<void> } | undefined>]> = [
  ['the embedded sqlite file', async () => ({ url: `sqlite:${path.join(dir, 'shared.db')}`, stop: async () => {} })],
  ['Redis', async () => startRedisOrSkip()],
  ['Postgres', async () => postgresOrSkip()],
];

describe(`${PROCESSES} processes, ${CALLS} concurrent calls, one grant`, () => {
  for (const [name, start] of backends) {
    test(`sharing ${name}: exactly 1 refresh per expiry, 0 invalid_grant, 0 revocations`, async (ctx) => {
      const backend = await start();
      if (!backend) return ctx.skip();
      const { store, seeded, fleet } = await runFleet(backend.url);
      try {
        const round1: Outcome[] = await fleet.go('notes:read');
        const r1 = total(round1);
        expect(r1.errors).toEqual({});
        expect(r1.ok).toBe(CALLS);
        expect(t.as.stats.refreshRequests).toBe(1);
        // Every process hands out the one credential the winner got.
        expect(r1.ids.size).toBe(1);
        // A new scope set is a new expiry: again exactly one refresh, with the rotated token.
        const r2 = total(await fleet.go('notes:write'));
        expect(r2.ok).toBe(CALLS);
        expect(t.as.stats).toMatchObject({
          refreshRequests: 2,
          refreshSuccesses: 2,
          invalidGrants: 0,
          revokedGrants: 0,
          refreshReuses: 0,
        });
        expect(await store.getGrant('demo', 'notes')).toMatchObject({
          id: seeded.id,
          status: 'active',
          generation: seeded.generation + 2,
        });
      } finally {
        await fleet.close();
        await store.close();
        await backend.stop();
      }
    }, 120_000);
  }

  test('the test can fail: with the lock off, the AS sees reuse and revokes the grant', async () => {
    const { store, fleet } = await runFleet(`sqlite:${path.join(dir, 'nolock.db')}`, { lock: false });
    try {
      const r = total(await fleet.go('notes:read'));
      expect(t.as.stats.refreshRequests).toBeGreaterThan(1);
      expect(t.as.stats.revokedGrants).toBeGreaterThanOrEqual(1);
      expect(r.ok).toBeLessThan(CALLS);
      expect(Object.keys(r.errors).some((k) => k.startsWith('reauth_required'))).toBe(true);
      expect((await store.getGrant('demo', 'notes'))?.status).toBe('needs_reauth');
    } finally {
      await fleet.close();
      await store.close();
    }
  }, 120_000);
});
