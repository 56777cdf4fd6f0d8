// The claim on a grant's refresh token: a marker written before it is presented, lifted, settled or found
// interrupted; the rotated grant stored fenced by it, and kept until stored.
import { randomUUID } from 'node:crypto';
import { ReauthRequiredError, StoreUnavailableError } from '../../errors.js';
import { TokenEndpointError } from '../../providers/errors.js';
import { fromStoreFailure } from '../errorBoundary.js';
import { GrantConflictError, type GrantExpectation, grantKey, UnreadableGrantError } from '../store.js';
import type { Grant, LockHold } from '../types.js';
import type { BrokerContext } from './context.js';

/**
 * Store failures on the refresh path: a record that fails its check is that user's reauth
 * (quarantined, never refreshed); a refused compare-and-set and every backend error go through the
 * error boundary as store_unavailable (retry; nothing was spent).
 */
export function asStoreError(
  err: unknown,
  message: string,
  about: { provider?: string; scopes?: string[] } = {},
): Error {
  if (err instanceof UnreadableGrantError) {
    return new ReauthRequiredError(
      `The stored ${about.provider ? `${about.provider} ` : ''}grant cannot be read; access must be granted again.`,
      { ...about, reason: 'unreadable_record', internal: err.message },
      { cause: err },
    );
  }
  return fromStoreFailure(err, { message });
}

/**
 * Whether the authorization server may have acted on a request that failed: the token client says
 * so (`maybeProcessed`: sent, and no verdict came back). Anything else that escaped is unknown too.
 */
export function mayHaveBeenProcessed(err: unknown): boolean {
  return err instanceof TokenEndpointError ? err.maybeProcessed : true;
}

export function withoutMarker(grant: Grant): Grant {
  const { refreshing: _marker, ...rest } = grant;
  return rest;
}

/** What a writer read: the generation, and the marker (or its absence) when it was read. */
export function expectationAt(grant: Grant): GrantExpectation {
  return { generation: grant.generation, holder: grant.refreshing?.holder ?? null };
}

/**
 * Claims the grant's refresh token for this attempt: the lock is confirmed first (a holder whose
 * lease lapsed or whose session died stops here), then the marker is written by compare-and-set,
 * which fails if anyone else claimed or moved the grant since it was read.
 */
export async function claim(ctx: BrokerContext, grant: Grant, hold: LockHold | undefined): Promise<Grant> {
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
export async function releaseClaim(ctx: BrokerContext, marked: Grant): Promise<void> {
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
export async function refreshInterrupted(ctx: BrokerContext, grant: Grant, scopes: string[]): Promise<Error> {
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
export function lostRotatedToken(
  ctx: BrokerContext,
  grant: Grant,
  cause: string,
  extra: Record<string, unknown> = {},
): void {
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
export async function storeRotated(ctx: BrokerContext, next: Grant, expect: GrantExpectation, hold?: LockHold) {
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
