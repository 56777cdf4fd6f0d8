// The only place a downstream URL is built: arguments fill in segments and query values, never the origin.
import { InvalidArgumentsError } from '../errors.js';
import { HTTP_METHODS, type HttpMethod, type RequestSpec } from './types.js';

export interface DownstreamRequest {
  url: URL;
  method: HttpMethod;
  headers: Record<string, string>;
  body?: string;
}

const METHODS: ReadonlySet<string> = new Set(HTTP_METHODS);
const MAX_SEGMENT_LENGTH = 1024;

/**
 * Headers that only the gateway or the HTTP stack may set: the credential, cookies, routing and
 * hop-by-hop fields (RFC 9110 s.7.6.1), and framing, which fetch computes.
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'cookie',
  'host',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
  'forwarded',
]);
/**
 * Headers that some servers, frameworks and proxies obey in place of the request line. From a tool they would
 * change the method or the path behind the checks below (and a GET that is really a DELETE would be retried).
 */
const OVERRIDE_HEADERS: ReadonlySet<string> = new Set([
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-original-url',
  'x-rewrite-url',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Why a header name may not come from a tool, or undefined when it may. */
export function reservedHeaderReason(name: string): string | undefined {
  if (!HEADER_NAME.test(name)) return 'is not a valid header name';
  const lower = name.toLowerCase();
  if (RESERVED_HEADERS.has(lower) || lower.startsWith('proxy-') || lower.startsWith('x-forwarded-')) {
    return 'is set by the gateway, not by tools';
  }
  if (OVERRIDE_HEADERS.has(lower)) return 'would override the request method or URL';
  return undefined;
}

/**
 * Why a value may not be one path segment, or undefined when it is safe to encode as one.
 * The value is checked raw and after each round of percent-decoding and Unicode (NFKC) folding,
 * because a server or proxy that decodes twice, or normalises, would otherwise see `..` or `/`.
 */
export function unsafeSegmentReason(value: string): string | undefined {
  if (value === '') return 'must not be empty';
  if (value.length > MAX_SEGMENT_LENGTH) return `must be at most ${MAX_SEGMENT_LENGTH} characters`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is rejected
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'must not contain control characters';
  let current = value;
  for (let round = 0; round < 4; round++) {
    for (const form of new Set([current, current.normalize('NFKC')])) {
      // Servlet containers drop ";params" from a segment before resolving dot-segments.
      const bare = form.split(';')[0];
      if (bare === '.' || bare === '..') return 'must not be "." or ".."';
      if (form.includes('/')) return 'must not contain "/"';
      if (form.includes('\\')) return 'must not contain "\\"';
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is rejected
      if (/[\u0000-\u001f\u007f]/.test(form)) return 'must not contain control characters';
    }
    if (!/%[0-9A-Fa-f]{2}/.test(current)) return undefined;
    let decoded: string;
    try {
      decoded = decodeURIComponent(current);
    } catch {
      // Not valid percent-encoding, so no server decodes it into anything else.
      return undefined;
    }
    if (decoded === current) return undefined;
    current = decoded;
  }
  return 'is encoded too many times';
}

function argumentError(name: string, reason: string): InvalidArgumentsError {
  return new InvalidArgumentsError(`The request URL cannot be built: ${name} ${reason}.`, {
    issues: [`${name}: ${reason}`],
    reason: 'unsafe_url_argument',
  });
}

/** One value as one encoded path segment, or an InvalidArgumentsError naming `name`. */
export function encodeSegment(value: unknown, name: string): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
  else if (typeof value === 'bigint') text = value.toString();
  else throw argumentError(name, 'must be a string or a finite number');
  const reason = unsafeSegmentReason(text);
  if (reason) throw argumentError(name, reason);
  return encodeURIComponent(text);
}

/**
 * `path\`/repos/${owner}/${repo}/issues\`` encodes each interpolation as exactly one segment
 * and throws InvalidArgumentsError for values such as `..`, `a/b` or `%2e%2e`.
 * The result is a string, so it fits RequestSpec.path; buildDownstreamRequest checks it again.
 */
export function path(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += encodeSegment(value, `path segment ${i + 1}`) + (strings[i + 1] ?? '');
  });
  return out;
}

