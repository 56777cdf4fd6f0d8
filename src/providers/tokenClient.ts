// One token endpoint request: client authentication, the provider's headers, parsing and the verdict.
import { z } from 'zod';
import { classifyStandard } from './classify.js';
import { tokenSetFromWire } from './tokenSet.js';
import type { ClientAuthMethod, ProviderPreset, TokenResponseView, TokenSet } from './types.js';
import { TokenEndpointError } from './types.js';

export interface TokenClientOptions {
  provider: string;
  clientId: string;
  clientSecret?: string;
  clientAuth: ClientAuthMethod;
  preset?: ProviderPreset;
  fetch: typeof fetch;
  timeoutMs: number;
  /** The injected clock, for a Retry-After given as a date. */
  now?: () => number;
}

/** Providers' token responses are metadata we don't own: loose, with numbers that may be strings. */
const TokenResponse = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.coerce.number().positive().optional(),
  scope: z.string().optional(),
  token_type: z.string().optional(),
  id_token: z.string().optional(),
  issued_token_type: z.string().optional(),
});

export { parseScopeString } from './tokenSet.js';

/** RFC 9110 s.10.2.3: delay-seconds or an HTTP-date, read against `nowMs` (the injected clock). */
export function retryAfterSeconds(headers: Headers, nowMs: number = Date.now()): number | undefined {
  const v = headers.get('retry-after')?.trim();
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s) && s >= 0) return Math.ceil(s);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/**
 * Error codes (of the error or any cause) raised before a request is written to a connection:
 * no connection, no address, no TLS session. Anything else may have reached the server.
 */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

/** True when every code in the error's cause chain says the request never left. */
export function neverSent(err: unknown): boolean {
  const codes: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 8) return;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    visit((e as { cause?: unknown }).cause, depth + 1);
    // Happy eyeballs: one refused attempt per address.
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1);
  };
  visit(err, 0);
  return codes.length > 0 && codes.every((c) => NOT_SENT_CODES.has(c));
}

