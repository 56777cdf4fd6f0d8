// Reads a non-2xx API answer into signals for policy, then words the verdict: a missing scope, a rate limit, or a plain failure.
import { DownstreamError, InsufficientScopeError } from '../errors.js';
import { type ApiRefusalSignals, judgeApiRefusal } from '../policy/apiRefusal.js';
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

/** A rate limit said with a 403: GitHub's exhausted quota header, Google's rate-limit reasons. */
function rateLimitMarker(res: DownstreamResponse, body: unknown): boolean {
  if (res.headers.get('x-ratelimit-remaining') === '0') return true;
  const e = (body as { error?: { errors?: { reason?: string }[] } } | undefined)?.error;
  return !!e?.errors?.some((x) => x.reason === 'rateLimitExceeded' || x.reason === 'userRateLimitExceeded');
}

/** What policy needs to judge a refusal, read from the status, the challenge and the body. */
export function readApiRefusal(res: DownstreamResponse): ApiRefusalSignals & { body: unknown } {
  const body = res.contentType.includes('json') ? parseJson(res.text) : undefined;
  const challenge = parseBearerChallenge(res.headers.get('www-authenticate'));
  const challengeScopes = challenge.scope?.split(/\s+/).filter(Boolean);
  return {
    status: res.status,
    scopeInsufficient: challenge.error === 'insufficient_scope' || googleScopeInsufficient(body),
    ...(challengeScopes?.length ? { challengeScopes } : {}),
    rateLimitMarker: rateLimitMarker(res, body),
    body,
  };
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
  const signals = readApiRefusal(res);
  const verdict = judgeApiRefusal(signals, ctx);
  if (verdict.kind === 'insufficient_scope') {
    return {
      kind: 'insufficient_scope',
      error: new InsufficientScopeError(`The ${ctx.provider} grant lacks a scope this action needs.`, {
        provider: ctx.provider,
        scopes: verdict.scopes,
        missingScopes: verdict.missing,
        reason: 'insufficient_scope',
      }),
    };
  }
  const limited = verdict.kind === 'rate_limited';
  const apiMessage = safeApiMessage(signals.body);
  return {
    kind: 'failed',
    error: new DownstreamError(
      limited
        ? `The ${ctx.provider} API is rate limiting this user.`
        : `The ${ctx.provider} API answered ${res.status}${apiMessage ? `: ${apiMessage}` : '.'}`,
      {
        provider: ctx.provider,
        status: verdict.status,
        reason: limited ? 'rate_limited' : `http_${res.status}`,
        retryAfterSeconds: retryAfterSeconds(res, ctx.nowMs),
      },
    ),
  };
}
