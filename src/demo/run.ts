// The embedded demo: the demo authorization server, the notes API and the gateway over HTTP, from one config.
import type { ResolvedConfig } from '../config/types.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import type { Logger } from '../log.js';
import { type HttpOptions, type HttpServerHandle, listenHttp } from '../transports/http.js';
import { type DemoApi, startDemoApi } from './api.js';
import { DEMO_CLIENT_ID, type DemoAuthServer, NOTES_SCOPES, startDemoAuthServer } from './authServer.js';

export interface RunningDemo {
  authServer: DemoAuthServer;
  api: DemoApi;
  gateway: Gateway;
  http: HttpServerHandle;
  close(): Promise<void>;
}

/** The demo provider is the one whose issuer and API the demo itself serves. */
export function demoProvider(config: ResolvedConfig) {
  const provider = Object.values(config.providers).find((p) => p.clientId === DEMO_CLIENT_ID && p.issuer);
  if (!provider?.issuer || !provider.resource) {
    throw new Error(
      `the demo needs a provider with clientId "${DEMO_CLIENT_ID}", an issuer and a resource in the config`,
    );
  }
  return provider as typeof provider & { issuer: string; resource: string };
}

export async function startDemo(
  config: ResolvedConfig,
  opts: { logger: Logger; httpExtras?: (gateway: Gateway) => Promise<HttpOptions>; onIssued?: (value: string) => void },
): Promise<RunningDemo> {
  const provider = demoProvider(config);
  const issuerUrl = new URL(provider.issuer);
  const apiUrl = new URL(provider.apiBaseUrl);
  const gatewayResource = `${config.server.publicUrl}/mcp`;

  const authServer = await startDemoAuthServer({
    port: Number(issuerUrl.port),
    host: issuerUrl.hostname,
    // The gateway's web callback, and any loopback port (stdio onboarding listeners, `keyward connect`).
    redirectUris: Object.keys(config.providers).map((name) => `${config.server.publicUrl}/callback/${name}`),
    resources: [
      { resource: provider.resource, scopes: [...NOTES_SCOPES] },
      { resource: gatewayResource, scopes: ['mcp:tools'] },
    ],
    // Sign-ins for the gateway's stdio mode name the user it acts for; its web callbacks may be anyone's.
    localUser: config.server.user,
    webCallbackOrigin: new URL(config.server.publicUrl).origin,
    ...(opts.onIssued ? { onIssued: opts.onIssued } : {}),
    onError: (err) => opts.logger.error({ err }, 'demo authorization server error'),
  });
  const api = await startDemoApi({
    port: Number(apiUrl.port),
    host: apiUrl.hostname,
    resource: provider.resource,
    trusted: [
      { issuer: authServer.issuer, jwksUri: authServer.jwksUri },
      // Credentials the gateway mints (strategy "mint") are verified against the gateway's own JWKS.
      { issuer: config.server.publicUrl, jwksUri: `${config.server.publicUrl}/.well-known/jwks.json` },
    ],
  });
  const gateway = await createGateway(config, { logger: opts.logger });
  const http = await listenHttp(gateway, opts.httpExtras ? await opts.httpExtras(gateway) : {});
  return {
    authServer,
    api,
    gateway,
    http,
    async close() {
      await http.close();
      await gateway.close();
      await api.close();
      await authServer.close();
    },
  };
}
