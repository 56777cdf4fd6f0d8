// One refresh of a grant at a time, everywhere: the grant lock, the re-read, rotation stored first, dead tokens judged.
import { ReauthRequiredError } from '../../errors.js';
import { assertGrantServes } from '../../policy/grantCoverage.js';
import { TokenEndpointError } from '../../providers/errors.js';
import type { NarrowingPlan, ProviderRuntime, TokenSet } from '../../providers/types.js';
import { bindingOf } from '../credentialCache.js';
import { fromStoreFailure, fromTokenEndpoint } from '../errorBoundary.js';
import { grantKey } from '../store.js';
import type { Grant } from '../types.js';
import type { BrokerContext } from './context.js';
import { retryTransient } from './retry.js';

/**
 * Runs `fn` holding the grant: first this process's queue (so one process asks the shared lock
 * once per grant at a time), then the lock shared by every process and instance on the store.
 */
export function withGrantLock<T>(ctx: BrokerContext, grant: Grant, fn: () => Promise<T>): Promise<T> {
  if (!ctx.coalesce) return fn();
  const key = grantKey(grant.user, grant.provider, grant.tenant);
  return ctx.queue.run(key, () => ctx.lock.withLock(key, fn, { waitMs: ctx.lockWaitMs, ttlMs: ctx.lockTtlMs }));
}

/** Reads the grant again (inside the lock): another process may have refreshed, revoked or re-consented. */
export async function rereadGrant(ctx: BrokerContext, grant: Grant, scopes: string[]): Promise<Grant> {
  const latest = await readGrant(ctx, grant.user, grant.provider, grant.tenant);
  return assertGrantServes(latest, grant.provider, scopes, ctx.clock.now());
}

export async function readGrant(ctx: BrokerContext, user: string, provider: string, tenant?: string) {
  try {
    return await ctx.store.getGrant(user, provider, tenant);
  } catch (err) {
    throw fromStoreFailure(err, { message: 'The grant store could not be read.' });
  }
}

/** Writes the rotated grant; a lost rotated refresh token loses the grant, so a failed write is retried. */
async function putGrantDurably(ctx: BrokerContext, grant: Grant): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 3; i++) {
    try {
      await ctx.store.putGrant(grant);
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 50 * (i + 1)));
    }
  }
  ctx.logger.error(
    { grantId: grant.id, provider: grant.provider, generation: grant.generation, err: (last as Error)?.message },
    'a refreshed grant could not be stored; its refresh token may be lost',
  );
  throw fromStoreFailure(last, { message: 'The refreshed grant could not be stored.' });
}

export interface RefreshOutcome {
  tokens: TokenSet;
  /** The grant as stored after the refresh (generation + 1, rotated refresh token). */
  grant: Grant;
}

/**
 * Refreshes `current` (read under the grant lock) once. The rotated refresh token is stored before
 * this returns, so no waiter is released before it is safe. A dead refresh token marks the grant
 * needs_reauth only if it is still the grant's current one; a newer one is used instead.
 */
export async function refreshUnderLock(
  ctx: BrokerContext,
  runtime: ProviderRuntime,
  current: Grant,
  plan: NarrowingPlan | undefined,
  opts: { keepAccessToken: boolean; scopes: string[]; signal?: AbortSignal },
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
    // A wrong encryption key surfaces here as store_unavailable: never as a reauth.
    const refreshToken = await ctx.cipher.decrypt(grant.refreshTokenEnc, binding);
    const started = performance.now();
    let tokens: TokenSet;
    try {
      tokens = await retryTransient(() => runtime.refresh(refreshToken, plan, { signal: opts.signal }), ctx.retry, {
        signal: opts.signal,
      });
    } catch (err) {
      if (!(err instanceof TokenEndpointError)) throw err;
      ctx.metrics.refreshes.inc({ provider: grant.provider, outcome: err.kind });
      ctx.logger.warn(
        {
          grantId: grant.id,
          provider: grant.provider,
          generation: grant.generation,
          kind: err.kind,
          error: err.oauthError,
          status: err.status,
        },
        'refresh failed',
      );
      const failure = {
        provider: grant.provider,
        scopes: opts.scopes,
        defaultRetryAfterSeconds: ctx.retry.defaultRetryAfterSeconds,
      };
      if (err.kind !== 'dead') throw fromTokenEndpoint(err, failure);
      const latest = await readGrant(ctx, grant.user, grant.provider, grant.tenant);
      if (
        !followedNewer &&
        latest?.status === 'active' &&
        latest.refreshTokenEnc &&
        latest.refreshTokenEnc !== grant.refreshTokenEnc
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
        await putGrantDurably(ctx, {
          ...latest,
          status: 'needs_reauth',
          reason: 'invalid_grant',
          generation: latest.generation + 1,
          updatedAt: ctx.clock.now(),
        });
      }
      throw fromTokenEndpoint(err, failure);
    }
    ctx.metrics.refreshes.inc({ provider: grant.provider, outcome: 'ok' });
    const now = ctx.clock.now();
    const next: Grant = { ...grant, generation: grant.generation + 1, updatedAt: now, lastUsedAt: now };
    if (tokens.refreshToken) next.refreshTokenEnc = await ctx.cipher.encrypt(tokens.refreshToken, binding);
    if (opts.keepAccessToken) {
      next.accessTokenEnc = await ctx.cipher.encrypt(tokens.accessToken, binding);
      if (tokens.expiresIn !== undefined) next.accessTokenExpiresAt = now + tokens.expiresIn * 1000;
      else delete next.accessTokenExpiresAt;
    }
    await putGrantDurably(ctx, next);
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
    withGrantLock(ctx, grant, async (): Promise<GrantAccess> => {
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
