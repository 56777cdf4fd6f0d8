// The MCP SDK's own OAuth client functions work against the demo AS: discovery, registration, PKCE, resource, refresh.
import {
  discoverAuthorizationServerMetadata,
  exchangeAuthorization,
  refreshAuthorization,
  registerClient,
  startAuthorization,
} from '@modelcontextprotocol/sdk/client/auth.js';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestAuthServer, type TestAuthServer } from '../helpers/authServer.js';
import { driveAuthorization } from '../helpers/consent.js';

let t: TestAuthServer;
const MCP_RESOURCE = 'http://127.0.0.1:9/mcp';

beforeAll(async () => {
  t = await startTestAuthServer();
  t.as.addResource({ resource: MCP_RESOURCE, scopes: ['mcp:tools'] });
});
afterAll(async () => {
  await t?.close();
});

test('an SDK client discovers, self-registers, signs in with PKCE for the MCP resource, and refreshes', async () => {
  const metadata = await discoverAuthorizationServerMetadata(t.issuer);
  expect(metadata?.issuer).toBe(t.issuer);
  const redirectUrl = 'http://localhost:45678/oauth/callback';
  const clientInformation = await registerClient(t.issuer, {
    metadata,
    clientMetadata: {
      client_name: 'SDK test client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    },
    scope: 'mcp:tools',
  });
  const { authorizationUrl, codeVerifier } = await startAuthorization(t.issuer, {
    metadata,
    clientInformation,
    redirectUrl,
    scope: 'mcp:tools',
    state: 'st4te',
    resource: new URL(MCP_RESOURCE),
  });
  const { location } = await driveAuthorization(authorizationUrl.href, { user: 'erin' });
  const back = new URL(location);
  expect(back.searchParams.get('state')).toBe('st4te');
  const tokens = await exchangeAuthorization(t.issuer, {
    metadata,
    clientInformation,
    authorizationCode: back.searchParams.get('code')!,
    codeVerifier,
    redirectUri: redirectUrl,
    resource: new URL(MCP_RESOURCE),
  });
  const at = decodeJwt(tokens.access_token);
  expect(at).toMatchObject({ sub: 'erin', aud: MCP_RESOURCE, scope: 'mcp:tools', iss: t.issuer });
  expect(tokens.refresh_token).toBeTruthy();

  const refreshed = await refreshAuthorization(t.issuer, {
    metadata,
    clientInformation,
    refreshToken: tokens.refresh_token!,
    resource: new URL(MCP_RESOURCE),
  });
  expect(decodeJwt(refreshed.access_token).aud).toBe(MCP_RESOURCE);
});
