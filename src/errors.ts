// The error contract of DESIGN.md: one class per code, and the single shape the agent sees.

export const ERROR_CODES = [
  'reauth_required',
  'insufficient_scope',
  'approval_required',
  'approval_denied',
  'provider_unavailable',
  'downstream_error',
  'invalid_arguments',
  'forbidden',
  'store_unavailable',
] as const;

/** Every code an agent may see. Those in RESERVED_ERROR_CODES are not produced yet. */
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Codes in the contract that the gateway does not produce yet: approvals and allow/deny policy
 * (issue 11) will. Clients may already switch on them; nothing in this version answers with them.
 */
export const RESERVED_ERROR_CODES = [
  'approval_required',
  'approval_denied',
  'forbidden',
] as const satisfies readonly ErrorCode[];

export type ReservedErrorCode = (typeof RESERVED_ERROR_CODES)[number];

export type ReauthReason = 'no_grant' | 'invalid_grant' | 'revoked' | 'consent_expired' | 'needs_reauth';

/** What `structuredContent.error` holds. Never a token, never a header, never a provider body. */
export interface ToolErrorPayload {
  code: ErrorCode;
  message: string;
  provider?: string;
  scopes?: string[];
  missingScopes?: string[];
  authorizeUrl?: string;
  reason?: string;
  retryable: boolean;
  retryAfterSeconds?: number;
  callId?: string;
  /** downstream_error: the HTTP status the API answered with. */
  status?: number;
  /** invalid_arguments: what was wrong, as `path: message`. */
  issues?: string[];
}

/** Set once, at construction: an error is never changed after it is thrown (see `withDetails`). */
export interface GatewayErrorDetails {
  readonly provider?: string;
  readonly scopes?: readonly string[];
  readonly missingScopes?: readonly string[];
  readonly authorizeUrl?: string;
  readonly reason?: string;
  readonly retryAfterSeconds?: number;
  readonly status?: number;
  readonly issues?: readonly string[];
  /** Overrides the class's own judgement where the case knows better (a renewed credential). */
  readonly retryable?: boolean;
  /** Detail for logs and audit only; never shown to the agent. */
  readonly internal?: string;
}

type GatewayErrorClass<E extends GatewayError> = new (
  message: string,
  details?: GatewayErrorDetails,
  options?: { cause?: unknown },
) => E;

function frozenDetails(details: GatewayErrorDetails): GatewayErrorDetails {
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (v !== undefined) copy[k] = Array.isArray(v) ? Object.freeze([...v]) : v;
  }
  return Object.freeze(copy) as GatewayErrorDetails;
}

/** Base class: a stable `code`, a safe `message`, and `cause` kept for the logs. */
export abstract class GatewayError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly retryable: boolean;
  readonly details: GatewayErrorDetails;

  constructor(message: string, details: GatewayErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.details = frozenDetails(details);
  }

  /**
   * The same error (class, message, cause) with `extra` laid over its details. Errors travel
   * through caches and single-flight promises shared by several calls, so one call filling in its
   * own authorize URL must not change what another call sees.
   */
  withDetails(extra: GatewayErrorDetails): this {
    const Same = this.constructor as GatewayErrorClass<this>;
    return new Same(this.message, { ...this.details, ...extra }, { cause: this.cause });
  }

  toPayload(callId?: string): ToolErrorPayload {
    const { internal: _internal, retryable: _retryable, ...safe } = this.details;
    const payload: ToolErrorPayload = { code: this.code, message: this.message, retryable: this.retryable };
    for (const [k, v] of Object.entries(safe)) {
      if (v !== undefined) (payload as unknown as Record<string, unknown>)[k] = Array.isArray(v) ? [...v] : v;
    }
    if (callId) payload.callId = callId;
    return payload;
  }
}

export class ReauthRequiredError extends GatewayError {
  readonly code = 'reauth_required' as const;
  readonly retryable = false;
}

export class InsufficientScopeError extends GatewayError {
  readonly code = 'insufficient_scope' as const;
  readonly retryable = false;
}

export class ApprovalRequiredError extends GatewayError {
  readonly code = 'approval_required' as const;
  readonly retryable = true;
}

export class ApprovalDeniedError extends GatewayError {
  readonly code = 'approval_denied' as const;
  readonly retryable = false;
}

export class ProviderUnavailableError extends GatewayError {
  readonly code = 'provider_unavailable' as const;
  readonly retryable = true;
}

export class DownstreamError extends GatewayError {
  readonly code = 'downstream_error' as const;
  get retryable(): boolean {
    if (this.details.retryable !== undefined) return this.details.retryable;
    const s = this.details.status;
    if (s !== undefined) return s === 429 || s >= 500;
    return this.details.reason === 'timeout' || this.details.reason === 'network';
  }
}

export class InvalidArgumentsError extends GatewayError {
  readonly code = 'invalid_arguments' as const;
  readonly retryable = false;
}

export class ForbiddenError extends GatewayError {
  readonly code = 'forbidden' as const;
  readonly retryable = false;
}

export class StoreUnavailableError extends GatewayError {
  readonly code = 'store_unavailable' as const;
  readonly retryable = true;
}

export type AnyGatewayError =
  | ReauthRequiredError
  | InsufficientScopeError
  | ApprovalRequiredError
  | ApprovalDeniedError
  | ProviderUnavailableError
  | DownstreamError
  | InvalidArgumentsError
  | ForbiddenError
  | StoreUnavailableError;

export function isGatewayError(err: unknown): err is AnyGatewayError {
  return err instanceof GatewayError;
}

/**
 * Whether the user must act (grant access) before a retry can work: such errors carry an authorize
 * URL and may be sent as a URL elicitation.
 */
export function needsUserGrant(code: ErrorCode): boolean {
  switch (code) {
    case 'reauth_required':
    case 'insufficient_scope':
      return true;
    case 'approval_required':
    case 'approval_denied':
    case 'provider_unavailable':
    case 'downstream_error':
    case 'invalid_arguments':
    case 'forbidden':
    case 'store_unavailable':
      return false;
  }
  // No `default`: a new code must be placed in one of the lists above, or this stops the typecheck.
  const _exhaustive: never = code;
  return _exhaustive;
}

/** One short line for the text content: what the user should do. */
export function userAction(payload: ToolErrorPayload): string {
  const code = payload.code;
  switch (code) {
    case 'reauth_required':
    case 'insufficient_scope':
      return payload.authorizeUrl
        ? `${payload.message} Ask the user to open ${payload.authorizeUrl} to grant access, then retry.`
        : payload.message;
    case 'provider_unavailable':
    case 'store_unavailable':
      return payload.retryAfterSeconds !== undefined
        ? `${payload.message} Retry in ${payload.retryAfterSeconds} s.`
        : payload.message;
    case 'approval_required':
    case 'approval_denied':
    case 'downstream_error':
    case 'invalid_arguments':
    case 'forbidden':
      return payload.message;
  }
  const _exhaustive: never = code;
  return _exhaustive;
}

/** Raised at start-up for a bad config: every problem, each with its path. */
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[], source?: string) {
    super(`${source ? `${source}: ` : ''}invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Raised by the tool loader: names the file and the path inside it. */
export class ToolDefinitionError extends Error {
  readonly file: string;
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`${file}: invalid tool definition:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ToolDefinitionError';
    this.file = file;
    this.problems = problems;
  }
}
