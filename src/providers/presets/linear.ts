// Linear: form-encoded token endpoint, comma-separated scopes; most refresh facts unconfirmed.
import { classifyStandard } from '../classify.js';
import { revokeRfc7009 } from '../revocation.js';
import type { ProviderPreset } from '../types.js';

const REVOKE = 'https://api.linear.app/oauth/revoke';

export const linear: ProviderPreset = {
  name: 'linear',
  title: 'Linear',
  endpoints: () => ({
    authorizationEndpoint: 'https://linear.app/oauth/authorize',
    tokenEndpoint: 'https://api.linear.app/oauth/token',
    revocationEndpoint: REVOKE,
  }),
  clientAuth: 'client_secret_post',
  scopeSeparator: ',',
  offlineAccess: { note: 'every Linear OAuth app gets refresh tokens since 2026-04-01' },
  narrowing: 'none',
  resourceParameter: false,
  // Unconfirmed: a refresh token that comes back replaces the stored one; none keeps it.
  rotation: 'unconfirmed',
  exchange: 'none',
  pkce: 'S256',
  // How a dead refresh token looks is unconfirmed: the RFC's invalid_grant, everything else not dead.
  classify: classifyStandard,
  revoke: (ctx) => revokeRfc7009(ctx, ctx.endpoints.revocationEndpoint ?? REVOKE, 'client_secret_post'),
  unconfirmed: [
    'revocation endpoint',
    'rotation on refresh',
    'narrower scope on refresh',
    'client authentication',
    'dead refresh token shape',
    'token lifetimes',
  ],
};
