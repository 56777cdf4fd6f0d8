// Who is calling over HTTP: the identity a verified inbound token establishes.
import type { ResolvedIdentity } from '../config/types.js';
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
  /** Seconds since the epoch (the token's `exp`). */
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

/** Scope arithmetic is policy's; re-exported for identity's step-up gate. */
export { missingScopes } from '../policy/scopes.js';
