// The credential broker: for each call, the grant checked and a credential narrowed to it (cached, refreshed, exchanged or minted).
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { assertGrantServes } from '../policy/grantCoverage.js';
import type { ProviderRegistry, ProviderRuntime } from '../providers/types.js';
import { createCredentialCache } from './credentialCache.js';
import { GRANT_USED_PREFIX } from './grants.js';
import { createSigningKeys, type SigningKeys } from './signingKey.js';
import { createSingleFlight } from './singleFlight.js';
import type { BrokerContext, FaultPoint } from './strategies/context.js';
import { exchangeCredential } from './strategies/exchange.js';
import { readGrant } from './strategies/grantRefresh.js';
import { mintCredential } from './strategies/mint.js';
import { refreshCredential } from './strategies/refresh.js';
import { DEFAULT_RETRY, type RetryPolicy } from './strategies/retry.js';
import type {
  CallCredential,
  CredentialBroker,
  CredentialRequest,
  Grant,
  GrantCipher,
  GrantStore,
  RefreshLock,
} from './types.js';

export interface BrokerOptions {
  /** A cached credential is not handed out this close to expiry. Default 30 s. */
  skewMs?: number;
  retry?: Partial<RetryPolicy>;
  /** How long a call waits for another process's refresh of the same grant (longer than a refresh with its retries). Default 30 s. */
  lockWaitMs?: number;
  /** The lock's lease; renewed while a refresh runs. Default 15 s. */
  lockTtlMs?: number;
  /** Share narrowed credentials with other processes through the store (encrypted). Default true. */
  shareCredentials?: boolean;
  /** Credential lifetime assumed when a provider names none. Default 5 min. */
  defaultLifetimeMs?: number;
  /** Lifetime of minted credentials, at most 60 s. Default 60. */
  mintTtlSeconds?: number;
  /** Tests only (the fault suite): called at each fault point of the refresh path. */
  fault?: (point: FaultPoint) => void | Promise<void>;
}

export interface CredentialBrokerDeps {
  config: ResolvedConfig;
  store: GrantStore;
  cipher: GrantCipher;
  lock: RefreshLock;
  providers: ProviderRegistry;
  /** The gateway's signing key for `mint`; made from the store when not given. */
  signingKeys?: SigningKeys;
  clock?: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Token requests use the provider registry's fetch; accepted here for symmetry with the gateway. */
  fetch?: typeof fetch;
  /** Tests only: switch off single-flight and the grant lock, to prove the coalescing tests can fail. */
  lockEnabled?: boolean;
  options?: BrokerOptions;
}

/** How often a grant's last use is written (a separate record: a call never rewrites the grant). */
const USED_WRITE_INTERVAL_MS = 60_000;

export function createCredentialBroker(deps: CredentialBrokerDeps): CredentialBroker {
  const clock = deps.clock ?? systemClock;
  const o = deps.options ?? {};
  const skewMs = o.skewMs ?? 30_000;
  const coalesce = deps.lockEnabled !== false;
  const signingKeys =
    deps.signingKeys ??
    createSigningKeys({
      store: deps.store,
      cipher: deps.cipher,
      lock: deps.lock,
      issuer: deps.config.server.publicUrl,
    });
  const ctx: BrokerContext = {
    config: deps.config,
    store: deps.store,
    cipher: deps.cipher,
    lock: deps.lock,
    providers: deps.providers,
    signingKeys,
    clock,
    logger: deps.logger,
    metrics: deps.metrics,
    cache: createCredentialCache({
      store: deps.store,
      cipher: deps.cipher,
      clock,
      logger: deps.logger,
      skewMs,
      shared: o.shareCredentials ?? true,
    }),
    flights: createSingleFlight(),
    pendingWrites: new Map(),
    unsentMarkers: new Set(),
    state: { closed: false },
    ...(o.fault ? { fault: o.fault } : {}),
    coalesce,
    skewMs,
    retry: { ...DEFAULT_RETRY, ...o.retry },
    lockWaitMs: o.lockWaitMs ?? 30_000,
    lockTtlMs: o.lockTtlMs ?? 15_000,
    defaultLifetimeMs: o.defaultLifetimeMs ?? 300_000,
    mintTtlSeconds: o.mintTtlSeconds ?? 60,
  };
  if (!coalesce) deps.logger.warn('credential broker: coalescing and the refresh lock are OFF (tests only)');
  const usedWritten = new Map<string, number>();

  async function usableGrant(req: CredentialRequest, runtime: ProviderRuntime): Promise<Grant> {
    const grant = await readGrant(ctx, req.user, runtime.name, req.tenant, req.tool.scopes);
    // reauth errors are counted once, where they are returned to the agent (gateway/toolCall.ts).
    return assertGrantServes(grant, runtime.name, req.tool.scopes, clock.now());
  }

  function noteUse(grant: Grant): void {
    const now = clock.now();
    if (now - (usedWritten.get(grant.id) ?? 0) < USED_WRITE_INTERVAL_MS) return;
    usedWritten.set(grant.id, now);
    deps.store.setRecord(`${GRANT_USED_PREFIX}${grant.id}`, now).catch((err: Error) => {
      deps.logger.debug({ grantId: grant.id, err: err.message }, 'last use not recorded');
    });
  }

  function raceAbort<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(signal.reason);
    // The shared refresh goes on for the other waiters; only this caller stops waiting.
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  async function obtain(req: CredentialRequest, rejected?: CallCredential): Promise<CallCredential> {
    const runtime = deps.providers.get(req.tool.provider);
    const grant = await usableGrant(req, runtime);
    noteUse(grant);
    switch (runtime.strategy) {
      case 'mint':
        return mintCredential(ctx, runtime, req, grant, rejected ? { jti: `${req.callId}.retry` } : {});
      case 'exchange':
        return exchangeCredential(ctx, runtime, req, grant, { rejected });
      default:
        return refreshCredential(ctx, runtime, req, grant, { rejected });
    }
  }

  async function logged(req: CredentialRequest, p: Promise<CallCredential>): Promise<CallCredential> {
    try {
      return await raceAbort(p, req.signal);
    } catch (err) {
      const e = err as Error & { code?: string; details?: { reason?: string; internal?: string } };
      deps.logger.info(
        {
          callId: req.callId,
          user: req.user,
          provider: req.tool.provider,
          // Not `code`: the logger redacts that field everywhere, as an authorization code.
          errorCode: e.code ?? e.name,
          reason: e.details?.reason,
          detail: e.details?.internal,
        },
        'no credential for call',
      );
      throw err;
    }
  }

  return {
    credentialFor: (req) => logged(req, obtain(req)),
    afterUnauthorized: (req, rejected) => {
      deps.logger.info(
        {
          callId: req.callId,
          provider: req.tool.provider,
          credentialId: rejected.meta.id,
          generation: rejected.meta.generation,
        },
        'API rejected a credential; renewing it',
      );
      return logged(req, obtain(req, rejected));
    },
    async close() {
      ctx.state.closed = true;
      ctx.cache.clear();
      usedWritten.clear();
    },
  };
}
