// The gateway a stack's config describes, served over HTTP in this process (the seam for status codes and headers).
import { httpExtras } from '../../src/cli/wiring.js';
import { loadConfig } from '../../src/config/load.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createLogger } from '../../src/log.js';
import { type HttpServerHandle, listenHttp } from '../../src/transports/http.js';
import { collect } from '../helpers/canary.js';
import type { Stack } from '../helpers/stack.js';

export interface InProcessGateway {
  gateway: Gateway;
  http: HttpServerHandle;
  /** Everything the gateway logged, as JSON lines. */
  logs(): string;
  close(): Promise<void>;
}

/**
 * Loads the stack's config file with the stack's environment and mounts what `keyward serve --transport http`
 * mounts (inbound auth from `identity`, onboarding), listening on the stack's gateway port on 127.0.0.1.
 */
export async function startInProcessGateway(stack: Stack): Promise<InProcessGateway> {
  const config = await loadConfig(stack.configPath, { ...stack.env });
  let logs = '';
  const logger = createLogger({
    level: 'debug',
    destination: {
      write: (line: string) => {
        logs += line;
      },
    },
  });
  const gateway = await createGateway(config, { logger });
  const http = await listenHttp(gateway, await httpExtras(gateway));
  return {
    gateway,
    http,
    logs: () => logs,
    async close() {
      await http.close();
      await gateway.close();
      collect('in-process gateway logs', logs);
    },
  };
}
