// The device authorization grant (RFC 8628) at a provider: the codes to show, then polling until the user has finished.
import * as oidc from 'openid-client';
import { clientAuthFor } from './runtime.js';
import { tokenSetFromWire } from './tokenSet.js';
import { type ProviderEndpoints, type ProviderRuntime, TokenEndpointError, type TokenSet } from './types.js';

export interface DevicePrompt {
  verificationUri: string;
  verificationUriComplete?: string;
  userCode: string;
  expiresInSeconds: number;
}

export interface DeviceGrantResult {
  tokens: TokenSet;
  /**
   * The ID token's claims, where one came back. openid-client has checked its issuer, audience and
   * times; it came straight from the token endpoint, so TLS vouches for its origin.
   */
  claims?: Record<string, unknown>;
}

/** Whether the provider publishes a device authorization endpoint. */
export async function supportsDeviceGrant(runtime: ProviderRuntime): Promise<boolean> {
  try {
    return Boolean((await runtime.endpoints()).deviceAuthorizationEndpoint);
  } catch {
    return false;
  }
}

/**
 * Asks for device codes for `scopes`, shows them through `onPrompt`, and polls at the interval the
 * provider sets. A refusal throws a TokenEndpointError whose `oauthError` is the provider's code
 * (`access_denied`, `expired_token`, ...) or `device_grant_unsupported`.
 */
export async function runDeviceGrant(
  runtime: ProviderRuntime,
  req: { scopes: string[]; signal?: AbortSignal; onPrompt(prompt: DevicePrompt): void },
): Promise<DeviceGrantResult> {
  const what = 'device authorization grant';
  const endpoints = await runtime.endpoints();
  if (!endpoints.deviceAuthorizationEndpoint) {
    throw new TokenEndpointError(runtime.name, 'rejected', { oauthError: 'device_grant_unsupported', what });
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

  const resource = runtime.preset?.resourceParameter === false ? undefined : runtime.config.resource;
  const params: Record<string, string> = {
    scope: runtime.formatScopes(runtime.authorizationScopes(req.scopes)),
    ...(resource ? { resource } : {}),
  };
  try {
    const codes = await oidc.initiateDeviceAuthorization(config, params);
    req.onPrompt({
      verificationUri: codes.verification_uri,
      ...(codes.verification_uri_complete ? { verificationUriComplete: codes.verification_uri_complete } : {}),
      userCode: codes.user_code,
      expiresInSeconds: codes.expires_in,
    });
    const response = await oidc.pollDeviceAuthorizationGrant(config, codes, resource ? { resource } : undefined, {
      ...(req.signal ? { signal: req.signal } : {}),
    });
    const claims = response.claims();
    return { tokens: tokenSetFromWire(response), ...(claims ? { claims: { ...claims } } : {}) };
  } catch (err) {
    const code = (err as { error?: unknown }).error;
    const oauthError = typeof code === 'string' && /^[a-z0-9_.-]{1,64}$/i.test(code) ? code : undefined;
    const kind = oauthError === 'expired_token' ? 'dead' : oauthError ? 'rejected' : 'transient';
    throw new TokenEndpointError(runtime.name, kind, { ...(oauthError ? { oauthError } : {}), what }, { cause: err });
  }
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