/** JSON, or form-encoded (GitHub's default without `Accept: application/json`), or nothing. */
export function parseBody(text: string, contentType: string | null): Record<string, unknown> | undefined {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const looksJson = contentType?.includes('json') || trimmed.startsWith('{');
  if (looksJson) {
    try {
      const v: unknown = JSON.parse(trimmed);
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
  if (contentType?.includes('x-www-form-urlencoded') || /^[\w.-]+=[^\s]*$/.test(trimmed)) {
    return Object.fromEntries(new URLSearchParams(trimmed));
  }
  return undefined;
}

/** Request parameters whose values are secrets: a provider's error must not echo them back to us. */
const SECRET_PARAMS = ['refresh_token', 'code', 'code_verifier', 'subject_token', 'actor_token', 'assertion'];

/** An OAuth error code as providers spell them (invalid_grant, bad_refresh_token): short, lowercase. */
const OAUTH_ERROR_CODE = /^[a-z][a-z0-9_.-]{0,63}$/;

/** Shorter runs of a secret than this may match an error code by chance. */
const ECHO_MIN = 12;

function echoes(error: string, secret: string): boolean {
  if (secret.length < ECHO_MIN) return error.includes(secret);
  for (let i = 0; i + ECHO_MIN <= error.length; i++) {
    if (secret.includes(error.slice(i, i + ECHO_MIN))) return true;
  }
  return false;
}

/**
 * The provider's `error` as it may be named in messages, logs and the agent's `reason`: an OAuth
 * error code that repeats none of the secrets the request sent. A sentence, or a value that echoes
 * a token or the client secret, becomes `unrecognized_error`; the verdict was taken on the original.
 */
export function reportableError(error: string | undefined, secrets: readonly string[]): string | undefined {
  if (error === undefined) return undefined;
  if (!OAUTH_ERROR_CODE.test(error)) return 'unrecognized_error';
  return secrets.some((s) => s.length > 0 && echoes(error, s)) ? 'unrecognized_error' : error;
}

/** RFC 6749 s.2.3.1: Basic credentials are form-encoded before base64. */
function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

export function clientAuthHeaders(
  opts: Pick<TokenClientOptions, 'clientId' | 'clientSecret' | 'clientAuth'>,
  body: URLSearchParams,
): Record<string, string> {
  if (opts.clientAuth === 'client_secret_basic' && opts.clientSecret) {
    return { authorization: basicAuth(opts.clientId, opts.clientSecret) };
  }
  body.set('client_id', opts.clientId);
  if (opts.clientAuth === 'client_secret_post' && opts.clientSecret) body.set('client_secret', opts.clientSecret);
  return {};
}

/**
 * POSTs a token request and returns the tokens, or throws a TokenEndpointError whose `kind`
 * the preset decided. Nothing from the response body reaches the error but its OAuth code.
 */
export async function requestTokens(
  opts: TokenClientOptions,
  endpoint: string,
  params: Record<string, string | undefined>,
  signal?: AbortSignal,
): Promise<TokenSet> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) body.set(k, v);
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    accept: 'application/json',
    ...opts.preset?.tokenRequestHeaders,
    ...clientAuthHeaders(opts, body),
  };
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const what = params.grant_type ? `${shortGrant(params.grant_type)} request` : 'token request';
  let response: Response;
  try {
    response = await opts.fetch(endpoint, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (err) {
    const timedOut = timeout.aborted;
    // Only a failure before the connection carried the request proves the server never saw it.
    const delivery = !timedOut && !signal?.aborted && neverSent(err) ? 'not_sent' : 'unknown';
    const oauthError = timedOut
      ? 'timeout'
      : signal?.aborted
        ? 'aborted'
        : delivery === 'not_sent'
          ? 'network_error'
          : 'connection_lost';
    throw new TokenEndpointError(opts.provider, 'transient', { oauthError, what, delivery }, { cause: err });
  }
  let text = '';
  let unread: unknown;
  try {
    text = await response.text();
  } catch (err) {
    unread = err;
  }
  const succeeded = response.status >= 200 && response.status < 300;
  if (unread !== undefined && succeeded) {
    // The server said yes and the answer was lost on the way: the tokens it issued are out of reach.
    throw new TokenEndpointError(
      opts.provider,
      'transient',
      {
        oauthError: timeout.aborted ? 'timeout' : 'connection_lost',
        status: response.status,
        what,
        delivery: 'unknown',
      },
      { cause: unread },
    );
  }
  const view: TokenResponseView = {
    status: response.status,
    headers: response.headers,
    body: parseBody(text, response.headers.get('content-type')),
  };
  const verdict = (opts.preset?.classify ?? classifyStandard)(view);
  if (!verdict.ok) {
    const secrets = SECRET_PARAMS.map((k) => params[k]).filter((v): v is string => v !== undefined);
    if (opts.clientSecret) secrets.push(opts.clientSecret);
    throw new TokenEndpointError(opts.provider, verdict.kind, {
      oauthError: reportableError(verdict.error, secrets),
      status: response.status,
      retryAfterSeconds: retryAfterSeconds(response.headers, opts.now?.()),
      what,
      // A 2xx the preset could not read as tokens may still have rotated the refresh token.
      delivery: succeeded && verdict.kind === 'transient' ? 'unknown' : 'answered',
    });
  }
  const parsed = TokenResponse.safeParse(view.body);
  if (!parsed.success) {
    throw new TokenEndpointError(opts.provider, 'transient', {
      oauthError: 'malformed_response',
      status: response.status,
      what,
      delivery: succeeded ? 'unknown' : 'answered',
    });
  }
  return tokenSetFromWire(parsed.data);
}

export function shortGrant(grantType: string): string {
  if (grantType === 'refresh_token') return 'refresh';
  if (grantType === 'authorization_code') return 'code exchange';
  if (grantType.endsWith('token-exchange')) return 'token exchange';
  if (grantType.endsWith('jwt-bearer')) return 'on-behalf-of';
  return grantType;
}
