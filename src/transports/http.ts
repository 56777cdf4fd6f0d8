// MCP over Streamable HTTP at /mcp (stateless by default), plus the gateway's other routes.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { Gateway } from '../gateway/gateway.js';
import type { Caller } from '../gateway/toolCall.js';
import { createMcpServer, type McpExtra } from '../mcp/server.js';
import { allowedHostsFor, hostGuard, originGuard, securityHeaders } from './httpGuards.js';
import { createSessionEndpoint } from './sessions.js';

/** What inbound auth (src/identity) hands the transport; absent, HTTP serves the local user on loopback only. */
export interface InboundAuth {
  /** Protected Resource Metadata and friends, mounted at the root. */
  metadataRouter: Router;
  /** 401 with WWW-Authenticate unless a valid bearer token is present; sets req.auth. */
  requireCaller: RequestHandler;
  /** 403 insufficient_scope for a tools/call whose tool needs gateway scopes the token lacks. */
  stepUp?: RequestHandler;
  /** The caller that requireCaller verified, read back from the SDK's authInfo. */
  callerFromAuthInfo: (authInfo: NonNullable<McpExtra['authInfo']>) => Caller;
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

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** The app, and what must be closed with it (stateful sessions). */
export function createHttpApp(
  gateway: Gateway,
  opts: HttpOptions = {},
): { app: express.Express; close: () => Promise<void> } {
  const { config } = gateway;
  if (!opts.inbound && !LOOPBACK.has(config.server.host)) {
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

  const callerFor = (extra: McpExtra, clientName: string | undefined): Caller => {
    if (opts.inbound && extra.authInfo) return opts.inbound.callerFromAuthInfo(extra.authInfo);
    return { user: config.server.user, client: clientName ?? 'http-client' };
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
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
    }
  };

  if (config.server.stateful) {
    const ownerOf = (req: Request): string => {
      const authInfo = (req as Request & { auth?: NonNullable<McpExtra['authInfo']> }).auth;
      const caller = opts.inbound && authInfo ? opts.inbound.callerFromAuthInfo(authInfo) : undefined;
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
        await sessions.handle(req, res, ownerOf(req));
      } catch (err) {
        failed(res, err);
      }
    });
  } else {
    app.post('/mcp', ...mcpChain, async (req: Request, res) => {
      // Stateless: a new server and transport per request (reusing one breaks in SDK 1.32), so any
      // number of instances can sit behind a load balancer.
      const mcp = newServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void mcp.close();
      });
      try {
        await mcp.connect(transport);
        await transport.handleRequest(req as never, res, req.body);
      } catch (err) {
        failed(res, err);
      }
    });
    const methodNotAllowed: RequestHandler = (_req, res) => {
      res
        .status(405)
        .set('Allow', 'POST')
        .json({
          jsonrpc: '2.0',
          error: { code: -32000, message: 'Method not allowed: this server is stateless' },
          id: null,
        });
    };
    app.get('/mcp', originGuard(origins), methodNotAllowed);
    app.delete('/mcp', originGuard(origins), methodNotAllowed);
  }

  app.use(((err, _req, res, _next) => {
    // Body-parser failures (malformed JSON, too large) are the client's: say so as JSON-RPC.
    const status = (err as { status?: number }).status ?? 500;
    if (status >= 400 && status < 500) {
      if (!res.headersSent)
        res.status(status).json({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
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
