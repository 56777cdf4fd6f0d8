// Who is calling over HTTP: the identity a verified inbound token establishes, and its scope checks.
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { ResolvedIdentity } from '../config/types.js';
import { InsufficientScopeError as GatewayInsufficientScopeError } from '../errors.js';
import type { ToolDefinition } from '../tools/types.js';
import { InvalidTokenError } from './errors.js';

/**
 * The caller as a verified token describes it. There is deliberately no token field: once
 * verified, the inbound token is dropped, so it can be neither sent downstream nor used as a grant
 * (no token passthrough). Downstream credentials come only from the broker.
 */
export interface CallerIdentity {
  /** The configured user claim (`sub` or `email`). Grants are keyed by it (and `tenant`). */
  user: string;
  /** The configured tenant claim, where one is configured. */
  tenant?: string;
  /** The MCP client (agent): `azp`, else `client_id`. */
  client: string;
  /** Gateway scopes the token carries (`scope`, and `scp` where an issuer uses that). */
  scopes: string[];
  /** Seconds since the epoch, as the SDK's AuthInfo counts. */
  expiresAt: number;
  /** `jti`, for audit: the id of the credential the caller presented. */
  tokenId?: string;
  issuer: string;
  /** How the token was checked. */
  via: 'jwt' | 'introspection';
  /** Every claim of the token (or introspection response), for policy; never a token. */
  claims: Readonly<Record<string, unknown>>;
}

/** `scope` is a space-separated string (RFC 9068, RFC 7662); `scp` an array or string (Entra, Okta). */
export function scopesOf(claims: Record<string, unknown>): string[] {
  const out = new Set<string>();
  for (const value of [claims.scope, claims.scp]) {
    const list = typeof value === 'string' ? value.split(/\s+/) : Array.isArray(value) ? value : [];
    for (const s of list) if (typeof s === 'string' && s) out.add(s);
  }
  return [...out];
}

function stringClaim(claims: Record<string, unknown>, name: string): string | undefined {
  const v = claims[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** Builds the caller from claims that are already verified (signature or introspection, time, audience). */
export function callerFromClaims(
  identity: ResolvedIdentity,
  claims: Record<string, unknown>,
  via: CallerIdentity['via'],
): CallerIdentity {
  const user = stringClaim(claims, identity.userClaim);
  if (!user) throw new InvalidTokenError(`token has no ${identity.userClaim} claim`);
  // The client is recorded as the agent in audit and as `act` in minted credentials: no client, no call.
  const client = stringClaim(claims, 'azp') ?? stringClaim(claims, 'client_id');
  if (!client) throw new InvalidTokenError('token names no client (azp or client_id)');
  let tenant: string | undefined;
  if (identity.tenantClaim) {
    tenant = stringClaim(claims, identity.tenantClaim);
    // Grants are keyed by tenant: a token without one must not fall into a shared, tenant-less key.
    if (!tenant) throw new InvalidTokenError(`token has no ${identity.tenantClaim} claim`);
  }
  const exp = claims.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new InvalidTokenError('token has no expiry');
  const caller: CallerIdentity = {
    user,
    client,
    scopes: scopesOf(claims),
    expiresAt: exp,
    issuer: stringClaim(claims, 'iss') ?? identity.issuer,
    via,
    claims: Object.freeze({ ...claims }),
  };
  if (tenant) caller.tenant = tenant;
  const jti = stringClaim(claims, 'jti');
  if (jti) caller.tokenId = jti;
  return caller;
}

export function missingScopes(held: readonly string[], needed: readonly string[]): string[] {
  return needed.filter((s) => !held.includes(s));
}

/**
 * The SDK's AuthInfo for the transport, which hands it to tool handlers as `extra.authInfo`.
 * This is where the inbound token is dropped: AuthInfo requires a `token` string, and it gets an
 * empty one, so nothing past the identity layer can forward, log or store the caller's token.
 */
export function toAuthInfo(caller: CallerIdentity, resource: string): AuthInfo {
  return {
    token: '',
    clientId: caller.client,
    scopes: caller.scopes,
    expiresAt: caller.expiresAt,
    resource: new URL(resource),
    extra: { caller },
  };
}

/** The caller that `requireCaller` put on the request, read back from `extra.authInfo`. */
export function readCaller(authInfo: AuthInfo | undefined): CallerIdentity | undefined {
  const caller = authInfo?.extra?.caller;
  if (caller && typeof caller === 'object' && typeof (caller as CallerIdentity).user === 'string') {
    return caller as CallerIdentity;
  }
  return undefined;
}

/**
 * Step-up on the tool-call path, where the HTTP layer could not see the tool (a batch, or a
 * transport other than ours): throws the gateway's `insufficient_scope`, which becomes the tool
 * result. Where the HTTP layer did see it, the client already got a 403 and a challenge.
 */
export function checkGatewayScopes(
  caller: Pick<CallerIdentity, 'scopes'>,
  tool: Pick<ToolDefinition, 'gatewayScopes'>,
): void {
  const needed = tool.gatewayScopes ?? [];
  const missing = missingScopes(caller.scopes, needed);
  if (missing.length > 0) {
    throw new GatewayInsufficientScopeError(
      `The caller's sign-in lacks gateway scopes this tool needs (${missing.join(' ')}); sign in again and grant them.`,
      { scopes: needed, missingScopes: missing, reason: 'gateway_scope' },
    );
  }
}
