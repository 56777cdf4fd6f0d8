// The broker's door for onboarding: finish a code exchange or a device grant here, so tokens never leave the broker.
//
// Onboarding keeps the flow (state, PKCE, sessions, links) and decides who may finish it; the broker
// runs the token requests, checks the ID token, stores the grant, and hands back only the grant's
// summary and the ID token's claims. Tokens that will not be stored are revoked at the provider.
import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { type DevicePrompt, runDeviceGrant, supportsDeviceGrant } from '../providers/deviceGrant.js';
import { IdTokenError, verifyIdToken } from '../providers/idToken.js';
import { type ProviderRegistry, type ProviderRuntime, TokenEndpointError, type TokenSet } from '../providers/types.js';
import { type GrantService, type GrantSummary, type RevokeResult, summarizeGrant } from './grants.js';

export type { DevicePrompt, GrantSummary, RevokeResult };

/** Whose grant a completion stores, and through which client (agent) it was asked for. */
export interface GrantOwner {
  provider: string;
  user: string;
  tenant?: string;
  client: string;
}

export interface CodeExchangeRequest extends GrantOwner {
  code: string;
  redirectUri: string;
  codeVerifier: string;
  nonce: string;
  /** What was asked for, used when the provider's response names no scope. */
  requestedScopes: string[];
  /** The ID token's user claim must be `user`, or nothing is stored (see onboarding's subject check). */
  subjectMustMatch: boolean;
}

export interface DeviceGrantRequest extends GrantOwner {
  scopes: string[];
  subjectMustMatch: boolean;
  signal?: AbortSignal;
  /** Shows the user where to go and what to type. */
  onPrompt(prompt: DevicePrompt): void;
}

export type CodeExchangeFailure =
  | 'invalid_grant'
  | 'exchange_failed'
  | 'id_token_invalid'
  | 'user_unconfirmed'
  | 'different_user'
  | 'store_failed';

export type DeviceGrantFailure = 'unsupported' | 'denied' | 'expired' | 'different_user' | 'failed';

export type Completion<R extends string> =
  | { ok: true; grant: GrantSummary; claims?: Record<string, unknown> }
  /** `detail` is for the audit record and logs: an error code or a class name, never a token. */
  | { ok: false; reason: R; detail?: string };

/** What onboarding may ask of the broker: no store, no cipher, no token client. */
export interface OnboardingGrants {
  completeCodeExchange(req: CodeExchangeRequest): Promise<Completion<CodeExchangeFailure>>;
  completeDeviceGrant(req: DeviceGrantRequest): Promise<Completion<DeviceGrantFailure>>;
  supportsDeviceGrant(provider: string): Promise<boolean>;
  scopesHeld(user: string, provider: string, tenant?: string): Promise<string[]>;
  list(filter?: { user?: string; provider?: string }): Promise<GrantSummary[]>;
  /** Revokes at the provider where it can, and marks the grant revoked. */
  revoke(user: string, provider: string, tenant?: string): Promise<RevokeResult>;
}

export interface OnboardingGrantsDeps {
  config: ResolvedConfig;
  grants: GrantService;
  providers: ProviderRegistry;
  clock: Clock;
  logger: Logger;
}

