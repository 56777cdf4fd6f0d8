// Cold start: from spawn to the tools/list response over stdio, the gateway against a bare SDK server.
// Usage: node bench/coldstart.mjs [runs]   (after npm run build)
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const runs = Number(process.argv[2] ?? 15);

function timeToToolsList(command, args, env) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('"id":2')) {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        child.kill();
        resolve(ms);
      } else if (out.includes('"id":1')) {
        if (!child.sentList) {
          child.sentList = true;
          child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
          child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' })}\n`);
        }
      }
    });
    child.on('error', reject);
    child.stdin.write(
      `${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'bench', version: '0' } } })}\n`,
    );
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-bench-'));
mkdirSync(dir, { recursive: true });
const configPath = path.join(dir, 'mcp.config.json');
writeFileSync(
  configPath,
  JSON.stringify({
    store: 'sqlite:keyward.db',
    encryptionKey: { env: 'KEYWARD_ENCRYPTION_KEY' },
    providers: {
      notes: {
        issuer: 'http://127.0.0.1:9',
        clientId: 'keyward-demo',
        scopes: ['notes:read', 'notes:write', 'notes:delete'],
        resource: 'http://127.0.0.1:9/',
        apiBaseUrl: 'http://127.0.0.1:9',
      },
    },
    tools: [path.join(root, 'tools/notes.ts'), path.join(root, 'tools/get_note.json')],
    audit: 'jsonl:audit.jsonl',
  }),
);
const env = {
  PATH: process.env.PATH,
  KEYWARD_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
  KEYWARD_LOG_LEVEL: 'warn',
};

const gateway = [];
const baseline = [];
// Interleaved, so that machine noise hits both alike.
for (let i = 0; i < runs; i++) {
  baseline.push(await timeToToolsList(process.execPath, [path.join(root, 'bench/baseline-server.mjs')], env));
  gateway.push(
    await timeToToolsList(
      process.execPath,
      [path.join(root, 'dist/src/cli/main.js'), 'serve', '--config', configPath],
      env,
    ),
  );
}
rmSync(dir, { recursive: true, force: true });

const result = {
  bench: 'coldstart',
  command: `node bench/coldstart.mjs ${runs}`,
  date: new Date().toISOString(),
  node: process.version,
  runs,
  gatewayMedianMs: Number(median(gateway).toFixed(1)),
  baselineMedianMs: Number(median(baseline).toFixed(1)),
  ratio: Number((median(gateway) / median(baseline)).toFixed(2)),
  gatewayMs: gateway.map((x) => Number(x.toFixed(1))),
  baselineMs: baseline.map((x) => Number(x.toFixed(1))),
};
mkdirSync(path.join(root, 'bench/results'), { recursive: true });
writeFileSync(path.join(root, 'bench/results/coldstart.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log(
  `cold start to tools/list over stdio, median of ${runs}: gateway ${result.gatewayMedianMs} ms, bare SDK server ${result.baselineMedianMs} ms (ratio ${result.ratio})`,
);
