// Microsoft Entra v2, per tenant: rotation that tolerates reuse, narrowing within one resource per request.
import { classifyStandard } from '../classify.js';
import type { ProviderPreset } from '../types.js';

const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

function base(tenant: string | undefined): string {
  return `https://login.microsoftonline.com/${encodeURIComponent(tenant ?? 'common')}/oauth2/v2.0`;
}

export const microsoft: ProviderPreset = {
  name: 'microsoft',
  title: 'Microsoft',
  // The endpoints are fixed per tenant; multi-tenant metadata names `{tenantid}` as its issuer.
  endpoints: (p) => ({
    authorizationEndpoint: `${base(p.tenant)}/authorize`,
    tokenEndpoint: `${base(p.tenant)}/token`,
    deviceAuthorizationEndpoint: `${base(p.tenant)}/devicecode`,
  }),
  clientAuth: 'client_secret_post',
  scopeSeparator: ' ',
  offlineAccess: { scopes: ['offline_access'], note: 'the offline_access scope brings a refresh token' },
  narrowing: 'per-resource',
  // A scope such as https://graph.microsoft.com/Mail.Read names its resource; one resource per request.
  resourceOfScope(scope) {
    if (OIDC_SCOPES.has(scope)) return '';
    const i = scope.lastIndexOf('/');
    return i > 0 && /^[a-z][a-z0-9+.-]*:\/\//i.test(scope) ? scope.slice(0, i) : '(default)';
  },
  resourceParameter: false,
  rotation: 'tolerant',
  exchange: 'obo',
  pkce: 'S256',
  // invalid_grant carries AADSTS70008/700082/700084 for an expired or revoked refresh token.
  classify: classifyStandard,
  revocationNote:
    'Entra has no per-token revocation; Graph revokeSignInSessions would end all of the user’s sessions, so Keyward only marks the grant revoked.',
  unconfirmed: [],
};
