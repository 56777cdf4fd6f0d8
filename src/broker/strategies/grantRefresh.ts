// One refresh of a grant at a time, everywhere: the grant lock, a claim before the token is presented, fenced writes.
import { ReauthRequiredError } from '../../errors.js';
import { assertGrantServes } from '../../policy/grantCoverage.js';
import { TokenEndpointError } from '../../providers/errors.js';
import type { NarrowingPlan, ProviderRuntime, TokenSet } from '../../providers/types.js';
import { bindingOf } from '../credentialCache.js';
import { fromTokenEndpoint } from '../errorBoundary.js';
import { GrantConflictError, grantKey, UnreadableGrantError } from '../store.js';
import type { Grant, LockHold } from '../types.js';
import type { BrokerContext } from './context.js';
import {
  asStoreError,
  claim,
  expectationAt,
  mayHaveBeenProcessed,
  refreshInterrupted,
  releaseClaim,
  storeRotated,
  withoutMarker,
} from './refreshClaim.js';
import { retryTransient } from './retry.js';

export { asStoreError, mayHaveBeenProcessed } from './refreshClaim.js';

/**
 * Runs `fn` holding the grant's lock, shared by every process and instance on the store. Its wait
 * limit is the one limit: in-process callers are already one promise per grant (single-flight).
 */
export function withGrantLock<T>(
  ctx: BrokerContext,
  grant: Grant,
  fn: (hold: LockHold | undefined) => Promise<T>,
): Promise<T> {
  if (!ctx.coalesce) return fn(undefined);
  const key = grantKey(grant.user, grant.provider, grant.tenant);
  return ctx.lock.withLock(key, fn, { waitMs: ctx.lockWaitMs, ttlMs: ctx.lockTtlMs });
}

/** Reads the grant again (inside the lock): another process may have refreshed, revoked or re-consented. */
export async function rereadGrant(ctx: BrokerContext, grant: Grant, scopes: string[]): Promise<Grant> {
  const latest = await readGrant(ctx, grant.user, grant.provider, grant.tenant, scopes);
  return assertGrantServes(latest, grant.provider, scopes, ctx.clock.now());
}

/**
 * The stored grant, or the newer one this process refreshed and still retries to store: a rotated
 * token kept in memory serves this process while the store is away.
 */
export async function readGrant(
  ctx: BrokerContext,
  user: string,
  provider: string,
  tenant?: string,
  scopes?: string[],
) {
  const pending = ctx.pendingWrites.get(grantKey(user, provider, tenant));
  let stored: Grant | undefined;
  try {
    stored = await ctx.store.getGrant(user, provider, tenant);
  } catch (err) {
    if (pending && !(err instanceof UnreadableGrantError)) return pending;
    throw asStoreError(err, 'The grant store could not be read.', { provider, scopes });
  }
  if (pending && (!stored || stored.generation < pending.generation)) return pending;
  return stored;
}

export interface RefreshOutcome {
  tokens: TokenSet;
  /** The grant after the refresh (generation + 1, rotated refresh token), stored or still being stored. */
  grant: Grant;
}

/**
 * Refreshes `current` (read under the grant lock) once, and presents its refresh token at most
 * once anywhere: the grant is first claimed with a marker (compare-and-set), so a holder whose
 * lock was lost cannot claim it too, and a holder that finds another's marker knows the token may
 * be burned and asks for reauth instead. The rotated token is stored, fenced by the claim, before
 * waiters are released; a store that is away is retried for as long as the process lives.
 */
