// Per-call overhead: the built gateway (strategy refresh, credential cached, sqlite store, jsonl audit) against a
// bare SDK server calling the same loopback API with a token it holds, over stdio and over Streamable HTTP.
// Rounds alternate bare and gateway so that machine noise hits both alike; medians over rounds are quoted.
// Usage: npm run build && node bench/overhead.mjs [--rounds 5] [--seconds 2] [--seq 400] [--conc 1,16,64] [--transports stdio,http]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { obtainDemoTokens } from '../test/fixtures/demo-consent.mjs';

const root = path.resolve(import.meta.dirname, '..');
const dist = (p) => import(path.join(root, 'dist/src', p));
const { startDemoAuthServer, DEMO_CLIENT_ID, NOTES_SCOPES } = await dist('demo/authServer.js');
const { startDemoApi } = await dist('demo/api.js');
const { openBrokerStack } = await dist('broker/assemble.js');
const { generateEncryptionKey } = await dist('broker/crypto.js');
const { resolveConfig } = await dist('config/load.js');
const { createLogger } = await dist('log.js');
const { createMetrics } = await dist('metrics.js');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const ROUNDS = Number(arg('rounds', '5'));
const SECONDS = Number(arg('seconds', '2'));
const SEQ = Number(arg('seq', '400'));
const CONC = arg('conc', '1,16,64').split(',').map(Number);
const TRANSPORTS = arg('transports', 'stdio,http').split(',');
const USER = 'bench-user';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-overhead-'));
// The API first (its resource indicator is its own URL), then an AS that knows that resource.
const api = await startDemoApi({});
const authServer = await startDemoAuthServer({
  accessTokenTTL: 3600,
  resources: [{ resource: api.resource, scopes: [...NOTES_SCOPES] }],
});
api.trust({ issuer: authServer.issuer, jwksUri: authServer.jwksUri });
const resource = api.resource;
const key = generateEncryptionKey();
const configFile = path.join(dir, 'mcp.config.json');
const raw = {
  server: { user: USER, host: '127.0.0.1' },
  store: `sqlite:${path.join(dir, 'keyward.db')}`,
  encryptionKey: { env: 'KEYWARD_ENCRYPTION_KEY' },
  providers: {
    notes: {
      issuer: authServer.issuer,
      clientId: DEMO_CLIENT_ID,
      scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
      strategy: 'refresh',
      resource,
      apiBaseUrl: api.url,
    },
  },
  tools: [path.join(root, 'tools/notes.ts')],
  audit: `jsonl:${path.join(dir, 'audit.jsonl')}`,
};
writeFileSync(configFile, JSON.stringify(raw));

// One grant for the gateway's user, and a token of the same audience for the bare server.
const config = resolveConfig(raw, { configPath: configFile, env: { KEYWARD_ENCRYPTION_KEY: key } });
const stack = await openBrokerStack(config, { logger: createLogger({ level: 'silent' }), metrics: createMetrics() });
const consent = {
  issuer: authServer.issuer,
  clientId: DEMO_CLIENT_ID,
  redirectUri: 'http://127.0.0.1/callback/demo',
  scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
  resource,
  user: USER,
};
await stack.grants.saveGrantFromTokens({
  user: USER,
  provider: 'notes',
  client: 'bench',
  tokens: await obtainDemoTokens(consent),
});
await stack.close();
const bareToken = (await obtainDemoTokens(consent)).access_token;

const env = {
  PATH: process.env.PATH,
  KEYWARD_ENCRYPTION_KEY: key,
  KEYWARD_LOG_LEVEL: 'warn',
  BARE_TOKEN: bareToken,
  BARE_API: api.url,
};

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url) {
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(url);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${url} did not come up`);
}

/** Starts a target and returns a connected SDK client plus a stop function. */
async function start(target, transport) {
  const client = new Client({ name: 'bench', version: '0' });
  if (transport === 'stdio') {
    const args =
      target === 'bare'
        ? [path.join(root, 'bench/bare-notes-server.mjs'), 'stdio']
        : [path.join(root, 'dist/src/cli/main.js'), 'serve', '--config', configFile];
    await client.connect(new StdioClientTransport({ command: process.execPath, args, env, stderr: 'ignore' }));
    return { client, stop: () => client.close() };
  }
  let child;
  let url;
  if (target === 'bare') {
    child = spawn(process.execPath, [path.join(root, 'bench/bare-notes-server.mjs'), 'http'], {
      env,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    url = await new Promise((resolve) => child.stdout.once('data', (d) => resolve(JSON.parse(String(d)).url)));
  } else {
    const port = await freePort();
    child = spawn(
      process.execPath,
      [
        path.join(root, 'dist/src/cli/main.js'),
        'serve',
        '--config',
        configFile,
        '--transport',
        'http',
        '--port',
        String(port),
      ],
      { env, stdio: ['ignore', 'ignore', 'ignore'] },
    );
    url = `http://127.0.0.1:${port}/mcp`;
    await waitForHttp(`http://127.0.0.1:${port}/healthz`);
  }
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return {
    client,
    stop: async () => {
      await client.close();
      child.kill();
    },
  };
}

