// Shared plumbing for the provider fakes: a loopback server, body reading, and a request log without secrets.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as a fake saw it. The Authorization value is never kept, only whether it was there. */
export interface RecordedRequest {
  method: string;
  /** The path exactly as it arrived, still percent-encoded. */
  rawPath: string;
  /** The path decoded segment by segment, for readable assertions. */
  segments: string[];
  query: Record<string, string | string[]>;
  /** Lower-cased names; `authorization` is `"present"` when sent, else absent. */
  headers: Record<string, string>;
  /** The parsed JSON or form body; undefined when there was none. */
  body?: unknown;
  /** Which token (by the test's own label) authenticated the request, if any. */
  tokenLabel?: string;
}

export interface LoopbackServer {
  url: string;
  origin: string;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

export async function listenLoopback(handler: Handler): Promise<LoopbackServer> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      Promise.resolve(handler(req, res, Buffer.concat(chunks).toString('utf8'))).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: origin,
    origin,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

export function splitUrl(rawUrl: string): { rawPath: string; segments: string[]; search: URLSearchParams } {
  const q = rawUrl.indexOf('?');
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  const search = new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1));
  const segments = rawPath
    .split('/')
    .slice(1)
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return { rawPath, segments, search };
}

export function queryRecord(search: URLSearchParams): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const key of new Set(search.keys())) {
    const all = search.getAll(key);
    out[key] = all.length === 1 ? (all[0] as string) : all;
  }
  return out;
}

export function safeHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k] = k === 'authorization' ? 'present' : Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/**
 * A request as the fakes record it (its path, query and headers, with no Authorization value), and its
 * query for routing.
 */
export function recordRequest(
  req: IncomingMessage,
  body: unknown,
  tokenLabel?: string,
): { rec: RecordedRequest; search: URLSearchParams } {
  const { rawPath, segments, search } = splitUrl(req.url ?? '/');
  const rec: RecordedRequest = {
    method: req.method ?? 'GET',
    rawPath,
    segments,
    query: queryRecord(search),
    headers: safeHeaders(req),
    body,
    ...(tokenLabel !== undefined ? { tokenLabel } : {}),
  };
  return { rec, search };
}

/** Form parameters that hold a secret. */
const SECRET_PARAMS = new Set(['refresh_token', 'client_secret', 'code', 'code_verifier', 'token']);

/** A token endpoint's form body as recorded: each secret parameter is `"present"`. */
export function maskedForm(form: URLSearchParams): Record<string, string> {
  const masked: Record<string, string> = {};
  for (const [k, v] of form) masked[k] = SECRET_PARAMS.has(k) ? 'present' : v;
  return masked;
}

/** The bearer token of a request, or undefined. */
export function bearerOf(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

export function parseBody(text: string, contentType: string | undefined): unknown {
  if (!text) return undefined;
  if (contentType?.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
  contentType = 'application/json; charset=utf-8',
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendForm(res: ServerResponse, status: number, body: Record<string, string>): void {
  const text = new URLSearchParams(body).toString();
  res.writeHead(status, {
    'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** A token-shaped random string with a readable prefix, so that a leak in a test failure is recognisable. */
export function mintToken(prefix: string): string {
  return `${prefix}_${randomBytes(18).toString('base64url')}`;
}
