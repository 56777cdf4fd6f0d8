// A demo stack for whole-process tests: the demo AS and notes API in-process, a config in a temp folder,
// and the built `keyward` CLI to spawn against them.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateEncryptionKey } from '../../src/broker/crypto.js';
import { type DemoApi, startDemoApi } from '../../src/demo/api.js';
import { DEMO_CLIENT_ID, type DemoAuthServer, NOTES_SCOPES, startDemoAuthServer } from '../../src/demo/authServer.js';
import { collectFiles, plant } from './canary.js';
import { freePort } from './ports.js';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'dist/src/cli/main.js');

export interface Stack {
  dir: string;
  configPath: string;
  config: Record<string, unknown>;
  gatewayUrl: string;
  gatewayPort: number;
  authServer: DemoAuthServer;
  api: DemoApi;
  /** Environment for spawned gateways: the encryption key, a user, nothing else secret. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export interface StackOptions {
  store?: (dir: string) => string;
  strategy?: 'refresh' | 'exchange' | 'mint';
  user?: string;
  accessTokenTTL?: number;
  /** Extra top-level config keys (identity, …). */
  extra?: (stack: { gatewayUrl: string; issuer: string }) => Record<string, unknown>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyward-test-'));
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const apiPort = await freePort();
  const resource = `http://127.0.0.1:${apiPort}/`;

  const authServer = await startDemoAuthServer({
    redirectUris: [`${gatewayUrl}/callback/notes`],
    resources: [
      { resource, scopes: [...NOTES_SCOPES] },
      { resource: `${gatewayUrl}/mcp`, scopes: ['mcp:tools'] },
    ],
    ...(opts.accessTokenTTL ? { accessTokenTTL: opts.accessTokenTTL } : {}),
    // Device-grant tests poll every second instead of the default five.
    deviceInterval: 1,
    onIssued: (value) => plant(value),
  });
  const api = await startDemoApi({
    port: apiPort,
    resource,
    trusted: [
      { issuer: authServer.issuer, jwksUri: authServer.jwksUri },
      { issuer: gatewayUrl, jwksUri: `${gatewayUrl}/.well-known/jwks.json` },
    ],
  });

  const key = generateEncryptionKey();
  plant(key);
  const config: Record<string, unknown> = {
    server: { name: 'keyward-test', transport: 'stdio', port: gatewayPort, publicUrl: gatewayUrl },
    store: opts.store ? opts.store(dir) : 'sqlite:keyward.db',
    encryptionKey: { env: 'KEYWARD_ENCRYPTION_KEY' },
    providers: {
      notes: {
        issuer: authServer.issuer,
        clientId: DEMO_CLIENT_ID,
        scopes: ['openid', 'offline_access', ...NOTES_SCOPES],
        strategy: opts.strategy ?? 'refresh',
        resource,
        apiBaseUrl: api.url,
      },
    },
    tools: [path.join(ROOT, 'tools/notes.ts'), path.join(ROOT, 'tools/get_note.json')],
    audit: 'jsonl:audit.jsonl',
    ...(opts.extra ? opts.extra({ gatewayUrl, issuer: authServer.issuer }) : {}),
  };
  const configPath = path.join(dir, 'mcp.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));

  return {
    dir,
    configPath,
    config,
    gatewayUrl,
    gatewayPort,
    authServer,
    api,
    env: { KEYWARD_ENCRYPTION_KEY: key, KEYWARD_USER: opts.user ?? 'demo', KEYWARD_LOG_LEVEL: 'debug' },
    async close() {
      await api.close();
      await authServer.close();
      // Audit log, raw store files and config go to the end-of-file canary scan.
      collectFiles(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The environment a spawned CLI gets: PATH and HOME from here, the stack's own variables, nothing else. */
export function childEnv(stack: Stack, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...stack.env,
    ...extra,
  };
}
