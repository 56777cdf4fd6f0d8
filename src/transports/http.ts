// MCP over Streamable HTTP at /mcp (stateless by default), plus the gateway's other routes.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { isLoopbackHost } from '../config/schema.js';
import type { Gateway } from '../gateway/gateway.js';
import type { AuthenticatedCaller, RequestAuth } from '../mcp/auth.js';
import { handleStatelessRequest, rpcError } from '../mcp/http.js';
import { createMcpServer } from '../mcp/server.js';
import { createSessionEndpoint } from '../mcp/sessions.js';
import { allowedHostsFor, hostGuard, originGuard, securityHeaders } from './httpGuards.js';

/** What inbound auth (src/identity) hands the transport; absent, HTTP serves the local user on loopback only. */
export interface InboundAuth {
  /** Protected Resource Metadata and friends, mounted at the root. */
  metadataRouter: Router;
  /** 401 with WWW-Authenticate unless a valid bearer token is present. */
  requireCaller: RequestHandler;
  /** 403 insufficient_scope for a tools/call whose tool needs gateway scopes the token lacks. */
  stepUp?: RequestHandler;
  /** The resource identifier a token must be bound to (its audience). */
  resource: string;
  /** The caller that requireCaller verified for this request. */
  callerOf: (req: Request) => AuthenticatedCaller | undefined;
}

export interface HttpOptions {
  inbound?: InboundAuth;
  /** Extra routers: onboarding (/connect, /callback, /accounts). */
  routers?: Router[];
}

export interface HttpServerHandle {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** The app, and what must be closed with it (stateful sessions). */
export function createHttpApp(
  gateway: Gateway,
  opts: HttpOptions = {},
): { app: express.Express; close: () => Promise<void> } {
  const { config } = gateway;
  if (!opts.inbound && !isLoopbackHost(config.server.host)) {
    throw new Error(
      `server.host is ${config.server.host} but no identity is configured: without inbound auth the HTTP transport only listens on loopback`,
    );
  }
  const app = express();
  const onClose: Array<() => Promise<void>> = [];
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(hostGuard(allowedHostsFor(config.server.publicUrl, config.server.port)));
  app.use(securityHeaders);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok', name: config.server.name, version: gateway.version, tools: gateway.toolList.length });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', gateway.metrics.registry.contentType);
    res.send(await gateway.metrics.registry.metrics());
  });
  app.get('/.well-known/jwks.json', async (_req, res, next) => {
    try {
      res.setHeader('Cache-Control', 'public, max-age=300');
      res.json(await gateway.jwks());
    } catch (err) {
      next(err);
    }
  });

  if (opts.inbound) app.use(opts.inbound.metadataRouter);
  for (const router of opts.routers ?? []) app.use(router);

  const origins = new Set(
    [new URL(config.server.publicUrl).origin, ...config.server.allowedOrigins.map((o) => new URL(o).origin)].map((o) =>
      o.toLowerCase(),
    ),
  );
  const mcpChain: RequestHandler[] = [originGuard(origins), express.json({ limit: '4mb' })];
  if (opts.inbound) {
    mcpChain.push(opts.inbound.requireCaller);
    if (opts.inbound.stepUp) mcpChain.push(opts.inbound.stepUp);
  }

  const callerFor = (verified: AuthenticatedCaller | undefined, clientName: string | undefined) =>
    verified ?? { user: config.server.user, client: clientName ?? 'http-client' };
  /** What the MCP layer hands tool handlers: the verified caller, where inbound auth is on. */
  const authOf = (req: Request): RequestAuth | undefined => {
    if (!opts.inbound) return undefined;
    const caller = opts.inbound.callerOf(req);
    // Fail closed: with inbound auth on, a request without a verified caller must never run as the local user.
    if (!caller) throw new Error('inbound auth: no verified caller on this request');
    return { caller, resource: opts.inbound.resource };
  };

  const newServer = () =>
    createMcpServer({
      name: config.server.name,
      version: gateway.version,
      tools: gateway.toolList,
      call: (caller, name, args, o) => gateway.callTool(caller, name, args, o),
      callerFor,
    });
  const failed = (res: Response, err: unknown) => {
    gateway.logger.error({ err }, 'MCP request failed');
    if (!res.headersSent) rpcError(res, 500, -32603, 'Internal error');
  };

  if (config.server.stateful) {
    const ownerOf = (auth: RequestAuth | undefined): string => {
      const caller = auth?.caller;
      // JSON, not a joined string: no user name can pass for another tenant's.
      return JSON.stringify(caller ? [caller.tenant ?? null, caller.user] : [null, config.server.user]);
    };
    const sessions = createSessionEndpoint({ newServer, clock: gateway.clock });
    onClose.push(() => sessions.close());
    app.all('/mcp', ...mcpChain, async (req: Request, res) => {
      if (!['GET', 'POST', 'DELETE'].includes(req.method)) {
        res.status(405).set('Allow', 'GET, POST, DELETE').end();
        return;
      }
      try {
        const auth = authOf(req);
        await sessions.handle(req, res, ownerOf(auth), auth);
      } catch (err) {
        failed(res, err);
      }
    });
  } else {
    app.post('/mcp', ...mcpChain, async (req: Request, res) => {
      try {
        await handleStatelessRequest(newServer, req, res, authOf(req));
      } catch (err) {
        failed(res, err);
      }
    });
    const methodNotAllowed: RequestHandler = (_req, res) => {
      res.set('Allow', 'POST');
      rpcError(res, 405, -32000, 'Method not allowed: this server is stateless');
    };
    app.get('/mcp', originGuard(origins), methodNotAllowed);
    app.delete('/mcp', originGuard(origins), methodNotAllowed);
  }

  app.use(((err, _req, res, _next) => {
    // Body-parser failures (malformed JSON, too large) are the client's: say so as JSON-RPC.
    const status = (err as { status?: number }).status ?? 500;
    if (status >= 400 && status < 500) {
      if (!res.headersSent) rpcError(res, status, -32700, 'Parse error');
      return;
    }
    gateway.logger.error({ err }, 'HTTP request failed');
    if (!res.headersSent) res.status(500).json({ error: 'server_error' });
  }) as express.ErrorRequestHandler);
  return {
    app,
    close: async () => {
      for (const fn of onClose) await fn();
    },
  };
}

export async function listenHttp(gateway: Gateway, opts: HttpOptions = {}): Promise<HttpServerHandle> {
  const { app, close } = createHttpApp(gateway, opts);
  const { host, port } = gateway.config.server;
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
  gateway.logger.info({ url: `${url}/mcp` }, 'serving MCP over Streamable HTTP');
  return {
    url,
    server,
    close: async () => {
      await close();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };
}
