// Builds a real broker for tests: resolved config, a real store and lock, the provider registry, and captured logs.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { openBrokerStack } from '../../src/broker/assemble.js';
import type { BrokerOptions } from '../../src/broker/broker.js';
import { encryptionKeyFrom, generateEncryptionKey } from '../../src/broker/crypto.js';
import type { CredentialRequest } from '../../src/broker/types.js';
import type { Clock } from '../../src/clock.js';
import { resolveConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import type { ToolDefinition } from '../../src/tools/types.js';
import { collect } from '../helpers/canary.js';

export interface HarnessOptions {
  provider: Record<string, unknown>;
  providerName?: string;
  /** A store URL, or 'sqlite' for a temp file (default), or 'memory:'. */
  store?: string;
  encryptionKey?: string;
  clock?: Clock;
  lockEnabled?: boolean;
  options?: BrokerOptions;
  fetch?: typeof fetch;
  publicUrl?: string;
  providerTimeoutMs?: number;
}

export async function createHarness(opts: HarnessOptions) {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyward-broker-'));
  const storeUrl = !opts.store || opts.store === 'sqlite' ? `sqlite:${path.join(dir, 'keyward.db')}` : opts.store;
  const key = opts.encryptionKey ?? generateEncryptionKey();
  const providerName = opts.providerName ?? 'notes';
  const config = resolveConfig(
    {
      server: { publicUrl: opts.publicUrl ?? 'http://127.0.0.1:9', user: 'demo' },
      store: storeUrl,
      providers: { [providerName]: opts.provider },
      tools: [],
      audit: 'memory:',
    },
    { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: key, TEST_CLIENT_SECRET: 'test-client-secret-value' } },
  );
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const metrics = createMetrics();
  const clock = opts.clock ?? { now: () => Date.now() };
  const stack = await openBrokerStack(config, {
    logger,
    metrics,
    clock,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.providerTimeoutMs ? { providerTimeoutMs: opts.providerTimeoutMs } : {}),
    ...(opts.lockEnabled === false ? { lockEnabled: false } : {}),
    options: { retry: { baseDelayMs: 5, maxDelayMs: 20 }, ...opts.options },
  });
  const { store, cipher, lock, providers, broker, grants, signingKeys } = stack;
  let n = 0;
  return {
    dir,
    key,
    config,
    store,
    cipher,
    lock,
    metrics,
    providers,
    broker,
    grants,
    signingKeys,
    lines,
    providerName,
    request(scopes: string[], over: Partial<CredentialRequest> = {}): CredentialRequest {
      return { callId: `call-${++n}`, user: 'demo', client: 'test-agent', tool: tool(providerName, scopes), ...over };
    },
    async counter(name: 'refreshes' | 'coalescedWaits' | 'credentials' | 'reauthErrors' | 'refreshTokensLost') {
      const m = await metrics[name].get();
      return m.values.reduce((a, v) => a + v.value, 0);
    },
    async close() {
      // The broker's log lines and the raw store go to the end-of-file canary scan.
      collect('broker log', lines.join(''));
      for (const grant of await store.listGrants().catch(() => [])) collect('stored grant', JSON.stringify(grant));
      await stack.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type Harness = Awaited<ReturnType<typeof createHarness>>;

export function tool(
  provider: string,
  scopes: string[],
  name = `t_${scopes.join('_').replace(/\W/g, '_') || 'none'}`,
): ToolDefinition {
  return {
    name,
    title: name,
    description: name,
    provider,
    scopes,
    input: z.object({}),
    annotations: { readOnly: true },
    request: () => ({ method: 'GET', path: '/notes' }),
  };
}

/** The payload of a JWT, unverified (the tests check what the AS or the gateway put in it). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function tokenOf(header: string): string {
  return header.replace(/^Bearer /, '');
}

export async function errorOf(
  p: Promise<unknown>,
): Promise<Error & { code?: string; details?: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string; details?: Record<string, unknown> };
  }
  throw new Error('expected a failure');
}

export { encryptionKeyFrom };
