// RFC 7009 token revocation, shared by the presets and providers that publish an endpoint.
import { clientAuthHeaders } from './tokenClient.js';
import type { ClientAuthMethod, RevocationContext, RevocationOutcome } from './types.js';

/**
 * Revokes the refresh token where there is one: at most servers (oidc-provider included) that
 * ends the whole grant. Falls back to the access token.
 */
export async function revokeRfc7009(
  ctx: RevocationContext,
  endpoint: string,
  clientAuth: ClientAuthMethod,
): Promise<RevocationOutcome> {
  const token = ctx.tokens.refreshToken ?? ctx.tokens.accessToken;
  if (!token) return { supported: true, revoked: false, detail: 'no token left to revoke' };
  const body = new URLSearchParams({
    token,
    token_type_hint: ctx.tokens.refreshToken ? 'refresh_token' : 'access_token',
  });
  const headers = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
    ...clientAuthHeaders(
      { clientId: ctx.provider.clientId, clientSecret: ctx.provider.clientSecret, clientAuth },
      body,
    ),
  };
  const res = await ctx.fetch(endpoint, { method: 'POST', headers, body, signal: ctx.signal, redirect: 'manual' });
  await res.body?.cancel();
  // RFC 7009 s.2.2: 200 also for a token that was already invalid.
  return res.ok
    ? { supported: true, revoked: true, detail: `revoked at ${new URL(endpoint).origin} (RFC 7009)` }
    : { supported: true, revoked: false, detail: `revocation endpoint answered HTTP ${res.status}` };
}
