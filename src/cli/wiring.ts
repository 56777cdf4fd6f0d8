// What the HTTP transport mounts beside /mcp: inbound auth and onboarding, from the config.
import type { Gateway } from '../gateway/gateway.js';
import type { HttpOptions } from '../transports/http.js';

export async function httpExtras(_gateway: Gateway): Promise<HttpOptions> {
  return {};
}