async function call(client) {
  const r = await client.callTool({ name: 'list_notes', arguments: {} });
  if (r.isError) throw new Error(`call failed: ${JSON.stringify(r.structuredContent ?? r.content)}`);
}

const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function measureOnce(target, transport) {
  const { client, stop } = await start(target, transport);
  try {
    for (let i = 0; i < 50; i++) await call(client); // warm-up: the first call refreshes, later ones hit the cache
    const lat = [];
    for (let i = 0; i < SEQ; i++) {
      const t0 = process.hrtime.bigint();
      await call(client);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    lat.sort((a, b) => a - b);
    const out = { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99), rps: {} };
    for (const c of CONC) {
      let done = 0;
      const end = performance.now() + SECONDS * 1000;
      await Promise.all(
        Array.from({ length: c }, async () => {
          while (performance.now() < end) {
            await call(client);
            done++;
          }
        }),
      );
      out.rps[c] = done / SECONDS;
    }
    return out;
  } finally {
    await stop();
  }
}

const results = {};
for (const transport of TRANSPORTS) {
  const runs = { bare: [], gateway: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const target of r % 2 ? ['gateway', 'bare'] : ['bare', 'gateway']) {
      const m = await measureOnce(target, transport);
      runs[target].push(m);
      console.log(
        `${transport} round ${r + 1} ${target}: p50 ${round(m.p50)} ms, p99 ${round(m.p99)} ms, ` +
          CONC.map((c) => `c${c} ${Math.round(m.rps[c])}/s`).join(', '),
      );
    }
  }
  const summary = (target, pick) => {
    const xs = runs[target].map(pick);
    return { median: round(median(xs), 3), min: round(Math.min(...xs), 3), max: round(Math.max(...xs), 3) };
  };
  const row = (name, pick) => {
    const bare = summary('bare', pick);
    const gateway = summary('gateway', pick);
    return { figure: name, bare, gateway, ratio: round(gateway.median / bare.median, 2) };
  };
  results[transport] = [
    row('p50 latency, sequential (ms)', (m) => m.p50),
    row('p99 latency, sequential (ms)', (m) => m.p99),
    ...CONC.map((c) => row(`calls/s, concurrency ${c}`, (m) => m.rps[c])),
  ];
}

const machine = {
  cpus: os.cpus().length,
  model: os.cpus()[0]?.model,
  node: process.version,
  memGiB: round(os.totalmem() / 2 ** 30, 0),
};
const cmd = `node bench/overhead.mjs --rounds ${ROUNDS} --seconds ${SECONDS} --seq ${SEQ} --conc ${CONC.join(',')} --transports ${TRANSPORTS.join(',')}`;
writeFileSync(
  path.join(root, 'bench/results/overhead.json'),
  `${JSON.stringify({ date: new Date().toISOString(), machine, command: cmd, results }, null, 2)}\n`,
);
const md = [
  '# Gateway overhead against a bare SDK server',
  '',
  `${new Date().toISOString().slice(0, 10)}, ${machine.cpus} cores (${machine.model}), Node ${machine.node}. Command: \`npm run build && ${cmd}\`.`,
  `Each figure is the median of ${ROUNDS} alternating rounds (min–max in brackets). The gateway: strategy refresh with the credential cached, sqlite store, jsonl audit.`,
  '',
];
for (const [transport, rows] of Object.entries(results)) {
  md.push(`## ${transport}`, '', '| figure | bare | Keyward | ratio |', '|---|---|---|---|');
  for (const r of rows) {
    md.push(
      `| ${r.figure} | ${r.bare.median} (${r.bare.min}–${r.bare.max}) | ${r.gateway.median} (${r.gateway.min}–${r.gateway.max}) | ${r.ratio} |`,
    );
  }
  md.push('');
}
writeFileSync(path.join(root, 'bench/results/overhead.md'), `${md.join('\n')}\n`);
console.log(md.join('\n'));

await authServer.close();
await api.close();
rmSync(dir, { recursive: true, force: true });
