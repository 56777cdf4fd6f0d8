// OIDC / RFC 8414 discovery through openid-client, once per provider and cached.
import * as oidc from 'openid-client';
import type { ProviderEndpoints } from './types.js';

export async function discoverEndpoints(
  issuer: string,
  opts: { clientId: string; algorithm?: 'oidc' | 'oauth2'; fetch: typeof fetch; signal?: AbortSignal },
): Promise<ProviderEndpoints> {
  const url = new URL(issuer);
  const customFetch: oidc.CustomFetch = (u, init) => {
    const signal =
      opts.signal && init.signal ? AbortSignal.any([opts.signal, init.signal]) : (opts.signal ?? init.signal);
    return opts.fetch(u, { ...init, signal } as RequestInit);
  };
  const discoverWith = (algorithm: 'oidc' | 'oauth2') =>
    oidc.discovery(url, opts.clientId, undefined, undefined, {
      algorithm,
      [oidc.customFetch]: customFetch,
      // Only loopback/test issuers are http:, and openid-client refuses them unless told.
      execute: url.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
    });
  let config: oidc.Configuration;
  if (opts.algorithm) {
    config = await discoverWith(opts.algorithm);
  } else {
    // An OIDC issuer first; a plain OAuth server publishes only RFC 8414 metadata.
    config = await discoverWith('oidc').catch(() => discoverWith('oauth2'));
  }
  const m = config.serverMetadata();
  if (!m.token_endpoint) throw new Error(`${issuer}: metadata has no token_endpoint`);
  return {
    issuer: m.issuer,
    authorizationEndpoint: m.authorization_endpoint,
    tokenEndpoint: m.token_endpoint,
    revocationEndpoint: m.revocation_endpoint,
    deviceAuthorizationEndpoint: m.device_authorization_endpoint,
    jwksUri: m.jwks_uri,
    tokenEndpointAuthMethods: m.token_endpoint_auth_methods_supported,
    scopesSupported: m.scopes_supported,
  };
}
