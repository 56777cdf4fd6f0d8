// The broker and everything it stands on (store, cipher, lock, providers, signing key, grant service),
// opened from a config in one place, so the gateway, tests and benchmarks build the same thing.
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createProviderRegistry } from '../providers/registry.js';
import type { ProviderRegistry } from '../providers/types.js';
import { type BrokerOptions, createCredentialBroker } from './broker.js';
import { createGrantCipher, type KeywardCipher } from './crypto.js';
import { createGrantService, type GrantService } from './grants.js';
import { createRefreshLock } from './locks/index.js';
import { createSigningKeys, type SigningKeys } from './signingKey.js';
import { createGrantStore, type KeywardStore } from './store.js';
import type { CredentialBroker, RefreshLock } from './types.js';

export interface BrokerStack {
  store: KeywardStore;
  cipher: KeywardCipher;
  lock: RefreshLock;
  providers: ProviderRegistry;
  signingKeys: SigningKeys;
  broker: CredentialBroker;
  grants: GrantService;
  close(): Promise<void>;
}

export interface BrokerStackOptions {
  logger: Logger;
  metrics: Metrics;
  clock?: Clock;
  /** Token requests go through it (tests point it at loopback fakes). */
  fetch?: typeof fetch;
  providerTimeoutMs?: number;
  /** Tests only: switch coalescing and the refresh lock off, to prove the race is real. */
  lockEnabled?: boolean;
  options?: BrokerOptions;
}

export async function openBrokerStack(config: ResolvedConfig, opts: BrokerStackOptions): Promise<BrokerStack> {
  const { logger, metrics } = opts;
  const clock = opts.clock ?? systemClock;
  // With the logger, so that lost leases, failed renewals and backend errors are seen in production.
  const store = await createGrantStore(config.store, { logger });
  const cipher = createGrantCipher(config.encryption);
  const lock = await createRefreshLock(config.store, { metrics, logger, clock });
  const providers = createProviderRegistry(config, {
    logger,
    clock,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.providerTimeoutMs ? { timeoutMs: opts.providerTimeoutMs } : {}),
  });
  // The lock keeps two processes that start together from each creating a signing key.
  const signingKeys = createSigningKeys({ store, cipher, lock, issuer: config.server.publicUrl, clock });
  const broker = createCredentialBroker({
    config,
    store,
    cipher,
    lock,
    providers,
    signingKeys,
    clock,
    logger,
    metrics,
    ...(opts.lockEnabled === false ? { lockEnabled: false } : {}),
    ...(opts.options ? { options: opts.options } : {}),
  });
  const grants = createGrantService({ config, store, cipher, providers, clock, logger, lock });
  return {
    store,
    cipher,
    lock,
    providers,
    signingKeys,
    broker,
    grants,
    async close() {
      await broker.close();
      await lock.close();
      await store.close();
    },
  };
}
