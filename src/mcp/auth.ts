// A verified HTTP caller as it travels through the SDK to the tool handler: the SDK's AuthInfo, without the token.
import type { IncomingMessage } from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { Caller } from '../gateway/toolCall.js';

/** What the HTTP layer verified about a request: the gateway's caller plus what the token granted. */
export interface AuthenticatedCaller extends Caller {
  /** The scopes the inbound token carries. */
  scopes: readonly string[];
  /** Seconds since the epoch. */
  expiresAt?: number;
}

/** `req.auth` is where the SDK's Streamable HTTP transport reads AuthInfo from. */
export type RequestWithAuth = IncomingMessage & { auth?: AuthInfo };

/**
 * The SDK's AuthInfo, which it hands tool handlers as `extra.authInfo`. AuthInfo requires a
 * `token` string, and it gets an empty one: nothing past the identity layer can forward, log or
 * store the caller's token (no token passthrough).
 */
export function toAuthInfo(caller: AuthenticatedCaller, resource: string): AuthInfo {
  return {
    token: '',
    clientId: caller.client,
    scopes: [...caller.scopes],
    ...(caller.expiresAt !== undefined ? { expiresAt: caller.expiresAt } : {}),
    resource: new URL(resource),
    extra: { caller },
  };
}

/** The caller that toAuthInfo put there, read back in a tool handler. */
export function callerFromAuthInfo(authInfo: AuthInfo | undefined): AuthenticatedCaller | undefined {
  const caller = authInfo?.extra?.caller;
  if (caller && typeof caller === 'object') {
    const c = caller as Partial<AuthenticatedCaller>;
    if (typeof c.user === 'string' && typeof c.client === 'string' && Array.isArray(c.scopes)) {
      return caller as AuthenticatedCaller;
    }
  }
  return undefined;
}

/** What the HTTP layer hands the MCP layer with a request: who verified it, and for which resource. */
export interface RequestAuth {
  caller: AuthenticatedCaller;
  /** The gateway's resource identifier, the token's audience. */
  resource: string;
}

/** Puts the caller where the SDK's transport looks for it. */
export function attachCaller(req: IncomingMessage, auth: RequestAuth | undefined): void {
  if (auth) (req as RequestWithAuth).auth = toAuthInfo(auth.caller, auth.resource);
}
