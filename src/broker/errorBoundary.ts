// The one place where failures from outside (token endpoints, stores, anything unforeseen) become gateway errors.
//
// It lives in the broker because only the broker talks to token endpoints and stores; the gateway's
// entry point uses `toGatewayError` for whatever else escapes. Every translation keeps `cause`, so
// the logs hold the foreign error while the agent sees a code and a safe message.
import {
  DownstreamError,
  type GatewayError,
  InsufficientScopeError,
  isGatewayError,
  ProviderUnavailableError,
  ReauthRequiredError,
  StoreUnavailableError,
} from '../errors.js';
import { TokenEndpointError } from '../providers/errors.js';

/**
 * Told to the agent for every store failure. Stores fail fast (a timeout, a refused connection)
 * and the lock waits in one-second steps, so a second is the honest figure.
 */
export const STORE_RETRY_AFTER_SECONDS = 1;

/** Told when the provider refused the gateway's own request: the operator must act, so no quick retry. */
export const REJECTED_RETRY_AFTER_SECONDS = 60;

export interface TokenFailureContext {
  /** The provider as the gateway names it (the config's key). */
  provider: string;
  /** The scopes the tool needs: named in reauth and scope errors. */
  scopes: readonly string[];
  /** Told to the agent when a transient failure came with no Retry-After. */
  defaultRetryAfterSeconds: number;
  /**
   * What was presented when the answer was "dead": the grant's refresh token (the grant is gone),
   * or an exchange's subject token (the grant's tokens are refused). Default `refresh_token`.
   */
  presented?: 'refresh_token' | 'subject_token';
  /** For logs and audit, in place of the OAuth error code. */
  internal?: string;
}

/** A failed token request, judged by its kind: only `dead` asks the user for anything. */
export function fromTokenEndpoint(err: TokenEndpointError, ctx: TokenFailureContext): GatewayError {
  const provider = ctx.provider;
  const scopes = [...ctx.scopes];
  const kind = err.kind;
  switch (kind) {
    case 'dead':
      return new ReauthRequiredError(
        ctx.presented === 'subject_token'
          ? `${provider} no longer accepts this grant's tokens; access must be granted again.`
          : `The ${provider} authorization server no longer accepts this grant; access must be granted again.`,
        { provider, scopes, reason: 'invalid_grant', internal: ctx.internal ?? err.oauthError },
        { cause: err },
      );
    case 'invalid_scope':
      return new InsufficientScopeError(
        `${provider} refused the scopes this tool needs.`,
        { provider, scopes, missingScopes: scopes, internal: ctx.internal ?? err.oauthError },
        { cause: err },
      );
    case 'transient':
      return new ProviderUnavailableError(
        `${provider} is not answering right now.`,
        {
          provider,
          retryAfterSeconds: err.retryAfterSeconds ?? ctx.defaultRetryAfterSeconds,
          internal: ctx.internal ?? err.message,
        },
        { cause: err },
      );
    case 'rejected':
      // Refused for a reason the user cannot fix (client configuration): tell the operator, not the user.
      return new ProviderUnavailableError(
        `${provider} refused the gateway's request; the operator must check its configuration.`,
        {
          provider,
          retryAfterSeconds: REJECTED_RETRY_AFTER_SECONDS,
          reason: err.oauthError,
          internal: ctx.internal ?? err.message,
        },
        { cause: err },
      );
  }
  const _exhaustive: never = kind;
  return _exhaustive;
}

export interface StoreFailureContext {
  /** Safe for the agent: names what failed, never a host or a driver's words. */
  message: string;
  /** sqlite, redis, postgres, memory: prefixed to the driver's message in `internal`. */
  backend?: string;
}

/**
 * A store or lock backend failed (keyv, Redis, Postgres, sqlite, a timeout). The driver's message
 * may name hosts, so it goes to `internal` and `cause` only. An error that is already a gateway
 * error was translated nearer its source and passes unchanged.
 */
export function fromStoreFailure(cause: unknown, ctx: StoreFailureContext): GatewayError {
  if (isGatewayError(cause)) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new StoreUnavailableError(
    ctx.message,
    {
      retryAfterSeconds: STORE_RETRY_AFTER_SECONDS,
      internal: ctx.backend ? `${ctx.backend}: ${detail}` : detail,
    },
    { cause },
  );
}

/**
 * The entry point's handler: a gateway error passes; a token failure that escaped the broker is
 * translated as the broker would; anything else is the gateway's own fault, told as little as possible.
 */
export function toGatewayError(err: unknown, ctx: TokenFailureContext): GatewayError {
  if (isGatewayError(err)) return err;
  if (err instanceof TokenEndpointError) return fromTokenEndpoint(err, ctx);
  return new DownstreamError('The gateway failed while handling this call.', { reason: 'internal' }, { cause: err });
}
