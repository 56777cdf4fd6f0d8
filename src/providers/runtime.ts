// A configured provider at run time: endpoints (config, preset or discovery), client auth and token requests.
import { type Clock, systemClock } from '../clock.js';
import type { ResolvedProvider } from '../config/types.js';
import { memoiseUnlessRejected } from '../memo.js';
import { type BackoffPolicy, createProviderBackoff } from './backoff.js';
import { discoverEndpoints } from './discovery.js';
import { revokeRfc7009 } from './revocation.js';
import { requestTokens, shortGrant, type TokenClientOptions } from './tokenClient.js';
import {
  type AuthorizationUrlRequest,
  type ClientAuthMethod,
  type NarrowingPlan,
  type ProviderEndpoints,
  type ProviderPreset,
  type ProviderRuntime,
  type RevocationOutcome,
  type RevocationTokens,
  TokenEndpointError,
  type TokenRequestOptions,
  type TokenSet,
} from './types.js';

export interface ProviderRuntimeOptions {
  fetch?: typeof fetch;
  /** Per token request. */
  timeoutMs?: number;
  /** Reads Retry-After dates and times the provider's hold. */
  clock?: Clock;
  backoff?: BackoffPolicy;
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

export function createProviderRuntime(
  config: ResolvedProvider,
  preset: ProviderPreset | undefined,
  opts: ProviderRuntimeOptions = {},
): ProviderRuntime {
  const fetchImpl = opts.fetch ?? globalThis.fetch;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const clock = opts.clock ?? systemClock;
  const backoff = createProviderBackoff(config.name, clock, opts.backoff);
  const narrowingMode = preset?.narrowing ?? 'yes';
  const sendResource = preset?.resourceParameter ?? true;
  const separator = preset?.scopeSeparator ?? ' ';
  const audience = config.resource ?? new URL(config.apiBaseUrl).origin;
  let scopesSupported: string[] | undefined;

  const explicit: Partial<ProviderEndpoints> = stripUndefined({
    issuer: config.issuer,
    authorizationEndpoint: config.authorizationEndpoint,
    tokenEndpoint: config.tokenEndpoint,
    revocationEndpoint: config.revocationEndpoint,
    deviceAuthorizationEndpoint: config.deviceAuthorizationEndpoint,
    jwksUri: config.jwksUri,
  });

  async function resolveEndpoints(signal?: AbortSignal): Promise<ProviderEndpoints> {
    const fixed = preset?.endpoints(config) ?? {};
    const explicitComplete = Boolean(explicit.tokenEndpoint && explicit.authorizationEndpoint);
    const issuer = config.issuer ?? (explicitComplete ? undefined : preset?.discovery?.issuer(config));
    let discovered: Partial<ProviderEndpoints> = {};
    if (issuer) {
      try {
        const d = await discoverEndpoints(issuer, {
          clientId: config.clientId,
          algorithm: config.issuer ? undefined : preset?.discovery?.algorithm,
          fetch: fetchImpl,
          signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
        });
        scopesSupported = d.scopesSupported;
        discovered = stripUndefined(d);
      } catch (err) {
        // A preset that knows its endpoints can do without its metadata document.
        if (!fixed.tokenEndpoint || config.issuer) {
          throw new TokenEndpointError(
            config.name,
            'transient',
            { oauthError: 'discovery_failed', what: 'discovery', delivery: 'not_sent' },
            { cause: err },
          );
        }
      }
    }
    const merged = { ...fixed, ...discovered, ...explicit };
    if (!merged.tokenEndpoint) {
      throw new TokenEndpointError(config.name, 'rejected', {
        oauthError: 'no_token_endpoint',
        what: 'configuration',
        delivery: 'not_sent',
      });
    }
    return merged as ProviderEndpoints;
  }

  // A failed discovery is not cached: the next call tries again. The first caller's signal bounds it.
  let firstSignal: AbortSignal | undefined;
  const resolved = memoiseUnlessRejected(() => resolveEndpoints(firstSignal));
  function endpoints(o?: TokenRequestOptions): Promise<ProviderEndpoints> {
    firstSignal = o?.signal;
    return resolved.get();
  }

  async function clientOptions(
    o?: TokenRequestOptions,
  ): Promise<{ client: TokenClientOptions; ep: ProviderEndpoints }> {
    const ep = await endpoints(o);
    return {
      ep,
      client: {
        provider: config.name,
        clientId: config.clientId,
        clientSecret: config.clientSecret,
        clientAuth: clientAuthFor(config, preset, ep),
        preset,
        fetch: fetchImpl,
        timeoutMs,
        now: () => clock.now(),
      },
    };
  }

  /**
   * Every token request to this provider goes through here: none is sent while the provider's
   * last "wait" lasts, and each failure may start one.
   */
  async function send(params: Record<string, string | undefined>, o?: TokenRequestOptions): Promise<TokenSet> {
    backoff.assertOpen(`${shortGrant(params.grant_type ?? 'token')} request`);
    const { client, ep } = await clientOptions(o);
    try {
      const tokens = await requestTokens(client, ep.tokenEndpoint, params, o?.signal);
      backoff.succeeded();
      return tokens;
    } catch (err) {
      throw err instanceof TokenEndpointError ? backoff.failed(err) : err;
    }
  }

  function formatScopes(scopes: string[]): string {
    return scopes.join(separator);
  }

  function narrowingFor(scopes: string[]): NarrowingPlan {
    const resource = sendResource ? config.resource : undefined;
    if (narrowingMode === 'none' || scopes.length === 0) return { mode: narrowingMode, resource };
    if (narrowingMode === 'per-resource' && preset?.resourceOfScope) {
      const resources = new Set(scopes.map((s) => preset.resourceOfScope!(s)).filter(Boolean));
      if (resources.size > 1) {
        throw new TokenEndpointError(config.name, 'invalid_scope', {
          oauthError: 'scopes_span_resources',
          what: 'narrowing',
          delivery: 'not_sent',
        });
      }
    }
    return { mode: narrowingMode, scope: [...scopes], resource };
  }

  function narrowedBy(plan: NarrowingPlan, tokens: TokenSet): boolean {
    if (plan.mode === 'none' || !plan.scope) return false;
    if (tokens.scope) {
      const asked = new Set(plan.scope);
      return tokens.scope.every((s) => asked.has(s));
    }
    // RFC 6749 s.5.1: scope may be left out when it is the one asked for; `verify` won't assume that.
    return plan.mode !== 'verify';
  }

  function authorizationScopes(scopes: string[]): string[] {
    const extra =
      preset?.offlineAccess.scopes ?? (scopesSupported?.includes('offline_access') ? ['offline_access'] : []);
    return [...new Set([...scopes, ...extra])];
  }

  async function authorizationUrl(req: AuthorizationUrlRequest): Promise<URL> {
    const ep = await endpoints();
    if (!ep.authorizationEndpoint) {
      throw new TokenEndpointError(config.name, 'rejected', {
        oauthError: 'no_authorization_endpoint',
        what: 'configuration',
        delivery: 'not_sent',
      });
    }
    const url = new URL(ep.authorizationEndpoint);
    const scopes = authorizationScopes(req.scopes);
    const params: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: config.clientId,
      redirect_uri: req.redirectUri,
      scope: scopes.length ? formatScopes(scopes) : undefined,
      state: req.state,
      nonce: req.nonce,
      login_hint: req.loginHint,
      resource: sendResource ? config.resource : undefined,
    };
    if (req.codeChallenge && preset?.pkce !== 'none') {
      params.code_challenge = req.codeChallenge;
      params.code_challenge_method = 'S256';
    }
    // OIDC core: offline_access is honoured only with prompt=consent.
    if (!preset && scopes.includes('offline_access')) params.prompt = 'consent';
    Object.assign(params, preset?.offlineAccess.authorizeParams, config.authorizeParams, req.extraParams);
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
    return url;
  }

