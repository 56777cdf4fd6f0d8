// Strategy `refresh`: a refresh narrowed to the tool's scopes and the API's resource, cached per scope set.
import { TokenEndpointError } from '../../providers/errors.js';
import type { NarrowingPlan, ProviderRuntime } from '../../providers/types.js';
import { type CachedCredential, credentialId } from '../credentialCache.js';
import { fromTokenEndpoint } from '../errorBoundary.js';
import type { CallCredential, CredentialRequest, Grant } from '../types.js';
import { type BrokerContext, cachedOrProduced, countCredential, toCallCredential } from './context.js';
import { grantAccessToken, refreshUnderLock, rereadGrant, withGrantLock } from './grantRefresh.js';

export function planFor(ctx: BrokerContext, runtime: ProviderRuntime, scopes: string[]): NarrowingPlan {
  try {
    return runtime.narrowingFor(scopes);
  } catch (err) {
    if (err instanceof TokenEndpointError) {
      throw fromTokenEndpoint(err, {
        provider: runtime.name,
        scopes,
        defaultRetryAfterSeconds: ctx.retry.defaultRetryAfterSeconds,
      });
    }
    throw err;
  }
}

/**
 * Where the provider cannot narrow (GitHub), the grant's own token is the credential. The
 * downstream layer sends it to the tool's API host only, and the audit says narrowed: false.
 */
export async function unnarrowedCredential(
  ctx: BrokerContext,
  runtime: ProviderRuntime,
  req: CredentialRequest,
  grant: Grant,
  opts: { rejectedGeneration?: number } = {},
): Promise<CallCredential> {
  const access = await grantAccessToken(ctx, runtime, grant, req.tool.scopes, { ...opts, signal: req.signal });
  countCredential(ctx, runtime.name, runtime.strategy, access.source);
  return toCallCredential({
    token: access.token,
    meta: {
      id: credentialId(access.token),
      strategy: runtime.strategy,
      narrowed: false,
      scopes: [...access.grant.scopes],
      audience: new URL(runtime.config.apiBaseUrl).origin,
      grantId: access.grant.id,
      generation: access.grant.generation,
      expiresAt: access.expiresAt ?? ctx.clock.now() + ctx.defaultLifetimeMs,
    },
  });
}

export async function refreshCredential(
  ctx: BrokerContext,
  runtime: ProviderRuntime,
  req: CredentialRequest,
  grant: Grant,
  opts: { rejected?: CallCredential } = {},
): Promise<CallCredential> {
  const scopes = req.tool.scopes;
  if (runtime.narrowingMode === 'none') {
    return unnarrowedCredential(ctx, runtime, req, grant, { rejectedGeneration: opts.rejected?.meta.generation });
  }
  const plan = planFor(ctx, runtime, scopes);
  const rejectedId = opts.rejected?.meta.id;
  return cachedOrProduced(ctx, runtime, 'refresh', req, grant, opts.rejected, (key) =>
    withGrantLock(ctx, grant, async (hold): Promise<{ cred: CachedCredential; source: 'refresh' | 'store' }> => {
      const current = await rereadGrant(ctx, grant, scopes);
      // The winner in another process (or an earlier queue turn here) may have left what we need.
      const again = await ctx.cache.get(key, current);
      if (again && again.cred.meta.id !== rejectedId) {
        ctx.metrics.coalescedWaits.inc({ provider: runtime.name, scope: 'process' });
        return { cred: again.cred, source: 'store' };
      }
      const out = await refreshUnderLock(ctx, runtime, current, plan, {
        keepAccessToken: false,
        scopes,
        signal: req.signal,
        hold,
      });
      const now = ctx.clock.now();
      const narrowed = runtime.narrowedBy(plan, out.tokens);
      const cred: CachedCredential = {
        token: out.tokens.accessToken,
        meta: {
          id: credentialId(out.tokens.accessToken),
          strategy: 'refresh',
          narrowed,
          scopes: narrowed ? [...(out.tokens.scope ?? scopes)] : [...(out.tokens.scope ?? current.scopes)],
          audience: runtime.audience,
          grantId: out.grant.id,
          generation: out.grant.generation,
          expiresAt: now + (out.tokens.expiresIn !== undefined ? out.tokens.expiresIn * 1000 : ctx.defaultLifetimeMs),
        },
      };
      // Cached before the lock is released, so the next holder finds it instead of refreshing.
      await ctx.cache.set(key, out.grant, cred);
      return { cred, source: 'refresh' };
    }),
  );
}
