// Atlassian 3LO: audience and prompt=consent at authorize, offline_access, rotation; revocation unconfirmed.
import { classifyWithDeadCodes } from '../classify.js';
import type { ProviderPreset } from '../types.js';

export const atlassian: ProviderPreset = {
  name: 'atlassian',
  title: 'Atlassian',
  endpoints: () => ({
    authorizationEndpoint: 'https://auth.atlassian.com/authorize',
    tokenEndpoint: 'https://auth.atlassian.com/oauth/token',
  }),
  clientAuth: 'client_secret_post',
  scopeSeparator: ' ',
  offlineAccess: {
    authorizeParams: { audience: 'api.atlassian.com', prompt: 'consent' },
    scopes: ['offline_access'],
    note: 'offline_access brings a refresh token; API calls go to api.atlassian.com/ex/jira/{cloudId}',
  },
  narrowing: 'none',
  resourceParameter: false,
  rotation: 'rotates',
  exchange: 'none',
  pkce: 'none',
  // Said to be 403 invalid_grant (unconfirmed): invalid_grant is dead whatever the 2xx-4xx status.
  classify: classifyWithDeadCodes(['invalid_grant']),
  revocationNote: 'Atlassian documents no revocation endpoint; Keyward only marks the grant revoked.',
  unconfirmed: ['revocation endpoint', 'metadata', 'PKCE', 'narrower scope on refresh', 'dead refresh token shape'],
};
