// Reads a non-2xx API answer: a dead credential, a missing scope, a rate limit, or a plain failure.
import { DownstreamError, InsufficientScopeError } from '../errors.js';
import type { DownstreamResponse } from './send.js';

/** A 401 never gets here: the tool-call path renews the credential first. */
export type ApiFailure =
  | { kind: 'insufficient_scope'; error: InsufficientScopeError }
  | { kind: 'failed'; error: DownstreamError };

/** RFC 6750 `WWW-Authenticate: Bearer error="…", scope="…"` parameters. */
export function parseBearerChallenge(header: string | null): Record<string, string> {
  const params: Record<string, string> = {};
  if (!header || !/^\s*bearer\b/i.test(header)) return params;
  for (const m of header.matchAll(/([a-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/gi)) {
    const key = m[1] as string;
    params[key.toLowerCase()] = (m[2] ?? m[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return params;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Google's `{"error":{"status","errors":[{"reason"}],"details":[{"reason"}]}}` insufficient-scope markers. */
function googleScopeInsufficient(body: unknown): boolean {
  const e = (body as { error?: Record<string, unknown> } | undefined)?.error;
  if (!e || typeof e !== 'object') return false;
  const reasons: unknown[] = [];
  for (const list of [e.errors, e.details]) {
    if (Array.isArray(list)) for (const item of list) reasons.push((item as { reason?: unknown })?.reason);
  }
  return reasons.includes('ACCESS_TOKEN_SCOPE_INSUFFICIENT') || reasons.includes('insufficientPermissions');
}

function rateLimited(res: DownstreamResponse, body: unknown): boolean {
  if (res.status === 429) return true;
  if (res.status !== 403) return false;
  if (res.headers.get('x-ratelimit-remaining') === '0') return true;
  const e = (body as { error?: { errors?: { reason?: string }[] } } | undefined)?.error;
  return !!e?.errors?.some((x) => x.reason === 'rateLimitExceeded' || x.reason === 'userRateLimitExceeded');
}

function retryAfterSeconds(res: DownstreamResponse, nowMs: number): number | undefined {
  const ra = res.headers.get('retry-after');
  if (ra) {
    const n = Number(ra);
    if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
    const at = Date.parse(ra);
    if (!Number.isNaN(at)) return Math.max(0, Math.ceil((at - nowMs) / 1000));
  }
  const reset = res.headers.get('x-ratelimit-reset');
  if (reset && /^\d+$/.test(reset)) return Math.max(0, Number(reset) - Math.floor(nowMs / 1000));
  return undefined;
}

/** A short message from the API's own error body, with anything that looks like a credential removed. */
function safeApiMessage(body: unknown): string | undefined {
  const b = (body ?? {}) as { message?: unknown; error?: unknown; error_description?: unknown };
  const nested =
    typeof b.error === 'object' && b.error !== null ? (b.error as { message?: unknown }).message : undefined;
  const candidate = [b.message, nested, b.error_description, b.error].find((v): v is string => typeof v === 'string');
  if (!candidate) return undefined;
  return candidate
    .replace(/bearer\s+\S+/gi, 'Bearer [redacted]')
    .replace(/[A-Za-z0-9_-]{24,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g, '[redacted]')
    .slice(0, 200);
}

export function classifyApiFailure(
  res: DownstreamResponse,
  ctx: {
    provider: string;
    grantedScopes: string[];
    toolScopes: string[];
    /** Scopes the provider's config knows: a challenge's `scope` is kept only where it names one of these. */
    knownScopes: readonly string[];
    nowMs: number;
  },
): ApiFailure {
  const body = res.contentType.includes('json') ? parseJson(res.text) : undefined;
  const challenge = parseBearerChallenge(res.headers.get('www-authenticate'));

  if (res.status === 403 && (challenge.error === 'insufficient_scope' || googleScopeInsufficient(body))) {
    // The challenge is the API's text: a scope it names reaches the agent and a connect link only if the
    // config knows it, so an API cannot smuggle a token (or anything else) into the error through `scope`.
    const known = new Set([...ctx.knownScopes, ...ctx.toolScopes]);
    const challenged = (challenge.scope ?? '').split(/\s+/).filter((s) => known.has(s));
    const wanted = challenged.length ? challenged : ctx.toolScopes;
    const missing = wanted.filter((s) => !ctx.grantedScopes.includes(s));
    return {
      kind: 'insufficient_scope',
      error: new InsufficientScopeError(`The ${ctx.provider} grant lacks a scope this action needs.`, {
        provider: ctx.provider,
        scopes: wanted,
        missingScopes: missing.length ? missing : wanted,
        reason: 'insufficient_scope',
      }),
    };
  }

  const limited = rateLimited(res, body);
  const apiMessage = safeApiMessage(body);
  const status = limited && res.status === 403 ? 429 : res.status;
  return {
    kind: 'failed',
    error: new DownstreamError(
      limited
        ? `The ${ctx.provider} API is rate limiting this user.`
        : `The ${ctx.provider} API answered ${res.status}${apiMessage ? `: ${apiMessage}` : '.'}`,
      {
        provider: ctx.provider,
        status,
        reason: limited ? 'rate_limited' : `http_${res.status}`,
        retryAfterSeconds: retryAfterSeconds(res, ctx.nowMs),
      },
    ),
  };
}