/** Splits a string path and checks that every segment stays a segment once decoded. */
function checkedStringPath(p: string): string[] {
  const bad = (reason: string) => argumentError('path', reason);
  if (!p.startsWith('/')) throw bad('must start with "/"');
  if (p.startsWith('//')) throw bad('must not start with "//"');
  if (/[?#]/.test(p)) throw bad('must not contain "?" or "#" (use query)');
  if (p.includes('\\')) throw bad('must not contain "\\"');
  const segments = p.slice(1).split('/');
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === '' && last) return; // a trailing slash
    if (segment === '') throw bad('must not contain empty segments ("//")');
    // Only characters that RFC 3986 allows in a segment, so that nothing is left for the URL parser to reinterpret.
    if (!/^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$/.test(segment)) {
      throw bad(`segment ${i + 1} must be percent-encoded (build paths with the path tag or an array)`);
    }
    const reason = unsafeSegmentReason(segment);
    if (reason) throw bad(`segment ${i + 1} ${reason}`);
  });
  return segments;
}

function queryString(query: RequestSpec['query']): string[] {
  const parts: string[] = [];
  if (!query) return parts;
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined || raw === null) continue;
    if (key === '') throw new TypeError('query keys must not be empty');
    const values = Array.isArray(raw) ? raw : [raw];
    for (const value of values) {
      if (value === undefined || value === null) continue;
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw argumentError(key, 'must be a finite number');
      }
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw argumentError(key, 'must be a string, a number or a boolean');
      }
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(value))}`);
    }
  }
  return parts;
}

function toolHeaders(headers: RequestSpec['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const reason = reservedHeaderReason(name);
    // A reserved header name is written in the tool's code, so this is the tool's bug, not the agent's.
    if (reason) throw new TypeError(`header "${name}" ${reason}`);
    // CR, LF and NUL would split or end the header; fetch refuses anything beyond Latin-1.
    if (typeof value !== 'string' || !/^[\t\x20-\x7e\x80-\xff]*$/.test(value)) {
      throw argumentError(`header ${name}`, 'must be a single-line string');
    }
    out[name.toLowerCase()] = value;
  }
  return out;
}

/**
 * Builds the downstream request for a tool call. Throws InvalidArgumentsError when an argument
 * would change the origin or leave apiBaseUrl's path, and TypeError for a malformed spec (a tool bug).
 */
export function buildDownstreamRequest(apiBaseUrl: string, spec: RequestSpec): DownstreamRequest {
  const base = new URL(apiBaseUrl);
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw new TypeError('apiBaseUrl must be http(s)');
  if (!METHODS.has(spec.method)) throw new TypeError(`unsupported method "${String(spec.method)}"`);
  const basePath = base.pathname.replace(/\/+$/, '');

  let segments: string[];
  if (typeof spec.path === 'string') segments = checkedStringPath(spec.path);
  else if (Array.isArray(spec.path)) segments = spec.path.map((s, i) => encodeSegment(s, `path[${i}]`));
  else throw new TypeError('path must be a string or an array of segments');

  const pathname = segments.length === 0 ? basePath || '/' : `${basePath}/${segments.join('/')}`;
  const query = [...base.searchParams.entries()].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  query.push(...queryString(spec.query));
  const url = new URL(`${base.origin}${pathname}${query.length ? `?${query.join('&')}` : ''}`);

  // The checks above should make these impossible; they stay so that a gap in them fails closed.
  const inside =
    url.pathname === pathname &&
    (basePath === '' || url.pathname === basePath || url.pathname.startsWith(`${basePath}/`));
  if (url.origin !== base.origin || !inside) {
    throw argumentError('path', 'would leave the API base URL');
  }

  const headers: Record<string, string> = { accept: 'application/json', ...toolHeaders(spec.headers) };
  const request: DownstreamRequest = { url, method: spec.method, headers };
  if (spec.json !== undefined) {
    if (spec.method === 'GET' || spec.method === 'HEAD') throw new TypeError(`a ${spec.method} request has no body`);
    const body = JSON.stringify(spec.json);
    if (body === undefined) throw new TypeError('json must be JSON-serialisable');
    request.body = body;
    headers['content-type'] ??= 'application/json';
  }
  return request;
}

export type { HttpMethod };
