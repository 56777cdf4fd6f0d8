// An in-process gateway over HTTP with the onboarding routes, against the demo AS and notes API, with a clock tests can move.
//
// The gateway hands onboarding no store; the tests read stored grants through a second handle on the
// same sqlite file, as another process sharing the store would.
import { readFileSync, writeFileSync } from 'node:fs';
import { createMemoryAuditSink, type MemoryAuditSink } from '../../src/audit/sink.js';
import { createGrantStore, type KeywardStore } from '../../src/broker/store.js';
import type { Grant } from '../../src/broker/types.js';
import type { Clock } from '../../src/clock.js';
import { loadConfig } from '../../src/config/load.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/log.js';
import { httpOnboarding, type OnboardingRouterOptions } from '../../src/onboarding/index.js';
import { type HttpServerHandle, listenHttp } from '../../src/transports/http.js';
import { type Stack, type StackOptions, startStack } from '../helpers/stack.js';

export interface MovableClock extends Clock {
  advance(ms: number): void;
}

export function movableClock(start = Date.now()): MovableClock {
  let offset = 0;
  // Real time plus an offset: servers in the test keep their own time, the gateway can jump ahead.
  return {
    now: () => start + (Date.now() - start) + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

export interface Harness {
  stack: Stack;
  gateway: Gateway;
  audit: MemoryAuditSink;
  http: HttpServerHandle;
  url: string;
  clock: MovableClock;
  /** The store the gateway uses, opened again: only for reading what the gateway wrote. */
  store: KeywardStore;
  /** The stored grant, ciphertext included. */
  grant(user: string, provider: string): Promise<Grant | undefined>;
  /** The stored grants, secrets included, as JSON: compared before and after a bad callback. */
  grantsSnapshot(): Promise<string>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  stack?: StackOptions;
  /** Changes to providers.notes in the config. */
  notes?: Record<string, unknown>;
  /** Changes to the whole config (after `notes`). */
  config?: (config: Record<string, unknown>) => void;
  router?: OnboardingRouterOptions;
  /** Start the HTTP listener (default true). */
  listen?: boolean;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const stack = await startStack({ ...opts.stack });
  const raw = JSON.parse(readFileSync(stack.configPath, 'utf8')) as Record<string, unknown>;
  const providers = raw.providers as Record<string, Record<string, unknown>>;
  providers.notes = { ...providers.notes, ...opts.notes };
  opts.config?.(raw);
  writeFileSync(stack.configPath, JSON.stringify(raw, null, 2));

  const config = await loadConfig(stack.configPath, { ...stack.env });
  const clock = movableClock();
  const audit = createMemoryAuditSink();
  const gateway = await createGateway(config, { audit, clock, logger: createLogger({ level: 'silent' }) });
  const onboarding = httpOnboarding(gateway, opts.router);
  gateway.links.bind(onboarding.links);
  const http = await listenHttp(gateway, { routers: [onboarding.router] });
  const store = await createGrantStore(config.store);
  return {
    stack,
    gateway,
    audit,
    http,
    url: stack.gatewayUrl,
    clock,
    store,
    grant: (user, provider) => store.getGrant(user, provider),
    async grantsSnapshot() {
      const grants = await store.listGrants();
      return JSON.stringify(grants.sort((a, b) => a.id.localeCompare(b.id)));
    },
    async close() {
      await http.close();
      await gateway.close();
      await store.close();
      await stack.close();
    },
  };
}

/** The authorizeUrl a tool call's reauth error carries. */
export async function authorizeUrlFromCall(
  gateway: Gateway,
  tool: string,
  user = 'demo',
  args: Record<string, unknown> = {},
): Promise<{ url: string; error: Record<string, unknown> }> {
  const outcome = await gateway.callTool({ user, client: 'test-agent' }, tool, args);
  if (outcome.ok) throw new Error(`expected ${tool} to fail, it succeeded`);
  const error = outcome.error as unknown as Record<string, unknown>;
  if (typeof error.authorizeUrl !== 'string') throw new Error(`no authorizeUrl in ${JSON.stringify(error)}`);
  return { url: error.authorizeUrl, error };
}
