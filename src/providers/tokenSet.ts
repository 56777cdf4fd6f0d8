// The one normaliser from a token endpoint's wire names (access_token, expires_in, "a b" scope) to a TokenSet.
import type { TokenSet } from './types.js';

/** A token response as the wire names it; `scope` may already be split. */
export interface WireTokens {
  access_token: string;
  refresh_token?: string | undefined;
  expires_in?: number | undefined;
  scope?: string | string[] | undefined;
  token_type?: string | undefined;
  id_token?: string | undefined;
  issued_token_type?: string | undefined;
}

/** Space- or comma-separated (some providers use commas), empty entries dropped. */
export function parseScopeString(scope: string | undefined): string[] | undefined {
  if (scope === undefined) return undefined;
  return scope.split(/[\s,]+/).filter(Boolean);
}

/** Fields the response left out stay absent rather than `undefined`, so a stored copy has no empty keys. */
export function tokenSetFromWire(t: WireTokens): TokenSet {
  const scope = typeof t.scope === 'string' ? parseScopeString(t.scope) : t.scope;
  return {
    accessToken: t.access_token,
    ...(t.refresh_token ? { refreshToken: t.refresh_token } : {}),
    ...(t.expires_in !== undefined ? { expiresIn: t.expires_in } : {}),
    ...(scope ? { scope } : {}),
    ...(t.token_type ? { tokenType: t.token_type } : {}),
    ...(t.id_token ? { idToken: t.id_token } : {}),
    ...(t.issued_token_type ? { issuedTokenType: t.issued_token_type } : {}),
  };
}