  async function exchangeCode(
    req: { code: string; redirectUri: string; codeVerifier?: string },
    o?: TokenRequestOptions,
  ): Promise<TokenSet> {
    return send(
      {
        grant_type: 'authorization_code',
        code: req.code,
        redirect_uri: req.redirectUri,
        code_verifier: req.codeVerifier,
        resource: sendResource ? config.resource : undefined,
      },
      o,
    );
  }

  async function refresh(refreshToken: string, plan?: NarrowingPlan, o?: TokenRequestOptions): Promise<TokenSet> {
    return send(
      {
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        scope: plan?.scope?.length ? formatScopes(plan.scope) : undefined,
        resource: plan?.resource,
      },
      o,
    );
  }

  async function exchangeToken(
    subjectToken: string,
    plan: NarrowingPlan & { actor?: string },
    o?: TokenRequestOptions,
  ): Promise<TokenSet> {
    const kind = preset?.exchange ?? 'rfc8693';
    const scope = plan.scope?.length ? formatScopes(plan.scope) : undefined;
    if (kind === 'obo') {
      return send(
        {
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion: subjectToken,
          requested_token_use: 'on_behalf_of',
          scope,
        },
        o,
      );
    }
    if (kind === 'none') {
      throw new TokenEndpointError(config.name, 'rejected', {
        oauthError: 'exchange_unsupported',
        what: 'token exchange',
        delivery: 'not_sent',
      });
    }
    return send(
      {
        grant_type: TOKEN_EXCHANGE,
        subject_token: subjectToken,
        subject_token_type: ACCESS_TOKEN_TYPE,
        requested_token_type: ACCESS_TOKEN_TYPE,
        scope,
        resource: plan.resource ?? (sendResource ? config.resource : undefined),
        actor_token: plan.actor,
        actor_token_type: plan.actor ? JWT_TOKEN_TYPE : undefined,
      },
      o,
    );
  }

