// The embedded demo's API: "notes per user" on 127.0.0.1, which checks each bearer token's issuer, audience and
// route scope against the JWKS it trusts, and records what it saw for tests.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { listenOnLoopback } from './listen.js';

export interface TrustedIssuer {
  /** Expected `iss`. When omitted, any issuer whose key verifies is accepted. */
  issuer?: string;
  /** A JWKS URL (the AS's /jwks, the gateway's /.well-known/jwks.json) ... */
  jwksUri?: string;
  /** ... or the keys themselves. */
  jwks?: JSONWebKeySet;
}

export interface DemoApiOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** The resource indicator this API answers to; tokens must carry it as `aud`. Default: its own URL. */
  resource?: string;
  /** Issuers whose tokens are accepted. More can be added later with trust(). */
  trusted?: TrustedIssuer[];
  /** Asymmetric algorithms accepted. Default RS256, PS256, ES256, EdDSA. */
  algorithms?: string[];
  /** Seconds of clock skew allowed on exp/nbf. Default 5. */
  clockTolerance?: number;
  /** Cap on a request body, bytes. Default 64 KiB. */
  maxBodyBytes?: number;
}

export interface SeenRequest {
  sub: string;
  scope: string;
  aud: string | string[] | undefined;
  jti: string | undefined;
  act: unknown;
  iat: number | undefined;
  exp: number | undefined;
  iss: string | undefined;
  client_id: unknown;
  method: string;
  path: string;
  /** The status this request was answered with. */
  status?: number;
}

export interface Note {
  id: string;
  title: string;
  body: string;
  createdAt: string;
}

export interface DemoApi {
  /** e.g. http://127.0.0.1:8789 (no trailing slash) */
  url: string;
  /** The audience tokens must carry. */
  resource: string;
  port: number;
  /** Verified claims of every request that presented a valid token, in arrival order. */
  seen: SeenRequest[];
  stats: { requests: number; unauthorized: number; forbidden: number; forcedFailures: number };
  /** Notes by user (sub). */
  notes: Map<string, Map<string, Note>>;
  /** Answer the next n requests with `status` (default 401, with invalid_token) even for good tokens. */
  failNext(n: number, status?: number): void;
  /**
   * Refuse the tokens of `sub` issued before now (every one it has seen, and any older one), as an API that checks
   * revocation would; tokens issued later pass.
   * JWTs are otherwise valid until they expire, whatever happens to the grant behind them.
   */
  revokeTokensOf(sub: string): void;
  /** Trust another issuer (e.g. the gateway, once its URL is known). */
  trust(issuer: TrustedIssuer): void;
  reset(): void;
  close(): Promise<void>;
}

const ROUTE_SCOPES = {
  list: 'notes:read',
  get: 'notes:read',
  create: 'notes:write',
  delete: 'notes:delete',
} as const;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(String(body.error));
  }
}

