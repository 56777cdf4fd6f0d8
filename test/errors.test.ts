// The error contract and its one boundary: immutable errors, an exhaustive mapper, one translation per foreign family.
import { describe, expect, it } from 'vitest';
import {
  fromStoreFailure,
  fromTokenEndpoint,
  STORE_RETRY_AFTER_SECONDS,
  toGatewayError,
} from '../src/broker/errorBoundary.js';
import {
  DownstreamError,
  ERROR_CODES,
  type ErrorCode,
  InsufficientScopeError,
  needsUserGrant,
  ProviderUnavailableError,
  RESERVED_ERROR_CODES,
  ReauthRequiredError,
  StoreUnavailableError,
  type ToolErrorPayload,
  userAction,
} from '../src/errors.js';
import { TokenEndpointError } from '../src/providers/errors.js';

describe('gateway errors are immutable', () => {
  it('freezes details and their lists, so a thrown error cannot be edited', () => {
    const scopes = ['notes:read'];
    const err = new ReauthRequiredError('m', { provider: 'notes', scopes, reason: 'no_grant' });
    expect(Object.isFrozen(err.details)).toBe(true);
    expect(Object.isFrozen(err.details.scopes)).toBe(true);
    expect(() => {
      (err.details as { authorizeUrl?: string }).authorizeUrl = 'https://evil.example';
    }).toThrow(TypeError);
    // The caller's own array is copied, not frozen in place.
    scopes.push('notes:write');
    expect(err.details.scopes).toEqual(['notes:read']);
  });

  it('withDetails returns a new error of the same class, with the same message and cause', () => {
    const cause = new Error('driver said no');
    const err = new InsufficientScopeError('scope missing', { provider: 'notes', missingScopes: ['a'] }, { cause });
    const copy = err.withDetails({ authorizeUrl: 'http://127.0.0.1:8787/connect/notes' });
    expect(copy).not.toBe(err);
    expect(copy).toBeInstanceOf(InsufficientScopeError);
    expect(copy.name).toBe('InsufficientScopeError');
    expect(copy.cause).toBe(cause);
    expect(copy.toPayload()).toEqual({
      code: 'insufficient_scope',
      message: 'scope missing',
      provider: 'notes',
      missingScopes: ['a'],
      authorizeUrl: 'http://127.0.0.1:8787/connect/notes',
      retryable: false,
    });
    expect(err.details.authorizeUrl).toBeUndefined();
    expect(Object.isFrozen(copy.details)).toBe(true);
  });

  it('a payload is the agent’s own copy: editing it does not reach the error', () => {
    const err = new ReauthRequiredError('m', { scopes: ['a'] });
    const payload = err.toPayload();
    payload.scopes?.push('b');
    expect(err.details.scopes).toEqual(['a']);
  });

  it('a getter that reads details keeps working on a copy (DownstreamError.retryable)', () => {
    const err = new DownstreamError('m', { status: 503 });
    expect(err.retryable).toBe(true);
    expect(err.withDetails({ retryable: false }).retryable).toBe(false);
  });
});

describe('codes', () => {
  it('reserved codes are codes of the contract', () => {
    expect(RESERVED_ERROR_CODES).toEqual(['approval_required', 'approval_denied', 'forbidden']);
    for (const code of RESERVED_ERROR_CODES) expect(ERROR_CODES).toContain(code);
  });

  it('only reauth and missing scope ask the user to grant access', () => {
    const asks = ERROR_CODES.filter((c) => needsUserGrant(c));
    expect(asks).toEqual(['reauth_required', 'insufficient_scope']);
  });
});

describe('userAction', () => {
  const base = (code: ErrorCode, extra: Partial<ToolErrorPayload> = {}): ToolErrorPayload => ({
    code,
    message: 'Something.',
    retryable: false,
    ...extra,
  });
  const URL_ = 'http://127.0.0.1:8787/connect/notes';

  it.each<[ToolErrorPayload, string]>([
    [
      base('reauth_required', { authorizeUrl: URL_ }),
      `Something. Ask the user to open ${URL_} to grant access, then retry.`,
    ],
    [
      base('insufficient_scope', { authorizeUrl: URL_ }),
      `Something. Ask the user to open ${URL_} to grant access, then retry.`,
    ],
    [base('insufficient_scope'), 'Something.'],
    [base('provider_unavailable', { retryAfterSeconds: 5 }), 'Something. Retry in 5 s.'],
    [base('store_unavailable', { retryAfterSeconds: 1 }), 'Something. Retry in 1 s.'],
    [base('store_unavailable'), 'Something.'],
    [base('downstream_error', { retryAfterSeconds: 9, authorizeUrl: URL_ }), 'Something.'],
    [base('invalid_arguments'), 'Something.'],
    [base('approval_required'), 'Something.'],
    [base('approval_denied'), 'Something.'],
    [base('forbidden'), 'Something.'],
  ])('%o', (payload, line) => {
    expect(userAction(payload)).toBe(line);
  });

  it('has a line for every code', () => {
    for (const code of ERROR_CODES) expect(userAction(base(code))).toBe('Something.');
  });
});

