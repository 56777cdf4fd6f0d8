// `keyward serve`: load and check everything, then open exactly one transport.
import { loadConfig } from '../config/load.js';
import type { ResolvedConfig } from '../config/types.js';
import { createGateway, type Gateway } from '../gateway/gateway.js';
import type { AuthorizeLinks } from '../gateway/links.js';
import { createLogger } from '../log.js';
import type { HttpServerHandle } from '../transports/http.js';
import { serveStdio } from '../transports/stdio.js';
import { portBusy, portInUse, StartupError } from './startup.js';

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

/**
 * A publicUrl that the config pins to another port than --port: clients that check the resource (the MCP SDK does)
 * then fail, so it is said at start rather than found later.
 */
export function publicUrlMismatch(config: ResolvedConfig, opts: { port?: number }): string | undefined {
  if (opts.port === undefined || opts.port === 0 || config.server.transport !== 'http') return undefined;
  const url = new URL(config.server.publicUrl);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (port === String(opts.port)) return undefined;
  return `server.publicUrl ${config.server.publicUrl} is on another port than --port ${opts.port}: clients are sent there; change server.publicUrl (or drop it on loopback) if nothing forwards it`;
}

export async function runServe(opts: ServeOptions): Promise<void> {
  // Every config problem is reported before any transport opens.
  const config = applyOverrides(await loadConfig(opts.config), opts);
  const logger = createLogger();
  const mismatch = publicUrlMismatch(config, opts);
  if (mismatch) logger.warn({ publicUrl: config.server.publicUrl, port: opts.port }, mismatch);
  const gateway = await createGateway(config, { logger });
  const stop = installShutdown(gateway);

  if (config.server.transport === 'stdio') {
    gateway.links.bind(lazyStdioLinks(gateway));
    const { closed } = await serveStdio(gateway);
    await closed;
    await stop();
    return;
  }
  // Loaded only here: stdio never needs express, inbound auth or the web onboarding routes.
  const [{ listenHttp }, { httpExtras }] = await Promise.all([import('../transports/http.js'), import('./wiring.js')]);
  try {
    const http = await listenHttp(gateway, await httpExtras(gateway).catch((err) => identityFailure(config, err)));
    stop.add(http);
  } catch (err) {
    await stop();
    const { host, port } = config.server;
    if (!(err instanceof StartupError) && (await portInUse(host, port))) throw portBusy(host, port, 'server.port');
    throw err;
  }
}

/** An identity issuer that cannot be reached at start-up, named with the way to fix it. */
function identityFailure(config: ResolvedConfig, err: unknown): never {
  const issuer = config.identity?.issuer;
  if (issuer && (err as { code?: unknown })?.code === 'unavailable') {
    throw new StartupError(
      `the identity issuer ${issuer} could not be reached: start it (\`npm start\` runs the demo one) or fix identity.issuer in ${config.configPath}`,
      1,
      { cause: err },
    );
  }
  throw err;
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

/**
 * The loopback onboarding listener is loaded on the first reauth link, not at start-up: most sessions
 * never need it, and every MCP client waits for `serve` to start.
 */
function lazyStdioLinks(gateway: Gateway): AuthorizeLinks {
  let real: Promise<AuthorizeLinks> | undefined;
  const load = () => (real ??= import('../onboarding/index.js').then((m) => m.stdioOnboarding(gateway)));
  return {
    authorizeUrl: async (req) => (await load()).authorizeUrl(req),
    close: async () => {
      if (real) await (await real).close();
    },
  };
}
