// The device authorization grant (RFC 8628) for `keyward connect` where no browser is at hand.

import * as oidc from 'openid-client';
import type { Grant } from '../broker/types.js';
import { clientAuthFor } from '../providers/runtime.js';
import type { ProviderEndpoints, ProviderRuntime } from '../providers/types.js';
import { auditOnboarding } from './audit.js';
import type { OnboardingDeps } from './deps.js';
import { ReasonError } from './errors.js';
import { scopesToRequest } from './flow.js';
import { defaultSubjectCheck } from './router.js';

export interface DevicePrompt {
  verificationUri: string;
  verificationUriComplete?: string;
  userCode: string;
  expiresInSeconds: number;
}

export class DeviceFlowError extends ReasonError<'unsupported' | 'denied' | 'expired' | 'different_user' | 'failed'> {}

/** Whether the provider publishes a device authorization endpoint. */
export async function supportsDeviceFlow(deps: OnboardingDeps, provider: string): Promise<boolean> {
  try {
    return Boolean((await deps.providers.get(provider).endpoints()).deviceAuthorizationEndpoint);
  } catch {
    return false;
  }
}

export async function connectWithDevice(
  deps: OnboardingDeps,
  req: {
    provider: string;
    user: string;
    tenant?: string;
    client: string;
    scopes?: string[];
    signal?: AbortSignal;
    /** Shows the user where to go and what to type. */
    onPrompt(prompt: DevicePrompt): void;
  },
): Promise<Grant> {
  const started = deps.clock.now();
  const runtime = deps.providers.get(req.provider);
  const endpoints = await runtime.endpoints();
  const fail = async (reason: DeviceFlowError['reason'], message: string, cause?: unknown): Promise<never> => {
    await auditOnboarding(deps, 'onboarding.device', {
      provider: req.provider,
      user: req.user,
      tenant: req.tenant,
      client: req.client,
      outcome: 'error',
      reason,
      started,
    });
    throw new DeviceFlowError(reason, message, cause === undefined ? undefined : { cause });
  };
  if (!endpoints.deviceAuthorizationEndpoint) {
    return fail('unsupported', `${req.provider} does not offer the device authorization grant`);
  }

  const tokenUrl = new URL(endpoints.tokenEndpoint);
  const server: oidc.ServerMetadata = {
    issuer: endpoints.issuer ?? tokenUrl.origin,
    token_endpoint: endpoints.tokenEndpoint,
    device_authorization_endpoint: endpoints.deviceAuthorizationEndpoint,
    ...(endpoints.jwksUri ? { jwks_uri: endpoints.jwksUri } : {}),
  };
  const config = new oidc.Configuration(server, runtime.config.clientId, undefined, clientAuthOf(runtime, endpoints));
  if (tokenUrl.protocol === 'http:') oidc.allowInsecureRequests(config);

  const scopes = await scopesToRequest(deps, req);
  const resource = runtime.preset?.resourceParameter === false ? undefined : runtime.config.resource;
  const params: Record<string, string> = {
    scope: runtime.formatScopes(runtime.authorizationScopes(scopes)),
    ...(resource ? { resource } : {}),
  };

  let tokens: Awaited<ReturnType<typeof oidc.pollDeviceAuthorizationGrant>>;
  try {
    const codes = await oidc.initiateDeviceAuthorization(config, params);
    req.onPrompt({
      verificationUri: codes.verification_uri,
      ...(codes.verification_uri_complete ? { verificationUriComplete: codes.verification_uri_complete } : {}),
      userCode: codes.user_code,
      expiresInSeconds: codes.expires_in,
    });
    tokens = await oidc.pollDeviceAuthorizationGrant(config, codes, resource ? { resource } : undefined, {
      ...(req.signal ? { signal: req.signal } : {}),
    });
  } catch (err) {
    const code = (err as { error?: string }).error;
    if (code === 'access_denied') return fail('denied', 'access was not granted', err);
    if (code === 'expired_token') return fail('expired', 'the code expired before it was entered', err);
    return fail('failed', `the device authorization grant failed${code ? ` (${code})` : ''}`, err);
  }

  // openid-client has checked the ID token's issuer, audience and times; it came straight from
  // the token endpoint, so TLS vouches for its origin.
  const subject = tokens.claims()?.[deps.config.identity?.userClaim ?? 'sub'];
  if (defaultSubjectCheck(deps.config)(runtime) && subject !== req.user) {
    await runtime
      .revoke({ refreshToken: tokens.refresh_token, accessToken: tokens.access_token })
      .catch(() => undefined);
    return fail('different_user', `the account that signed in is not ${req.user}`);
  }

  const grant = await deps.grants.save({
    user: req.user,
    ...(req.tenant ? { tenant: req.tenant } : {}),
    provider: req.provider,
    client: req.client,
    tokens: {
      accessToken: tokens.access_token,
      ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}),
      ...(tokens.expires_in !== undefined ? { expiresIn: tokens.expires_in } : {}),
      ...(tokens.scope ? { scope: tokens.scope.split(/[\s,]+/).filter(Boolean) } : {}),
    },
    requestedScopes: scopes,
  });
  await auditOnboarding(deps, 'onboarding.device', {
    provider: req.provider,
    user: req.user,
    tenant: req.tenant,
    client: req.client,
    scopes: grant.scopes,
    outcome: 'ok',
    grantId: grant.id,
    grantGeneration: grant.generation,
    started,
  });
  return grant;
}

/** The same client authentication the provider runtime uses for its token requests. */
function clientAuthOf(runtime: ProviderRuntime, endpoints: ProviderEndpoints): oidc.ClientAuth {
  const secret = runtime.config.clientSecret;
  switch (clientAuthFor(runtime.config, runtime.preset, endpoints)) {
    case 'client_secret_post':
      return oidc.ClientSecretPost(secret);
    case 'client_secret_basic':
      return oidc.ClientSecretBasic(secret);
    default:
      return oidc.None();
  }
}
