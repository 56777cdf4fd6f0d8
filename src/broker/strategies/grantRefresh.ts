// One refresh of a grant at a time, everywhere: the grant lock, a claim before the token is presented, fenced writes.
import { randomUUID } from 'node:crypto';
import {
  InsufficientScopeError,
  isGatewayError,
  ProviderUnavailableError,
  ReauthRequiredError,
  StoreUnavailableError,
} from '../../errors.js';
import type { NarrowingPlan, ProviderRuntime, TokenSet } from '../../providers/types.js';
import { TokenEndpointError } from '../../providers/types.js';
import { bindingOf } from '../credentialCache.js';
import { assertGrantServes } from '../grants.js';
import { GrantConflictError, type GrantExpectation, grantKey, UnreadableGrantError } from '../store.js';
import type { Grant, LockHold } from '../types.js';
import type { BrokerContext } from './context.js';
import { retryTransient } from './retry.js';

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

/**
 * The one translation of store failures on the refresh path: a record that fails its check is that
 * user's reauth (quarantined, never refreshed), a refused compare-and-set and every backend error
 * are store_unavailable (retry; nothing was spent).
 */
export function asStoreError(
  err: unknown,
  message: string,
  about: { provider?: string; scopes?: string[] } = {},
): Error {
  if (isGatewayError(err)) return err;
  if (err instanceof UnreadableGrantError) {
    return new ReauthRequiredError(
      `The stored ${about.provider ?? ''} grant cannot be read; access must be granted again.`.replace('  ', ' '),
      { ...about, reason: 'unreadable_record', internal: err.message },
      { cause: err },
    );
  }
  return new StoreUnavailableError(
    message,
    { retryAfterSeconds: 5, internal: (err as Error)?.message },
    { cause: err },
  );
}

/**
 * Whether the authorization server may have acted on a request that failed. The token client may
 * say so itself (`requestOutcome`: 'not_sent' | 'rejected' | 'maybe_processed'); otherwise it is
 * judged from what came back: an HTTP error answer (OAuth error, 429, 5xx) rotated nothing, and a
 * refused connection never arrived; no answer at all (a timeout, a cut connection) or a success
 * whose body could not be read may have rotated the token.
 */
export function mayHaveBeenProcessed(err: unknown): boolean {
  if (!(err instanceof TokenEndpointError)) return true;
  const said = (err as { requestOutcome?: string }).requestOutcome;
  if (said) return said === 'maybe_processed';
  if (err.kind !== 'transient') return false;
  if (err.status !== undefined) return err.status < 400;
  for (let cause: unknown = err.cause, depth = 0; cause && depth < 5; depth++) {
    const code = (cause as { code?: string }).code;
    if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
      return false;
    }
    cause = (cause as { cause?: unknown }).cause;
  }
  return true;
}

