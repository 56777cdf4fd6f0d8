// What the HTTP transport mounts beside /mcp: inbound auth and onboarding, from the config.
import type { Gateway } from '../gateway/gateway.js';
import { httpOnboarding } from '../onboarding/index.js';
import type { HttpOptions } from '../transports/http.js';

export async function httpExtras(gateway: Gateway): Promise<HttpOptions> {
  return { routers: [httpOnboarding(gateway)] };
}
