// Google: OIDC discovery, offline access by consent, no rotation, and narrowing checked per response.
import { classifyStandard } from '../classify.js';
import { revokeRfc7009 } from '../revocation.js';
import type { ProviderPreset } from '../types.js';

const REVOKE = 'https://oauth2.googleapis.com/revoke';

export const google: ProviderPreset = {
  name: 'google',
  title: 'Google',
  endpoints: () => ({
    authorizationEndpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
    tokenEndpoint: 'https://oauth2.googleapis.com/token',
    revocationEndpoint: REVOKE,
    deviceAuthorizationEndpoint: 'https://oauth2.googleapis.com/device/code',
  }),
  discovery: { issuer: () => 'https://accounts.google.com', algorithm: 'oidc' },
  clientAuth: 'client_secret_post',
  scopeSeparator: ' ',
  offlineAccess: {
    // The refresh token comes only on the first consent; prompt=consent forces a new one.
    authorizeParams: { access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' },
    note: 'access_type=offline and prompt=consent; include_granted_scopes keeps earlier consent (incremental).',
  },
  // Unconfirmed in Google's docs: ask for the narrower scope, and trust only what the response says.
  narrowing: 'verify',
  resourceParameter: false,
  rotation: 'none',
  exchange: 'none',
  pkce: 'S256',
  classify: classifyStandard,
  revoke: (ctx) => revokeRfc7009(ctx, ctx.endpoints.revocationEndpoint ?? REVOKE, 'client_secret_post'),
  unconfirmed: ['narrower scope on refresh'],
};