/** Carries a failure past retryTransient, which must not send a token the server may have taken. */
class NotRetried extends Error {
  constructor(readonly inner: unknown) {
    super('not retried');
  }
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
    ctx.fault?.('before_request');
    const marked = ctx.coalesce ? await claim(ctx, grant, opts.hold) : grant;
    const started = performance.now();
    let tokens: TokenSet;
    try {
      // Not the caller's signal: once presented, the answer is needed whoever stopped waiting.
      tokens = await retryTransient(async () => {
        try {
          return await runtime.refresh(refreshToken, plan, {});
        } catch (err) {
          throw mayHaveBeenProcessed(err) ? new NotRetried(err) : err;
        }
      }, ctx.retry);
    } catch (thrown) {
      const err = thrown instanceof NotRetried ? thrown.inner : thrown;
      const maybe = thrown instanceof NotRetried;
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
        throw err instanceof TokenEndpointError ? translateFailure(ctx, err, grant.provider, opts.scopes) : err;
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
      throw new ReauthRequiredError(
        `The ${grant.provider} authorization server no longer accepts this grant; access must be granted again.`,
        {
          provider: grant.provider,
          scopes: opts.scopes,
          reason: 'invalid_grant',
          internal: err.oauthError,
        },
      );
    }
    ctx.fault?.('after_answer');
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
    ctx.fault?.('after_write');
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

function withoutMarker(grant: Grant): Grant {
  const { refreshing: _marker, ...rest } = grant;
  return rest;
}

/** What a writer read: the generation, and the marker (or its absence) when it was read. */
function expectationAt(grant: Grant): GrantExpectation {
  return { generation: grant.generation, holder: grant.refreshing?.holder ?? null };
}

/**
 * Claims the grant's refresh token for this attempt: the lock is confirmed first (a holder whose
 * lease lapsed or whose session died stops here), then the marker is written by compare-and-set,
 * which fails if anyone else claimed or moved the grant since it was read.
 */
async function claim(ctx: BrokerContext, grant: Grant, hold: LockHold | undefined): Promise<Grant> {
  await hold?.confirm();
  const holder = randomUUID();
  const marked: Grant = { ...grant, refreshing: { holder, startedAt: ctx.clock.now() } };
  // Until the request leaves, a marker of ours proves nothing was sent: this process may claim again.
  ctx.unsentMarkers.add(holder);
  try {
    await ctx.store.putGrant(marked, { expect: expectationAt(grant) });
  } catch (err) {
    throw asStoreError(err, 'The grant could not be claimed for a refresh; retry shortly.');
  }
  if (grant.refreshing) ctx.unsentMarkers.delete(grant.refreshing.holder);
  ctx.unsentMarkers.delete(holder);
  return marked;
}

/** The server certainly did not act: the claim is lifted so the token can be presented later. */
async function releaseClaim(ctx: BrokerContext, marked: Grant): Promise<void> {
  const holder = marked.refreshing!.holder;
  try {
    await ctx.store.putGrant(withoutMarker(marked), { expect: expectationAt(marked) });
  } catch (err) {
    // Left in place, the marker still proves to this process that nothing was sent.
    ctx.unsentMarkers.add(holder);
    ctx.logger.debug({ grantId: marked.id, err: (err as Error).message }, 'refresh claim not lifted');
  }
}

/** Another holder claimed this token and left without a result: it may be burned, so it is never sent again. */
async function refreshInterrupted(ctx: BrokerContext, grant: Grant, scopes: string[]): Promise<Error> {
  try {
    await ctx.store.putGrant(
      {
        ...withoutMarker(grant),
        status: 'needs_reauth',
        reason: 'refresh_interrupted',
        generation: grant.generation + 1,
        updatedAt: ctx.clock.now(),
      },
      { expect: expectationAt(grant) },
    );
    lostRotatedToken(ctx, grant, 'interrupted', { startedAt: grant.refreshing?.startedAt });
  } catch (err) {
    if (!(err instanceof GrantConflictError)) return asStoreError(err, 'The grant store could not be written.');
    // Someone else settled it first; whatever it is now, the caller starts again.
    return new StoreUnavailableError('The grant changed; retry shortly.', { retryAfterSeconds: 1 });
  }
  return new ReauthRequiredError(
    `A refresh of the ${grant.provider} grant was interrupted; access must be granted again.`,
    { provider: grant.provider, scopes, reason: 'refresh_interrupted' },
  );
}

/** Counted and logged: the crash window (or a lost fence) cost this grant its refresh token. */
function lostRotatedToken(ctx: BrokerContext, grant: Grant, cause: string, extra: Record<string, unknown> = {}): void {
  ctx.metrics.refreshTokensLost.inc({ provider: grant.provider, cause });
  ctx.logger.error(
    { grantId: grant.id, provider: grant.provider, generation: grant.generation, cause, ...extra },
    'a refresh token was lost; the user must grant access again',
  );
}

/**
 * Stores the rotated grant. If the store is away, the grant is kept in memory (this process reads
 * it from there) and retried with backoff for as long as the process lives, the lock held
 * meanwhile so no other holder finds the claim and gives the grant up.
 */
async function storeRotated(ctx: BrokerContext, next: Grant, expect: GrantExpectation, hold?: LockHold) {
  const key = grantKey(next.user, next.provider, next.tenant);
  try {
    await ctx.store.putGrant(next, { expect });
    return;
  } catch (err) {
    if (err instanceof GrantConflictError) {
      lostRotatedToken(ctx, next, 'fenced');
      return;
    }
    ctx.logger.warn(
      { grantId: next.id, provider: next.provider, generation: next.generation, err: (err as Error).message },
      'a refreshed grant could not be stored yet; it is kept in memory and retried',
    );
  }
  ctx.pendingWrites.set(key, next);
  const retried = (async () => {
    for (let attempt = 1; ; attempt++) {
      await new Promise<void>((resolve) => setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt)).unref());
      if (ctx.state.closed) {
        lostRotatedToken(ctx, next, 'closed_unstored');
        break;
      }
      try {
        await ctx.store.putGrant(next, { expect });
        ctx.logger.info(
          { grantId: next.id, generation: next.generation, attempts: attempt + 1 },
          'refreshed grant stored',
        );
        break;
      } catch (err) {
        if (err instanceof GrantConflictError) {
          lostRotatedToken(ctx, next, 'fenced');
          break;
        }
      }
    }
    if (ctx.pendingWrites.get(key) === next) ctx.pendingWrites.delete(key);
  })();
  hold?.keepUntil(retried);
}

/** Transient and refused requests: the grant is left exactly as it is. */
export function translateFailure(
  ctx: BrokerContext,
  err: TokenEndpointError,
  provider: string,
  scopes: string[],
): Error {
  switch (err.kind) {
    case 'invalid_scope':
      return new InsufficientScopeError(`${provider} refused the scopes this tool needs.`, {
        provider,
        scopes,
        missingScopes: scopes,
        internal: err.oauthError,
      });
    case 'transient':
      return new ProviderUnavailableError(
        `${provider} is not answering right now.`,
        {
          provider,
          retryAfterSeconds: err.retryAfterSeconds ?? ctx.retry.defaultRetryAfterSeconds,
          internal: err.message,
        },
        { cause: err },
      );
    default:
      // Refused for a reason the user cannot fix (client configuration): tell the operator, not the user.
      return new ProviderUnavailableError(
        `${provider} refused the gateway's request; the operator must check its configuration.`,
        {
          provider,
          retryAfterSeconds: 60,
          reason: err.oauthError,
          internal: err.message,
        },
        { cause: err },
      );
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