  async function canRevoke(): Promise<boolean> {
    if (preset) return Boolean(preset.revoke);
    return Boolean((await endpoints()).revocationEndpoint);
  }

  async function revoke(tokens: RevocationTokens, o?: TokenRequestOptions): Promise<RevocationOutcome> {
    const ep = await endpoints(o);
    const signal = o?.signal
      ? AbortSignal.any([o.signal, AbortSignal.timeout(timeoutMs)])
      : AbortSignal.timeout(timeoutMs);
    const ctx = { provider: config, endpoints: ep, tokens, fetch: fetchImpl, signal };
    try {
      if (preset) {
        if (!preset.revoke) {
          return {
            supported: false,
            revoked: false,
            detail: preset.revocationNote ?? `${preset.title} has no revocation verb`,
          };
        }
        return await preset.revoke(ctx);
      }
      if (!ep.revocationEndpoint)
        return { supported: false, revoked: false, detail: 'the provider publishes no revocation endpoint' };
      return await revokeRfc7009(ctx, ep.revocationEndpoint, clientAuthFor(config, preset, ep));
    } catch (err) {
      return { supported: true, revoked: false, detail: `revocation request failed (${(err as Error).name})` };
    }
  }

  return {
    name: config.name,
    config,
    preset,
    strategy: config.strategy,
    rotation: preset?.rotation ?? 'unconfirmed',
    narrowingMode,
    audience,
    endpoints,
    narrowingFor,
    narrowedBy,
    authorizationScopes,
    authorizationUrl,
    exchangeCode,
    refresh,
    exchangeToken,
    canRevoke,
    revoke,
    formatScopes,
  };
}

/** The preset decides; otherwise Basic (RFC 6749's MUST) unless the server lists only post. */
/** How the gateway authenticates to this provider's token endpoint (one rule for every token request). */
export function clientAuthFor(
  config: ResolvedProvider,
  preset: ProviderPreset | undefined,
  ep: ProviderEndpoints,
): ClientAuthMethod {
  if (!config.clientSecret) return 'none';
  if (preset) return preset.clientAuth;
  const methods = ep.tokenEndpointAuthMethods;
  if (methods && !methods.includes('client_secret_basic') && methods.includes('client_secret_post')) {
    return 'client_secret_post';
  }
  return 'client_secret_basic';
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
