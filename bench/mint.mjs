// `mint` credentials per second on one core: the whole credentialFor() path (grant read + checks + ES256 JWT),
// over the memory and sqlite stores, next to jose's bare signing rate. Plain node, imports dist/.
// Usage: npx tsc -p tsconfig.build.json && node bench/mint.mjs [--runs 5] [--seconds 3] [--concurrency 32]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';

const root = path.resolve(import.meta.dirname, '..');
const dist = (p) => import(path.join(root, 'dist/src', p));
const { createCredentialBroker } = await dist('broker/broker.js');
const { createGrantService } = await dist('broker/grants.js');
const { createGrantStore } = await dist('broker/store.js');
const { createGrantCipher, generateEncryptionKey } = await dist('broker/crypto.js');
const { createRefreshLock } = await dist('broker/locks/index.js');
const { resolveConfig } = await dist('config/load.js');
const { createLogger } = await dist('log.js');
const { createMetrics } = await dist('metrics.js');
const { createProviderRegistry } = await dist('providers/registry.js');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const RUNS = Number(arg('runs', '5'));
const SECONDS = Number(arg('seconds', '3'));
const CONCURRENCY = Number(arg('concurrency', '32'));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** Runs `op` with `CONCURRENCY` callers for SECONDS; returns operations per second. */
async function rate(op) {
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < end) {
        await op(done);
        done += 1;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

async function brokerFor(storeUrl) {
  const key = generateEncryptionKey();
  const config = resolveConfig(
    {
      server: { publicUrl: 'http://127.0.0.1:8787', user: 'demo' },
      store: storeUrl,
      providers: {
        internal: {
          authorizationEndpoint: 'http://127.0.0.1:9/authorize',
          tokenEndpoint: 'http://127.0.0.1:9/token',
          clientId: 'gateway',
          scopes: ['orders:read', 'orders:write'],
          strategy: 'mint',
          resource: 'https://orders.internal.example/',
          apiBaseUrl: 'https://orders.internal.example',
        },
      },
      tools: [],
      audit: 'memory:',
    },
    { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: key } },
  );
  const logger = createLogger({ level: 'silent' });
  const metrics = createMetrics();
  const store = await createGrantStore(config.store);
  const cipher = createGrantCipher(config.encryption);
  const lock = await createRefreshLock(config.store, { metrics });
  const providers = createProviderRegistry(config, { logger });
  const clock = { now: () => Date.now() };
  // Mint needs the user's consent on record; no token request is ever made for it.
  await createGrantService({ config, store, cipher, providers, clock, logger }).saveGrantFromTokens({
    user: 'demo',
    provider: 'internal',
    client: 'bench',
    tokens: { refresh_token: 'unused-refresh-token-for-mint-bench', scope: 'orders:read orders:write' },
  });
  const broker = createCredentialBroker({ config, store, cipher, lock, providers, clock, logger, metrics });
  const tool = {
    name: 'list_orders',
    title: 'List orders',
    description: 'bench',
    provider: 'internal',
    scopes: ['orders:read'],
    input: undefined,
    annotations: { readOnly: true },
    request: () => ({ method: 'GET', path: '/orders' }),
  };
  const call = (i) => broker.credentialFor({ callId: `call-${i}`, user: 'demo', client: 'bench', tool });
  await call(-1); // signing key created and loaded once, outside the measurement
  return {
    call,
    async close() {
      await broker.close();
      await lock.close();
      await store.close();
    },
  };
}

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-mint-'));
const rows = [];

{
  const { privateKey } = await generateKeyPair('ES256');
  const runs = [];
  for (let r = 0; r < RUNS; r++) {
    runs.push(
      await rate((i) =>
        new SignJWT({ scope: 'orders:read', act: { sub: 'bench' } })
          .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt' })
          .setSubject('demo')
          .setAudience('https://orders.internal.example/')
          .setIssuedAt()
          .setExpirationTime('60s')
          .setJti(`j-${i}`)
          .sign(privateKey),
      ),
    );
  }
  rows.push({
    what: 'jose ES256 sign only (reference)',
    perSecond: Math.round(median(runs)),
    runs: runs.map(Math.round),
  });
}

for (const [label, url] of [
  ['credentialFor, mint, memory: store', 'memory:'],
  ['credentialFor, mint, sqlite: store', `sqlite:${path.join(dir, 'mint.db')}`],
]) {
  const b = await brokerFor(url);
  const runs = [];
  for (let r = 0; r < RUNS; r++) runs.push(await rate(b.call));
  await b.close();
  rows.push({ what: label, perSecond: Math.round(median(runs)), runs: runs.map(Math.round) });
}
rmSync(dir, { recursive: true, force: true });

for (const r of rows) console.error(`${r.what}: ${r.perSecond}/s (runs ${r.runs.join(', ')})`);
const out = {
  bench: 'mint',
  command: `node bench/mint.mjs --runs ${RUNS} --seconds ${SECONDS} --concurrency ${CONCURRENCY}`,
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  date: new Date().toISOString(),
  note: 'one process, one event loop (one core); medians over runs; each credential is a distinct ES256 JWT (jti = call id)',
  results: rows,
};
writeFileSync(path.join(root, 'bench/results/mint.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(rows.map(({ runs: _r, ...r }) => r)));
process.exit(0);
