// A tiny express app with the inbound-auth middleware mounted, on 127.0.0.1:0, the way the transport mounts it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type RequestHandler } from 'express';
import type { Clock } from '../../src/clock.js';
import type { ResolvedIdentity } from '../../src/config/types.js';
import { createInboundAuth, type InboundAuth, type InboundAuthOptions } from '../../src/identity/middleware.js';
import { toAuthInfo } from '../../src/mcp/auth.js';
import type { FakeIssuer } from './fakeIssuer.js';

/** A fixed instant: tokens are minted relative to it, and the verifier's clock reads it. */
export const NOW_MS = 1_750_000_000_000;
export const NOW = NOW_MS / 1000;
export const fixedClock: Clock = { now: () => NOW_MS };

export function identityFor(issuer: FakeIssuer, over: Partial<ResolvedIdentity> = {}): ResolvedIdentity {
  return {
    issuer: issuer.issuer,
    userClaim: 'sub',
    requiredScopes: ['mcp'],
    algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    clockSkewSeconds: 30,
    accessTokenTyp: 'at+jwt-or-absent',
    introspection: { endpoint: issuer.introspectionEndpoint, ...issuer.introspectionClient },
    ...over,
  };
}

export interface TestApp {
  url: string;
  resource: string;
  auth: InboundAuth;
  close(): Promise<void>;
}

/** Mounts like src/transports/http.ts: metadata at the root; /mcp behind json, requireCaller and stepUp. */
export async function startApp(
  identity: ResolvedIdentity,
  opts: Partial<Omit<InboundAuthOptions, 'identity' | 'publicUrl'>> = {},
): Promise<TestApp> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const auth = createInboundAuth({ identity, publicUrl: url, clock: fixedClock, ...opts });
  const app = express();
  app.use(auth.metadataRouter);
  const pass: RequestHandler = (_req, _res, next) => next();
  // What the transport hands the MCP layer: the verified caller, and the AuthInfo the SDK gives tool handlers.
  const echo: RequestHandler = (req, res) => {
    const caller = auth.callerOf(req);
    const authInfo = caller ? toAuthInfo(caller, auth.resource) : undefined;
    res.json({ caller, authInfo: { ...authInfo, extra: undefined } });
  };
  app.post('/mcp', express.json(), auth.requireCaller, auth.stepUp ?? pass, echo);
  app.get('/admin', auth.requireCaller, auth.requireScopes(['admin']), echo);
  server.on('request', app);
  return {
    url,
    resource: auth.resource,
    auth,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function rpc(method: string, params?: Record<string, unknown>): string {
  return JSON.stringify({ jsonrpc: '2.0', id: 1, method, ...(params ? { params } : {}) });
}

export async function post(app: TestApp, token: string | undefined, body = rpc('tools/list')) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${app.url}/mcp`, { method: 'POST', headers, body });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    challenge: res.headers.get('www-authenticate'),
    text,
    body: JSON.parse(text),
  };
}
