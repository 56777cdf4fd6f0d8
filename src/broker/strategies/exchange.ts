// Strategy `exchange`: RFC 8693 (or Entra on-behalf-of) of the grant's token for one narrowed to the tool, with `act`.
import { TokenEndpointError } from '../../providers/errors.js';
import type { ProviderRuntime, TokenSet } from '../../providers/types.js';
import { type CachedCredential, credentialId } from '../credentialCache.js';
import { fromTokenEndpoint } from '../errorBoundary.js';
import type { CallCredential, CredentialRequest, Grant } from '../types.js';
import { type BrokerContext, cachedOrProduced } from './context.js';
import { grantAccessToken } from './grantRefresh.js';
import { planFor } from './refresh.js';
import { retryTransient } from './retry.js';

export async function exchangeCredential(
  ctx: BrokerContext,
  runtime: ProviderRuntime,
  req: CredentialRequest,
  grant: Grant,
  opts: { rejected?: CallCredential } = {},
): Promise<CallCredential> {
  const scopes = req.tool.scopes;
  const plan = planFor(ctx, runtime, scopes);
  return cachedOrProduced(ctx, runtime, 'exchange', req, grant, opts.rejected, async (key) => {
    // After a 401 the subject token is suspect too: renew it, coalesced with every other such call.
    let subject = await grantAccessToken(ctx, runtime, grant, scopes, {
      rejectedGeneration: opts.rejected ? opts.rejected.meta.generation : undefined,
      signal: req.signal,
    });
    const exchange = (token: string) =>
      retryTransient(() => runtime.exchangeToken(token, plan, { signal: req.signal }), ctx.retry, {
        signal: req.signal,
        clock: ctx.clock,
      });
    let tokens: TokenSet;
    try {
      tokens = await exchange(subject.token);
    } catch (err) {
      if (!(err instanceof TokenEndpointError)) throw err;
      if (err.kind !== 'dead' || subject.source === 'refresh') throw failure(ctx, err, runtime, scopes, subject.grant);
      // The stored subject token died early (revoked session, key roll): refresh once and try again.
      subject = await grantAccessToken(ctx, runtime, subject.grant, scopes, {
        rejectedGeneration: subject.grant.generation,
        signal: req.signal,
      });
      try {
        tokens = await exchange(subject.token);
      } catch (err2) {
        if (!(err2 instanceof TokenEndpointError)) throw err2;
        throw failure(ctx, err2, runtime, scopes, subject.grant);
      }
    }
    const now = ctx.clock.now();
    const lifetime = tokens.expiresIn !== undefined ? tokens.expiresIn * 1000 : ctx.defaultLifetimeMs;
    const narrowed = runtime.narrowedBy(plan, tokens);
    const cred: CachedCredential = {
      token: tokens.accessToken,
      meta: {
        id: credentialId(tokens.accessToken),
        strategy: 'exchange',
        narrowed,
        scopes: [...(tokens.scope ?? (narrowed ? scopes : subject.grant.scopes))],
        audience: runtime.audience,
        grantId: subject.grant.id,
        generation: subject.grant.generation,
        // Never beyond the subject token's life.
        expiresAt: Math.min(now + lifetime, subject.expiresAt ?? Number.POSITIVE_INFINITY),
      },
    };
    await ctx.cache.set(key, subject.grant, cred);
    return { cred, source: 'exchange' };
  });
}

/** A dead subject token after a fresh refresh means the grant itself is gone at the provider. */
function failure(
  ctx: BrokerContext,
  err: TokenEndpointError,
  runtime: ProviderRuntime,
  scopes: string[],
  grant: Grant,
): Error {
  // A dead one is not marked here: the next refresh judges the refresh token itself, under the grant lock.
  return fromTokenEndpoint(err, {
    provider: runtime.name,
    scopes,
    defaultRetryAfterSeconds: ctx.retry.defaultRetryAfterSeconds,
    presented: 'subject_token',
    ...(err.kind === 'dead'
      ? { internal: `exchange refused the subject token of generation ${grant.generation}: ${err.oauthError}` }
      : {}),
  });
}
