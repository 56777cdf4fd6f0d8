// `keyward serve`: load and check everything, then open exactly one transport.
import { loadConfig } from '../config/load.js';
import type { ResolvedConfig } from '../config/types.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import { createLogger } from '../log.js';
import { stdioOnboarding } from '../onboarding/index.js';
import { type HttpServerHandle, listenHttp } from '../transports/http.js';
import { serveStdio } from '../transports/stdio.js';
import { httpExtras } from './wiring.js';

export interface ServeOptions {
  config: string;
  transport?: 'stdio' | 'http';
  port?: number;
}

export function applyOverrides(
  config: ResolvedConfig,
  opts: { transport?: 'stdio' | 'http'; port?: number },
): ResolvedConfig {
  const server = { ...config.server };
  if (opts.transport) server.transport = opts.transport;
  if (opts.port !== undefined && Number.isFinite(opts.port)) {
    const defaultUrl = `http://${server.host}:${server.port}`;
    server.port = opts.port;
    if (server.publicUrl === defaultUrl) server.publicUrl = `http://${server.host}:${opts.port}`;
  }
  return { ...config, server };
}

export async function runServe(opts: ServeOptions): Promise<void> {
  // Every config problem is reported before any transport opens.
  const config = applyOverrides(await loadConfig(opts.config), opts);
  const logger = createLogger();
  const gateway = await createGateway(config, { logger });
  const stop = installShutdown(gateway);

  if (config.server.transport === 'stdio') {
    stdioOnboarding(gateway);
    const { closed } = await serveStdio(gateway);
    await closed;
    await stop();
    return;
  }
  const http = await listenHttp(gateway, await httpExtras(gateway));
  stop.add(http);
}

function installShutdown(gateway: Gateway) {
  const servers: HttpServerHandle[] = [];
  let stopping: Promise<void> | undefined;
  const stop = Object.assign(
    () =>
      (stopping ??= (async () => {
        for (const s of servers) await s.close();
        await gateway.close();
      })()),
    { add: (s: HttpServerHandle) => servers.push(s) },
  );
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void stop().finally(() => process.exit(0));
    });
  }
  return stop;
}