function stripSlash(s: string): string {
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

function invalidToken(description: string): HttpError {
  return new HttpError(
    401,
    { error: 'invalid_token', error_description: description },
    { 'www-authenticate': `Bearer error="invalid_token", error_description="${description}"` },
  );
}

export async function startDemoApi(opts: DemoApiOptions = {}): Promise<DemoApi> {
  const host = opts.host ?? '127.0.0.1';
  const algorithms = opts.algorithms ?? ['RS256', 'PS256', 'ES256', 'EdDSA'];
  const clockTolerance = opts.clockTolerance ?? 5;
  const maxBody = opts.maxBodyBytes ?? 64 * 1024;

  const seen: SeenRequest[] = [];
  const stats = { requests: 0, unauthorized: 0, forbidden: 0, forcedFailures: 0 };
  const notes = new Map<string, Map<string, Note>>();
  let failRemaining = 0;
  /** sub -> epoch seconds: tokens of that user issued before it are refused ... */
  const revokedBefore = new Map<string, number>();
  /** ... and so are the ones already seen (same-second tokens issued after a revocation still pass). */
  const revokedJtis = new Set<string>();
  let failStatus = 401;

  const verifiers: Array<{ issuer?: string; keys: JWTVerifyGetKey }> = [];
  const trust = (t: TrustedIssuer) => {
    if (t.jwks) verifiers.push({ issuer: t.issuer, keys: createLocalJWKSet(t.jwks) });
    else if (t.jwksUri) {
      verifiers.push({ issuer: t.issuer, keys: createRemoteJWKSet(new URL(t.jwksUri), { cooldownDuration: 1_000 }) });
    } else throw new TypeError('a trusted issuer needs jwks or jwksUri');
  };
  for (const t of opts.trusted ?? []) trust(t);

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { error: 'server_error' });
      else res.destroy(err instanceof Error ? err : undefined);
    });
  });
  const { port, url, close } = await listenOnLoopback(server, host, opts.port);
  const resource = stripSlash(opts.resource ?? url);
  const audiences = new Set([resource, `${resource}/`]);

  async function verify(token: string): Promise<JWTPayload> {
    let claimedIss: string | undefined;
    try {
      const iss = decodeJwt(token).iss;
      claimedIss = typeof iss === 'string' ? iss : undefined;
    } catch {
      throw invalidToken('malformed token');
    }
    // Only verifiers that could accept this issuer; saves a JWKS refetch at every other issuer for an unknown kid.
    const candidates = verifiers.filter((v) => v.issuer === undefined || v.issuer === claimedIss);
    if (candidates.length === 0) throw invalidToken('untrusted issuer');
    let lastError = 'invalid token';
    for (const v of candidates) {
      try {
        const { payload } = await jwtVerify(token, v.keys, {
          algorithms,
          clockTolerance,
          ...(v.issuer ? { issuer: v.issuer } : {}),
          requiredClaims: ['exp', 'sub'],
        });
        const aud = payload.aud;
        const auds = Array.isArray(aud) ? aud : aud === undefined ? [] : [aud];
        if (!auds.some((a) => audiences.has(a))) throw invalidToken('audience mismatch');
        const cutoff = revokedBefore.get(String(payload.sub));
        if (cutoff !== undefined && (payload.iat ?? 0) < cutoff) throw invalidToken('token revoked');
        if (payload.jti !== undefined && revokedJtis.has(payload.jti)) throw invalidToken('token revoked');
        return payload;
      } catch (err) {
        if (err instanceof HttpError) throw err;
        const code = (err as { code?: string }).code;
        lastError =
          code === 'ERR_JWT_EXPIRED'
            ? 'token expired'
            : code === 'ERR_JWT_CLAIM_VALIDATION_FAILED'
              ? 'claim check failed'
              : 'invalid token';
      }
    }
    throw invalidToken(lastError);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', url);
    if (u.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      // The demo banner links here: say what this is instead of a bare 404.
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(
        JSON.stringify({
          name: 'Keyward demo notes API',
          resource,
          endpoints: ['GET /notes', 'POST /notes', 'GET /notes/{id}', 'DELETE /notes/{id}'],
          auth: 'a Bearer JWT for this resource, with notes:read, notes:write or notes:delete; Keyward gets one per call',
        }),
      );
      return;
    }
    stats.requests += 1;
    const method = req.method ?? 'GET';
    const path = u.pathname;
    let record: SeenRequest | undefined;
    try {
      const route = match(method, path);
      if (!route) throw new HttpError(404, { error: 'not_found' });

      const authz = req.headers.authorization ?? '';
      const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(authz);
      if (!m?.[1]) {
        throw new HttpError(
          401,
          { error: 'invalid_token', error_description: 'missing bearer token' },
          {
            'www-authenticate': 'Bearer',
          },
        );
      }
      const claims = await verify(m[1]);
      const scope = typeof claims.scope === 'string' ? claims.scope : '';
      record = {
        sub: String(claims.sub),
        scope,
        aud: claims.aud,
        jti: claims.jti,
        act: claims.act,
        iat: claims.iat,
        exp: claims.exp,
        iss: claims.iss,
        client_id: claims.client_id,
        method,
        path,
      };
      seen.push(record);

      if (failRemaining > 0) {
        failRemaining -= 1;
        stats.forcedFailures += 1;
        if (failStatus === 401) throw invalidToken('token rejected');
        throw new HttpError(failStatus, { error: 'unavailable' });
      }

      const needed = ROUTE_SCOPES[route.name];
      if (!scope.split(' ').includes(needed)) {
        throw new HttpError(
          403,
          { error: 'insufficient_scope', scope: needed },
          { 'www-authenticate': `Bearer error="insufficient_scope", scope="${needed}"` },
        );
      }

      const sub = String(claims.sub);
      let mine = notes.get(sub);
      if (!mine) {
        mine = new Map();
        notes.set(sub, mine);
      }
      switch (route.name) {
        case 'list':
          return done(200, { notes: [...mine.values()] });
        case 'get': {
          const note = mine.get(route.id ?? '');
          if (!note) throw new HttpError(404, { error: 'not_found' });
          return done(200, note);
        }
        case 'create': {
          const input = await readJson(req, maxBody);
          const title = (input as { title?: unknown }).title;
          const body = (input as { body?: unknown }).body ?? '';
          if (typeof title !== 'string' || title.length === 0 || title.length > 200 || typeof body !== 'string') {
            throw new HttpError(400, {
              error: 'invalid_request',
              message: 'title (1-200 characters) and body (string) are required',
            });
          }
          const note: Note = { id: randomUUID().slice(0, 8), title, body, createdAt: new Date().toISOString() };
          mine.set(note.id, note);
          return done(201, note);
        }
        case 'delete': {
          if (!mine.delete(route.id ?? '')) throw new HttpError(404, { error: 'not_found' });
          res.statusCode = 204;
          if (record) record.status = 204;
          res.end();
          return;
        }
      }
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (err.status === 401) stats.unauthorized += 1;
      if (err.status === 403) stats.forbidden += 1;
      for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
      return done(err.status, err.body);
    }

    function done(status: number, body: unknown): void {
      if (record) record.status = status;
      send(res, status, body);
    }
  }

  return {
    url,
    resource,
    port,
    seen,
    stats,
    notes,
    failNext(n: number, status = 401) {
      failRemaining = n;
      failStatus = status;
    },
    trust,
    revokeTokensOf(sub: string) {
      revokedBefore.set(sub, Math.floor(Date.now() / 1000));
      for (const r of seen) if (r.sub === sub && r.jti) revokedJtis.add(r.jti);
    },
    reset() {
      seen.length = 0;
      revokedBefore.clear();
      revokedJtis.clear();
      notes.clear();
      failRemaining = 0;
      Object.assign(stats, { requests: 0, unauthorized: 0, forbidden: 0, forcedFailures: 0 });
    },
    close,
  };
}

function match(method: string, path: string): { name: keyof typeof ROUTE_SCOPES; id?: string } | undefined {
  if (path === '/notes' || path === '/notes/') {
    if (method === 'GET' || method === 'HEAD') return { name: 'list' };
    if (method === 'POST') return { name: 'create' };
    return undefined;
  }
  const m = /^\/notes\/([^/]+)$/.exec(path);
  if (!m?.[1]) return undefined;
  let id: string;
  try {
    id = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  if (method === 'GET' || method === 'HEAD') return { name: 'get', id };
  if (method === 'DELETE') return { name: 'delete', id };
  return undefined;
}

async function readJson(req: http.IncomingMessage, max: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new HttpError(413, { error: 'payload_too_large' });
    chunks.push(chunk as Buffer);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null');
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
    return parsed;
  } catch {
    throw new HttpError(400, { error: 'invalid_request', message: 'the body must be a JSON object' });
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('cache-control', 'no-store');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}