describe('error boundary: token endpoint', () => {
  const ctx = { provider: 'notes', scopes: ['notes:read'], defaultRetryAfterSeconds: 5 };

  it.each<{
    err: TokenEndpointError;
    extra?: object;
    cls: unknown;
    payload: Record<string, unknown>;
    internal?: string;
  }>([
    {
      err: new TokenEndpointError('notes', 'dead', { oauthError: 'invalid_grant', status: 400 }),
      cls: ReauthRequiredError,
      internal: 'invalid_grant',
      payload: {
        code: 'reauth_required',
        message: 'The notes authorization server no longer accepts this grant; access must be granted again.',
        provider: 'notes',
        scopes: ['notes:read'],
        reason: 'invalid_grant',
        retryable: false,
      },
    },
    {
      err: new TokenEndpointError('notes', 'dead', { oauthError: 'invalid_grant' }),
      extra: { presented: 'subject_token', internal: 'exchange refused generation 3' },
      cls: ReauthRequiredError,
      internal: 'exchange refused generation 3',
      payload: {
        code: 'reauth_required',
        message: "notes no longer accepts this grant's tokens; access must be granted again.",
        provider: 'notes',
        scopes: ['notes:read'],
        reason: 'invalid_grant',
        retryable: false,
      },
    },
    {
      err: new TokenEndpointError('notes', 'invalid_scope', { oauthError: 'invalid_scope', status: 400 }),
      cls: InsufficientScopeError,
      internal: 'invalid_scope',
      payload: {
        code: 'insufficient_scope',
        message: 'notes refused the scopes this tool needs.',
        provider: 'notes',
        scopes: ['notes:read'],
        missingScopes: ['notes:read'],
        retryable: false,
      },
    },
    {
      err: new TokenEndpointError('notes', 'transient', { status: 503, retryAfterSeconds: 30 }),
      cls: ProviderUnavailableError,
      internal: 'token request to notes failed (transient, HTTP 503)',
      payload: {
        code: 'provider_unavailable',
        message: 'notes is not answering right now.',
        provider: 'notes',
        retryAfterSeconds: 30,
        retryable: true,
      },
    },
    {
      err: new TokenEndpointError('notes', 'transient', { status: 502 }),
      cls: ProviderUnavailableError,
      internal: 'token request to notes failed (transient, HTTP 502)',
      payload: {
        code: 'provider_unavailable',
        message: 'notes is not answering right now.',
        provider: 'notes',
        retryAfterSeconds: 5,
        retryable: true,
      },
    },
    {
      err: new TokenEndpointError('notes', 'rejected', { oauthError: 'invalid_client', status: 401 }),
      cls: ProviderUnavailableError,
      internal: 'token request to notes failed (rejected, invalid_client, HTTP 401)',
      payload: {
        code: 'provider_unavailable',
        message: "notes refused the gateway's request; the operator must check its configuration.",
        provider: 'notes',
        retryAfterSeconds: 60,
        reason: 'invalid_client',
        retryable: true,
      },
    },
  ])('$err.kind -> $payload.code', ({ err, extra, cls, payload, internal }) => {
    const out = fromTokenEndpoint(err, { ...ctx, ...extra });
    expect(out).toBeInstanceOf(cls as typeof Error);
    expect(out.toPayload()).toEqual(payload);
    expect(out.details.internal).toBe(internal);
    expect(out.cause).toBe(err);
  });
});

describe('error boundary: store', () => {
  it('a driver error becomes store_unavailable with one retry figure, the driver text kept for the logs only', () => {
    const driver = new Error('connect ECONNREFUSED 10.1.2.3:6379');
    const out = fromStoreFailure(driver, {
      message: 'the grant store is unavailable (redis); retry shortly',
      backend: 'redis',
    });
    expect(out).toBeInstanceOf(StoreUnavailableError);
    expect(out.cause).toBe(driver);
    expect(out.details.internal).toBe('redis: connect ECONNREFUSED 10.1.2.3:6379');
    expect(out.toPayload()).toEqual({
      code: 'store_unavailable',
      message: 'the grant store is unavailable (redis); retry shortly',
      retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
      retryable: true,
    });
    expect(JSON.stringify(out.toPayload())).not.toContain('10.1.2.3');
  });

  it('a thrown non-Error is kept as the cause too', () => {
    const out = fromStoreFailure('timeout', { message: 'The grant store could not be read.' });
    expect(out.cause).toBe('timeout');
    expect(out.details.internal).toBe('timeout');
  });

  it('an error already translated nearer its source passes unchanged', () => {
    const inner = new StoreUnavailableError('a stored grant could not be decrypted: wrong key');
    expect(fromStoreFailure(inner, { message: 'other' })).toBe(inner);
    const reauth = new ReauthRequiredError('m');
    expect(fromStoreFailure(reauth, { message: 'other' })).toBe(reauth);
  });
});

describe('error boundary: at the entry point', () => {
  const ctx = { provider: 'notes', scopes: ['notes:read'], defaultRetryAfterSeconds: 5 };

  it('passes gateway errors, translates token failures, and hides anything else', () => {
    const gerr = new ReauthRequiredError('m');
    expect(toGatewayError(gerr, ctx)).toBe(gerr);

    const token = new TokenEndpointError('notes', 'transient', { status: 503 });
    expect(toGatewayError(token, ctx).toPayload()).toMatchObject({ code: 'provider_unavailable', provider: 'notes' });

    const bug = new TypeError("Cannot read properties of undefined (reading 'canary-secret')");
    const out = toGatewayError(bug, ctx);
    expect(out).toBeInstanceOf(DownstreamError);
    expect(out.cause).toBe(bug);
    expect(out.toPayload()).toEqual({
      code: 'downstream_error',
      message: 'The gateway failed while handling this call.',
      reason: 'internal',
      retryable: false,
    });
  });
});
