// Inbound bearer-token failures, one class per RFC 6750 error code, each knowing its HTTP status.

/** RFC 6750 s.3.1 codes, plus `unavailable` for when the token cannot be checked at all. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'unavailable';

/**
 * Base class. `message` is safe to show the caller (it goes into `error_description`): it never
 * holds the token, and for verification failures it names the check that failed, nothing more.
 */
export abstract class BearerError extends Error {
  abstract readonly code: BearerErrorCode;
  abstract readonly status: number;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request with a malformed Authorization header, or a token where we refuse to read one (the URL). */
export class InvalidRequestError extends BearerError {
  readonly code = 'invalid_request' as const;
  readonly status = 400;
}

/** Expired, revoked, malformed, for another audience or issuer, or not signed by the issuer. */
export class InvalidTokenError extends BearerError {
  readonly code = 'invalid_token' as const;
  readonly status = 401;
}

/**
 * A valid token without the scopes that this request needs: a 403 and a challenge to the MCP client.
 * Not the agent-facing `InsufficientScopeError` of src/errors.ts, which is a tool result.
 */
export class InboundInsufficientScopeError extends BearerError {
  readonly code = 'insufficient_scope' as const;
  readonly status = 403;
  /** The scopes the request needs (what goes into the challenge's `scope`). */
  readonly scopes: string[];

  constructor(message: string, scopes: string[], options?: { cause?: unknown }) {
    super(message, options);
    this.scopes = scopes;
  }
}

/**
 * The issuer's metadata, JWKS or introspection endpoint could not be reached. Not the caller's
 * fault, so not a 401: a client that got 401 would throw its token away and sign in again.
 */
export class VerifierUnavailableError extends BearerError {
  readonly code = 'unavailable' as const;
  readonly status = 503;
}

export type AnyBearerError =
  | InvalidRequestError
  | InvalidTokenError
  | InboundInsufficientScopeError
  | VerifierUnavailableError;

export function isBearerError(err: unknown): err is AnyBearerError {
  return err instanceof BearerError;
}
