// Refresh coalescing under load: N concurrent calls on one expired grant, in 1 and 3 processes sharing the sqlite store.
// Measures refresh requests at the authorization server and each call's wait (p50/p99). Plain node, imports dist/.
// Usage: npx tsc -p tsconfig.build.json && node bench/coalescing.mjs [--runs 5] [--sizes 10,100,1000] [--procs 1,3]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { split, startFleet } from '../test/fixtures/broker-fleet.mjs';
import { obtainDemoTokens } from '../test/fixtures/demo-consent.mjs';

const root = path.resolve(import.meta.dirname, '..');
const dist = (p) => import(path.join(root, 'dist/src', p));
const { startDemoAuthServer, DEMO_CLIENT_ID, NOTES_SCOPES } = await dist('demo/authServer.js');
const { createGrantService } = await dist('broker/grants.js');
const { createGrantStore } = await dist('broker/store.js');
const { createGrantCipher, generateEncryptionKey } = await dist('broker/crypto.js');
const { resolveConfig } = await dist('config/load.js');
const { createLogger } = await dist('log.js');
const { createProviderRegistry } = await dist('providers/registry.js');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const RUNS = Number(arg('runs', '5'));
const SIZES = arg('sizes', '10,100,1000').split(',').map(Number);
const PROCS = arg('procs', '1,3').split(',').map(Number);

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-bench-'));
const RESOURCE = 'http://127.0.0.1:9/notes';
const REDIRECT = 'http://127.0.0.1/callback/demo';
const as = await startDemoAuthServer({
  accessTokenTTL: 300,
  resources: [{ resource: RESOURCE, scopes: [...NOTES_SCOPES] }],
});
const key = generateEncryptionKey();
const storeUrl = `sqlite:${path.join(dir, 'bench.db')}`;
const raw = {
  server: { publicUrl: 'http://127.0.0.1:9', user: 'demo' },
  store: storeUrl,
  providers: {
    notes: {
      issuer: as.issuer,
      clientId: DEMO_CLIENT_ID,
      scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
      strategy: 'refresh',
      resource: RESOURCE,
      apiBaseUrl: 'http://127.0.0.1:9',
    },
  },
  tools: [],
  audit: 'memory:',
};
const config = resolveConfig(raw, { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: key } });
const logger = createLogger({ level: 'silent' });
const store = await createGrantStore(config.store);
const grants = createGrantService({
  config,
  store,
  cipher: createGrantCipher(config.encryption),
  providers: createProviderRegistry(config, { logger }),
  clock: { now: () => Date.now() },
  logger,
});

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const round2 = (x) => Math.round(x * 100) / 100;

let users = 0;

/** N concurrent calls over `procs` processes on a fresh grant whose access token is not cached, RUNS times. */
async function measure(procs, n, { lock = true } = {}) {
  const fleet = await startFleet({
    processes: procs,
    callsPerProcess: split(n, procs),
    env: {
      KW_CONFIG: JSON.stringify(raw),
      KEYWARD_ENCRYPTION_KEY: key,
      KW_LATENCIES: '1',
      ...(lock ? {} : { KW_LOCK: 'off' }),
    },
  });
  const runs = [];
  try {
    for (let r = 0; r < RUNS; r++) {
      // A fresh grant per run: its access token has expired (none cached), so every call needs the refresh.
      const user = `bench-${++users}`;
      const tokens = await obtainDemoTokens({
        issuer: as.issuer,
        clientId: DEMO_CLIENT_ID,
        redirectUri: REDIRECT,
        scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
        resource: RESOURCE,
        user,
      });
      await grants.saveGrantFromTokens({ user, provider: 'notes', client: 'bench', tokens });
      as.resetStats();
      const outcomes = await fleet.go({ user, scopes: 'notes:read' });
      const lat = outcomes.flatMap((o) => o.latencies).sort((a, b) => a - b);
      const errors = outcomes.reduce((a, o) => a + Object.values(o.errors).reduce((x, y) => x + y, 0), 0);
      if (errors && lock) console.error(`run ${r}: failures ${JSON.stringify(outcomes.map((o) => o.errors))}`);
      runs.push({
        refreshesAtAS: as.stats.refreshRequests,
        invalidGrants: as.stats.invalidGrants,
        revokedGrants: as.stats.revokedGrants,
        ok: outcomes.reduce((a, o) => a + o.ok, 0),
        errors,
        p50ms: lat.length ? round2(quantile(lat, 0.5)) : null,
        p99ms: lat.length ? round2(quantile(lat, 0.99)) : null,
        maxms: lat.length ? round2(lat.at(-1)) : null,
      });
    }
  } finally {
    await fleet.close();
  }
  return {
    processes: procs,
    concurrentCalls: n,
    lock,
    runs: runs.length,
    refreshesAtAS: {
      median: median(runs.map((r) => r.refreshesAtAS)),
      max: Math.max(...runs.map((r) => r.refreshesAtAS)),
    },
    invalidGrants: runs.reduce((a, r) => a + r.invalidGrants, 0),
    revokedGrants: runs.reduce((a, r) => a + r.revokedGrants, 0),
    failedCalls: runs.reduce((a, r) => a + r.errors, 0),
    p50ms: median(runs.map((r) => r.p50ms).filter((x) => x !== null)),
    p99ms: median(runs.map((r) => r.p99ms).filter((x) => x !== null)),
    perRun: runs,
  };
}

// Baseline, same run: one call alone, which costs exactly one refresh round trip.
const baseline = await measure(1, 1);
console.error(`baseline: one call alone, p50 ${baseline.p50ms} ms`);

const results = [];
for (const procs of PROCS) {
  for (const n of SIZES) {
    const row = await measure(procs, n);
    row.p50VsOneCall = round2(row.p50ms / baseline.p50ms);
    results.push(row);
    console.error(
      `procs=${procs} N=${n}: refreshes median ${row.refreshesAtAS.median} (max ${row.refreshesAtAS.max}), failed ${row.failedCalls}, p50 ${row.p50ms} ms (${row.p50VsOneCall}x one call), p99 ${row.p99ms} ms`,
    );
  }
}

// What coalescing prevents: the same burst with the lock and single-flight switched off.
const unlocked = await measure(Math.max(...PROCS), Math.min(...SIZES), { lock: false });
console.error(
  `without coalescing, procs=${unlocked.processes} N=${unlocked.concurrentCalls}: refreshes median ${unlocked.refreshesAtAS.median}, invalid_grant ${unlocked.invalidGrants}, grants revoked ${unlocked.revokedGrants}, failed calls ${unlocked.failedCalls} over ${unlocked.runs} runs`,
);

await store.close();
await as.close();
rmSync(dir, { recursive: true, force: true });

const out = {
  bench: 'coalescing',
  command: `node bench/coalescing.mjs --runs ${RUNS} --sizes ${SIZES.join(',')} --procs ${PROCS.join(',')}`,
  store: 'sqlite (one file shared by the processes)',
  authorizationServer: 'demo oidc-provider 9, rotation + reuse revocation, loopback',
  node: process.version,
  cpus: (await import('node:os')).cpus().length,
  date: new Date().toISOString(),
  note: 'wait = time from credentialFor() to the credential, per call; medians over runs',
  baseline,
  results,
  withoutCoalescing: unlocked,
};
writeFileSync(path.join(root, 'bench/results/coalescing.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(JSON.stringify(results.map(({ perRun: _p, ...r }) => r)));
process.exit(0);
