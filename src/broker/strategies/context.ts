// What every strategy shares: the store, the cipher, the lock, the caches, and the broker's policies.
import type { Clock } from '../../clock.js';
import type { ResolvedConfig } from '../../config/types.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics.js';
import type { ProviderRegistry, ProviderRuntime } from '../../providers/types.js';
import type { CachedCredential, CacheSource, CredentialCache } from '../credentialCache.js';
import type { SigningKeys } from '../signingKey.js';
import type { SingleFlight } from '../singleFlight.js';
import {
  CallCredential,
  type CredentialRequest,
  type Grant,
  type GrantCipher,
  type GrantStore,
  type RefreshLock,
  type Strategy,
} from '../types.js';
import type { RetryPolicy } from './retry.js';

export interface BrokerContext {
  config: ResolvedConfig;
  store: GrantStore;
  cipher: GrantCipher;
  lock: RefreshLock;
  providers: ProviderRegistry;
  signingKeys: SigningKeys;
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  cache: CredentialCache;
  flights: SingleFlight;
  /** Rotated grants this process could not store yet, by grant key: served from here meanwhile. */
  pendingWrites: Map<string, Grant>;
  /** Refresh markers this process wrote whose request never left: safe for it to claim again. */
  unsentMarkers: Set<string>;
  /** `closed` once the broker is closed: a pending write then gives up (and counts the loss). */
  state: { closed: boolean };
  /** Tests only: called at each fault point of the refresh path (a child process kills itself there). */
  fault?: (point: FaultPoint) => void | Promise<void>;
  /** false only in tests that prove the coalescing tests can fail. */
  coalesce: boolean;
  /** A credential is not handed out this close to its expiry. */
  skewMs: number;
  retry: RetryPolicy;
  lockWaitMs: number;
  lockTtlMs: number;
  /** Used when a provider names no expires_in. */
  defaultLifetimeMs: number;
  mintTtlSeconds: number;
}

/** Where the fault suite can stop a refresh: before it, after the server answered, after the write. */
export type FaultPoint = 'before_request' | 'after_answer' | 'after_write';

/** Where a credential came from, for the credentials metric. */
export type CredentialSource = CacheSource | 'refresh' | 'exchange' | 'mint' | 'grant';

export function toCallCredential(c: CachedCredential): CallCredential {
  return new CallCredential(c.token, c.meta);
}

export function countCredential(
  ctx: BrokerContext,
  provider: string,
  strategy: Strategy,
  source: CredentialSource,
): void {
  ctx.metrics.credentials.inc({ provider, strategy, source });
}

/**
 * What `refresh` and `exchange` share around their token request: the credential cached per
 * (grant, consent, scope set, audience), or after a 401 the rejected one dropped; then `produce`,
 * run once per key in this process however many calls ask at the same moment.
 */
export async function cachedOrProduced(
  ctx: BrokerContext,
  runtime: ProviderRuntime,
  kind: 'refresh' | 'exchange',
  req: CredentialRequest,
  grant: Grant,
  rejected: CallCredential | undefined,
  produce: (key: string) => Promise<{ cred: CachedCredential; source: CredentialSource }>,
): Promise<CallCredential> {
  const key = ctx.cache.keyFor(grant, kind, req.tool.scopes, runtime.audience);
  if (rejected) {
    await ctx.cache.drop(key, rejected.meta.id);
  } else {
    const hit = await ctx.cache.get(key, grant);
    if (hit) {
      countCredential(ctx, runtime.name, kind, hit.source);
      return toCallCredential(hit.cred);
    }
  }
  const run = () => produce(key);
  const flightKey = rejected ? `${key}:after:${rejected.meta.id}` : key;
  const { cred, source } = ctx.coalesce
    ? await ctx.flights.run(flightKey, run, () =>
        ctx.metrics.coalescedWaits.inc({ provider: runtime.name, scope: 'call' }),
      )
    : await run();
  countCredential(ctx, runtime.name, kind, source);
  return toCallCredential(cred);
}
