// What the HTTP transport mounts beside /mcp: inbound auth and onboarding, from the config.
import type { Gateway } from '../gateway/gateway.js';
import { createInboundAuth } from '../identity/index.js';
import { httpOnboarding } from '../onboarding/index.js';
import type { HttpOptions } from '../transports/http.js';

export async function httpExtras(gateway: Gateway): Promise<HttpOptions> {
  const onboarding = httpOnboarding(gateway);
  // The root, not onboarding, points reauth errors at the bound connect links.
  gateway.links.bind(onboarding.links);
  const routers = [onboarding.router];
  const { identity, server } = gateway.config;
  if (!identity) return { routers };
  const inbound = createInboundAuth({
    identity,
    publicUrl: server.publicUrl,
    logger: gateway.logger,
    // Inbound tokens are judged on the wall clock, as their issuer stamped them; the gateway's own clock
    // (which tests move to expire provider tokens) is the broker's.
    resourceName: server.name,
    scopesForTool: (name) => gateway.tools.get(name)?.gatewayScopes,
  });
  // Fail at start-up, not on the first request, when the issuer is unreachable or misconfigured.
  await inbound.verifier.prepare();
  return { inbound, routers };
}