export async function refreshUnderLock(
  ctx: BrokerContext,
  runtime: ProviderRuntime,
  current: Grant,
  plan: NarrowingPlan | undefined,
  opts: { keepAccessToken: boolean; scopes: string[]; signal?: AbortSignal; hold?: LockHold },
): Promise<RefreshOutcome> {
  let grant = current;
  let followedNewer = false;
  const binding = bindingOf(grant);
  for (;;) {
    if (!grant.refreshTokenEnc) {
      throw new ReauthRequiredError(
        `The ${grant.provider} grant holds no refresh token; access must be granted again.`,
        {
          provider: grant.provider,
          scopes: opts.scopes,
          reason: 'needs_reauth',
          internal: 'no refresh token stored',
        },
      );
    }
    if (ctx.coalesce && grant.refreshing && !ctx.unsentMarkers.has(grant.refreshing.holder)) {
      throw await refreshInterrupted(ctx, grant, opts.scopes);
    }
    // A wrong encryption key surfaces here as store_unavailable: never as a reauth.
    const refreshToken = await ctx.cipher.decrypt(grant.refreshTokenEnc, binding);
    await ctx.fault?.('before_request');
    const marked = ctx.coalesce ? await claim(ctx, grant, opts.hold) : grant;
    const started = performance.now();
    let tokens: TokenSet;
    try {
      // Not the caller's signal: once presented, the answer is needed whoever stopped waiting. Only a
      // request that never left is retried (retryTransient), so the token goes out once.
      tokens = await retryTransient(() => runtime.refresh(refreshToken, plan, {}), ctx.retry, { clock: ctx.clock });
    } catch (err) {
      const maybe = mayHaveBeenProcessed(err);
      const failure = {
        provider: grant.provider,
        scopes: opts.scopes,
        defaultRetryAfterSeconds: ctx.retry.defaultRetryAfterSeconds,
      };
      if (err instanceof TokenEndpointError) {
        ctx.metrics.refreshes.inc({ provider: grant.provider, outcome: err.kind });
        ctx.logger.warn(
          {
            grantId: grant.id,
            provider: grant.provider,
            generation: grant.generation,
            kind: err.kind,
            error: err.oauthError,
            status: err.status,
            maybeProcessed: maybe,
          },
          maybe
            ? 'refresh outcome unknown; the grant keeps its marker and will not present this token again'
            : 'refresh failed',
        );
      }
      if (!(err instanceof TokenEndpointError) || err.kind !== 'dead') {
        if (!maybe && marked.refreshing) await releaseClaim(ctx, marked);
        throw err instanceof TokenEndpointError ? fromTokenEndpoint(err, failure) : err;
      }
      const latest = await readGrant(ctx, grant.user, grant.provider, grant.tenant, opts.scopes);
      if (
        !followedNewer &&
        latest?.status === 'active' &&
        latest.refreshTokenEnc &&
        latest.refreshTokenEnc !== grant.refreshTokenEnc &&
        !latest.refreshing
      ) {
        // A newer refresh already replaced the token we sent: this invalid_grant is stale.
        ctx.logger.info(
          { grantId: grant.id, from: grant.generation, to: latest.generation },
          'stale refresh token; using the newer one',
        );
        followedNewer = true;
        grant = latest;
        continue;
      }
      if (latest && latest.status === 'active' && latest.refreshTokenEnc === grant.refreshTokenEnc) {
        await ctx.store
          .putGrant(
            {
              ...withoutMarker(latest),
              status: 'needs_reauth',
              reason: 'invalid_grant',
              generation: latest.generation + 1,
              updatedAt: ctx.clock.now(),
            },
            { expect: expectationAt(latest) },
          )
          .catch((e: unknown) => {
            if (!(e instanceof GrantConflictError)) throw asStoreError(e, 'The grant store could not be written.');
          });
      }
      throw fromTokenEndpoint(err, failure);
    }
    await ctx.fault?.('after_answer');
    ctx.metrics.refreshes.inc({ provider: grant.provider, outcome: 'ok' });
    const now = ctx.clock.now();
    const next: Grant = {
      ...withoutMarker(marked),
      generation: marked.generation + 1,
      updatedAt: now,
      lastUsedAt: now,
    };
    if (tokens.refreshToken) next.refreshTokenEnc = await ctx.cipher.encrypt(tokens.refreshToken, binding);
    if (opts.keepAccessToken) {
      next.accessTokenEnc = await ctx.cipher.encrypt(tokens.accessToken, binding);
      if (tokens.expiresIn !== undefined) next.accessTokenExpiresAt = now + tokens.expiresIn * 1000;
      else delete next.accessTokenExpiresAt;
    }
    await storeRotated(ctx, next, expectationAt(marked), opts.hold);
    await ctx.fault?.('after_write');
    ctx.logger.debug(
      {
        grantId: next.id,
        provider: next.provider,
        generation: next.generation,
        rotated: Boolean(tokens.refreshToken),
        ms: Math.round(performance.now() - started),
      },
      'grant refreshed',
    );
    return { tokens, grant: next };
  }
}

/** The fuller token the grant itself holds (for unscoped providers, and as the exchange's subject). */
export interface GrantAccess {
  token: string;
  expiresAt?: number;
  grant: Grant;
  source: 'grant' | 'refresh';
}

function usable(ctx: BrokerContext, g: Grant, now: number): boolean {
  if (!g.accessTokenEnc) return false;
  // No stated expiry: use it until the API says 401 (afterUnauthorized forces a refresh).
  return g.accessTokenExpiresAt === undefined || g.accessTokenExpiresAt - ctx.skewMs > now;
}

/**
 * The grant's own access token, refreshed (coalesced, under the grant lock) when it has expired or
 * when `force` says the API rejected the one of that generation.
 */
export async function grantAccessToken(
  ctx: BrokerContext,
  runtime: ProviderRuntime,
  grant: Grant,
  scopes: string[],
  opts: { rejectedGeneration?: number; signal?: AbortSignal } = {},
): Promise<GrantAccess> {
  const binding = bindingOf(grant);
  const force = opts.rejectedGeneration !== undefined;
  if (!force && usable(ctx, grant, ctx.clock.now())) {
    return {
      token: await ctx.cipher.decrypt(grant.accessTokenEnc!, binding),
      expiresAt: grant.accessTokenExpiresAt,
      grant,
      source: 'grant',
    };
  }
  const flightKey = `grant-token:${grant.id}${force ? `:after:${opts.rejectedGeneration}` : ''}`;
  const run = () =>
    withGrantLock(ctx, grant, async (hold): Promise<GrantAccess> => {
      const current = await rereadGrant(ctx, grant, scopes);
      const moved = force && current.generation > opts.rejectedGeneration!;
      if ((!force || moved) && usable(ctx, current, ctx.clock.now())) {
        // Another call or process refreshed while we waited: use its result.
        ctx.metrics.coalescedWaits.inc({ provider: grant.provider, scope: 'process' });
        return {
          token: await ctx.cipher.decrypt(current.accessTokenEnc!, binding),
          expiresAt: current.accessTokenExpiresAt,
          grant: current,
          source: 'grant',
        };
      }
      const plan: NarrowingPlan = { mode: 'none', resource: runtime.narrowingFor([]).resource };
      const out = await refreshUnderLock(ctx, runtime, current, plan, {
        keepAccessToken: true,
        scopes,
        signal: opts.signal,
        hold,
      });
      return {
        token: out.tokens.accessToken,
        expiresAt: out.grant.accessTokenExpiresAt,
        grant: out.grant,
        source: 'refresh',
      };
    });
  if (!ctx.coalesce) return run();
  return ctx.flights.run(flightKey, run, () =>
    ctx.metrics.coalescedWaits.inc({ provider: grant.provider, scope: 'call' }),
  );
}