export function createOnboardingGrants(deps: OnboardingGrantsDeps): OnboardingGrants {
  const { grants, providers, clock, logger } = deps;
  const userClaim = deps.config.identity?.userClaim ?? 'sub';

  // Tokens we will not keep are revoked, so they do not linger at the provider.
  async function discard(runtime: ProviderRuntime, tokens: TokenSet): Promise<void> {
    try {
      await runtime.revoke({ refreshToken: tokens.refreshToken, accessToken: tokens.accessToken });
    } catch {
      // best effort
    }
  }

  function subjectOf(claims: Record<string, unknown> | undefined): string | undefined {
    const claim = claims?.[userClaim];
    return typeof claim === 'string' ? claim : undefined;
  }

  async function completeCodeExchange(req: CodeExchangeRequest): Promise<Completion<CodeExchangeFailure>> {
    const runtime = providers.get(req.provider);
    let endpoints: Awaited<ReturnType<ProviderRuntime['endpoints']>>;
    let tokens: TokenSet;
    try {
      endpoints = await runtime.endpoints();
      tokens = await runtime.exchangeCode({
        code: req.code,
        redirectUri: req.redirectUri,
        codeVerifier: req.codeVerifier,
      });
    } catch (err) {
      if (err instanceof TokenEndpointError && (err.kind === 'dead' || err.oauthError === 'invalid_grant')) {
        return { ok: false, reason: 'invalid_grant', detail: err.message };
      }
      return { ok: false, reason: 'exchange_failed', detail: err instanceof Error ? err.message : 'unknown' };
    }

    let claims: Record<string, unknown> | undefined;
    if (tokens.idToken && endpoints.issuer && endpoints.jwksUri) {
      try {
        claims = await verifyIdToken(tokens.idToken, {
          issuer: endpoints.issuer,
          jwksUri: endpoints.jwksUri,
          clientId: runtime.config.clientId,
          nonce: req.nonce,
          nowMs: clock.now(),
        });
      } catch (err) {
        await discard(runtime, tokens);
        return { ok: false, reason: 'id_token_invalid', detail: err instanceof IdTokenError ? err.reason : 'invalid' };
      }
    }
    if (req.subjectMustMatch) {
      const subject = subjectOf(claims);
      if (subject === undefined) {
        await discard(runtime, tokens);
        return { ok: false, reason: 'user_unconfirmed' };
      }
      if (subject !== req.user) {
        await discard(runtime, tokens);
        return { ok: false, reason: 'different_user', detail: 'the provider account is another user' };
      }
    }

    try {
      const grant = await grants.saveGrantFromTokens({ ...owner(req), tokens, requestedScopes: req.requestedScopes });
      return { ok: true, grant: summarizeGrant(grant), ...(claims ? { claims } : {}) };
    } catch (err) {
      logger.error({ err, provider: req.provider }, 'could not store the grant');
      return { ok: false, reason: 'store_failed', detail: err instanceof Error ? err.name : 'unknown' };
    }
  }

  async function completeDeviceGrant(req: DeviceGrantRequest): Promise<Completion<DeviceGrantFailure>> {
    const runtime = providers.get(req.provider);
    let result: Awaited<ReturnType<typeof runDeviceGrant>>;
    try {
      result = await runDeviceGrant(runtime, {
        scopes: req.scopes,
        onPrompt: req.onPrompt,
        ...(req.signal ? { signal: req.signal } : {}),
      });
    } catch (err) {
      const code = err instanceof TokenEndpointError ? err.oauthError : undefined;
      if (code === 'device_grant_unsupported') return { ok: false, reason: 'unsupported' };
      if (code === 'access_denied') return { ok: false, reason: 'denied', detail: code };
      if (code === 'expired_token') return { ok: false, reason: 'expired', detail: code };
      return { ok: false, reason: 'failed', ...(code ? { detail: code } : {}) };
    }
    if (req.subjectMustMatch && subjectOf(result.claims) !== req.user) {
      await discard(runtime, result.tokens);
      return { ok: false, reason: 'different_user' };
    }
    // A store failure is thrown, not folded into a reason: the CLI reports it as the error it is.
    const grant = await grants.saveGrantFromTokens({
      ...owner(req),
      tokens: result.tokens,
      requestedScopes: req.scopes,
    });
    return { ok: true, grant: summarizeGrant(grant), ...(result.claims ? { claims: result.claims } : {}) };
  }

  return {
    completeCodeExchange,
    completeDeviceGrant,
    supportsDeviceGrant: (provider) => supportsDeviceGrant(providers.get(provider)),
    scopesHeld: grants.scopesHeld,
    list: grants.listGrants,
    revoke: grants.revokeGrant,
  };
}

function owner(req: GrantOwner): GrantOwner {
  return { provider: req.provider, user: req.user, ...(req.tenant ? { tenant: req.tenant } : {}), client: req.client };
}
