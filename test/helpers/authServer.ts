// Starts the demo authorization server and the demo notes API together for tests, wired to trust each other.

import type { ClientMetadata } from 'oidc-provider';
import { type DemoApi, type DemoApiOptions, startDemoApi } from '../../src/demo/api.js';
import {
  DEMO_CLIENT_ID,
  type DemoAuthServer,
  type DemoAuthServerOptions,
  NOTES_SCOPES,
  startDemoAuthServer,
} from '../../src/demo/authServer.js';
import { plant } from './canary.js';
import { type ObtainedTokens, obtainTokens } from './consent.js';

export { DEMO_CLIENT_ID, NOTES_SCOPES };

/** Where the helpers pretend the gateway's callback is; nothing needs to listen there. */
export const TEST_REDIRECT_URI = 'http://127.0.0.1/callback/demo';

export interface TestAuthServer {
  as: DemoAuthServer;
  api: DemoApi;
  issuer: string;
  /** The API's resource indicator (audience of its tokens). */
  resource: string;
  clientId: string;
  redirectUri: string;
  /** Log in as `user` (default "demo"), consent, and redeem the code: a fresh grant with a refresh token. */
  grant(
    opts?: Partial<{
      user: string;
      scopes: string[];
      resource: string | string[];
      clientId: string;
      clientSecret: string;
    }>,
  ): Promise<ObtainedTokens>;
  /**
   * Revocation mid-task: the AS revokes every grant of `sub` (refresh and exchange now fail with invalid_grant)
   * and the API refuses that user's tokens issued so far (401 invalid_token). Returns the grants revoked.
   */
  revokeUser(sub: string): Promise<number>;
  close(): Promise<void>;
}

export interface TestAuthServerOptions {
  /** Seconds; short by default so expiry paths are reachable. Default 60. */
  accessTokenTTL?: number;
  as?: Omit<DemoAuthServerOptions, 'resources'> & { resources?: DemoAuthServerOptions['resources'] };
  api?: DemoApiOptions;
  /** Confidential clients to register next to keyward-demo, e.g. {client_id, client_secret, redirect_uris}. */
  confidentialClients?: Array<{
    client_id: string;
    client_secret: string;
    redirect_uris?: string[];
    auth?: 'client_secret_basic' | 'client_secret_post';
  }>;
}

export async function startTestAuthServer(opts: TestAuthServerOptions = {}): Promise<TestAuthServer> {
  const api = await startDemoApi(opts.api);
  const extraClients: ClientMetadata[] = (opts.confidentialClients ?? []).map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    token_endpoint_auth_method: c.auth ?? 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    response_types: ['code'],
    redirect_uris: c.redirect_uris ?? [TEST_REDIRECT_URI],
  }));
  const as = await startDemoAuthServer({
    accessTokenTTL: opts.accessTokenTTL ?? 60,
    deviceInterval: 1,
    ...opts.as,
    // Every token and code it hands out is a canary for the end-of-file scan (test/setup/canaries.ts).
    onIssued: (value, kind) => {
      plant(value);
      opts.as?.onIssued?.(value, kind);
    },
    resources: [{ resource: api.resource, scopes: [...NOTES_SCOPES] }, ...(opts.as?.resources ?? [])],
    extraClients: [...extraClients, ...(opts.as?.extraClients ?? [])],
  });
  api.trust({ issuer: as.issuer, jwks: as.jwks });

  return {
    as,
    api,
    issuer: as.issuer,
    resource: api.resource,
    clientId: DEMO_CLIENT_ID,
    redirectUri: TEST_REDIRECT_URI,
    grant(g = {}) {
      return obtainTokens({
        issuer: as.issuer,
        clientId: g.clientId ?? DEMO_CLIENT_ID,
        clientSecret: g.clientSecret,
        redirectUri: TEST_REDIRECT_URI,
        scopes: g.scopes ?? ['openid', 'offline_access', ...NOTES_SCOPES],
        resource: g.resource ?? api.resource,
        user: g.user ?? 'demo',
      });
    },
    async revokeUser(sub: string) {
      api.revokeTokensOf(sub);
      return as.revokeGrantsOf(sub);
    },
    async close() {
      await Promise.all([as.close(), api.close()]);
    },
  };
}
