// Verifies an inbound bearer token (a JWT against the issuer's JWKS, or an opaque one by introspection).
import { createRemoteJWKSet, customFetch, decodeProtectedHeader, errors, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { type Clock, systemClock } from '../clock.js';
import type { ResolvedIdentity } from '../config/types.js';
import { memoiseUnlessRejected } from '../memo.js';
import { type CallerIdentity, callerFromClaims } from './caller.js';
import { createIssuerDiscovery } from './discovery.js';
import { InvalidTokenError, isBearerError, VerifierUnavailableError } from './errors.js';
import { introspect } from './introspection.js';

export interface TokenVerifierOptions {
  /**
   * The gateway's resource URL (RFC 8707), such as `http://127.0.0.1:8787/mcp`: a token's audience
   * must name it. `identity.audience`, where set, takes its place.
   */
  resource: string;
  fetch?: typeof fetch;
  clock?: Clock;
  /** Least time between two JWKS fetches caused by an unknown `kid` (jose's cooldown). */
  jwksCooldownMs?: number;
  /** Per request to the issuer (metadata, JWKS, introspection). */
  timeoutMs?: number;
}

export interface TokenVerifier {
  /** The audience a token must carry. */
  readonly resource: string;
  /** Resolves to the caller, or rejects with an InvalidTokenError or VerifierUnavailableError. */
  verify(token: string): Promise<CallerIdentity>;
  /** Discovers the issuer's metadata now, so that a wrong issuer fails at start-up, not at the first call. */
  prepare(): Promise<void>;
}

/** RFC 6750 s.2.1 b64token; anything else is not a bearer token, whatever it is. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_TOKEN_LENGTH = 16 * 1024;

const AT_JWT = /^(application\/)?at\+jwt$/i;

/** The gateway's resource identifier: the configured audience, else the transport's URL. */
export function gatewayResource(identity: Pick<ResolvedIdentity, 'audience'>, resource: string): string {
  return identity.audience ?? resource;
}

/** A compact JWS has three segments and a header that decodes; anything else is opaque to us. */
function isCompactJws(token: string): boolean {
  if (token.split('.').length !== 3) return false;
  try {
    return typeof decodeProtectedHeader(token).alg === 'string';
  } catch {
    return false;
  }
}

/** jose's failures, told apart: the token's fault (401) or the issuer's reachability (503). */
function translateJoseError(err: unknown): Error {
  if (isBearerError(err)) return err;
  const cause = { cause: err };
  if (err instanceof errors.JWTExpired) return new InvalidTokenError('token has expired', cause);
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'nbf':
        return new InvalidTokenError('token is not yet valid', cause);
      case 'iss':
        return new InvalidTokenError('token was issued by another issuer', cause);
      case 'aud':
        return new InvalidTokenError('token was not issued for this resource', cause);
      default:
        return new InvalidTokenError(
          `token claim ${err.claim} is ${err.reason === 'missing' ? 'missing' : 'invalid'}`,
          cause,
        );
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new InvalidTokenError('token algorithm is not allowed', cause);
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return new InvalidTokenError('token signature is invalid', cause);
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return new InvalidTokenError('no key of the issuer matches the token', cause);
  }
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid || err instanceof errors.JOSENotSupported) {
    return new InvalidTokenError('token is malformed', cause);
  }
  // JWKSTimeout, JWKSInvalid, a non-200 JWKS response (a plain JOSEError), or fetch itself failing.
  return new VerifierUnavailableError('the authorization server keys could not be loaded', cause);
}

export function createTokenVerifier(identity: ResolvedIdentity, opts: TokenVerifierOptions): TokenVerifier {
  const resource = gatewayResource(identity, opts.resource);
  new URL(resource); // fail at creation, not at the first call
  if (identity.algorithms.length === 0) throw new TypeError('identity.algorithms: at least one algorithm is required');
  const clock = opts.clock ?? systemClock;
  const timeoutMs = opts.timeoutMs ?? 5_000;
  const typPolicy = identity.accessTokenTyp ?? 'at+jwt-or-absent';
  const discover = createIssuerDiscovery(identity.issuer, { fetch: opts.fetch, clock, timeoutMs });

  /**
   * The issuer's key set; null where the issuer publishes none (then JWTs can only be introspected).
   * Discovery keeps its own failure for a while; here a failure only makes room for the next try.
   */
  const jwks = memoiseUnlessRejected(async (): Promise<JWTVerifyGetKey | null> => {
    const uri = identity.jwksUri ?? (await discover()).jwks_uri;
    if (!uri) return null;
    return createRemoteJWKSet(new URL(uri), {
      timeoutDuration: timeoutMs,
      // An unknown kid makes jose refetch the set (key rotation), at most once per cooldown.
      ...(opts.jwksCooldownMs !== undefined ? { cooldownDuration: opts.jwksCooldownMs } : {}),
      ...(opts.fetch ? { [customFetch]: opts.fetch } : {}),
    });
  });
  const keySet = () => jwks.get();

  const checkTyp = (typ: unknown): void => {
    if (typPolicy === 'any') return;
    if (typ === undefined && typPolicy === 'at+jwt-or-absent') return;
    // RFC 9068 s.4: "at+jwt" keeps an ID token or a logout token from passing as an access token.
    if (typeof typ !== 'string' || !AT_JWT.test(typ)) throw new InvalidTokenError('token type is not at+jwt');
  };

  const verifyJwt = async (token: string, getKey: JWTVerifyGetKey): Promise<CallerIdentity> => {
    const { payload, protectedHeader } = await jwtVerify(token, getKey, {
      issuer: identity.issuer,
      audience: resource,
      // The allow-list only, so `none` and HS256 keyed with the issuer's public key both fail.
      algorithms: identity.algorithms,
      clockTolerance: identity.clockSkewSeconds,
      currentDate: new Date(clock.now()),
      requiredClaims: ['exp'],
    }).catch((err: unknown) => {
      throw translateJoseError(err);
    });
    checkTyp(protectedHeader.typ);
    return callerFromClaims(identity, payload as Record<string, unknown>, 'jwt');
  };

  const verifyOpaque = async (token: string): Promise<CallerIdentity> => {
    const intro = identity.introspection;
    if (!intro) throw new InvalidTokenError('token is not a JWT, and no introspection is configured');
    const claims = await introspect(token, {
      ...intro,
      issuer: identity.issuer,
      resource,
      clockSkewSeconds: identity.clockSkewSeconds,
      clock,
      timeoutMs,
      fetch: opts.fetch,
    });
    return callerFromClaims(identity, claims, 'introspection');
  };

  return {
    resource,
    async prepare() {
      await keySet();
    },
    async verify(token) {
      if (!token || token.length > MAX_TOKEN_LENGTH || !B64TOKEN.test(token)) {
        throw new InvalidTokenError('token is malformed');
      }
      if (!isCompactJws(token)) return verifyOpaque(token);
      let getKey: JWTVerifyGetKey | null;
      try {
        getKey = await keySet();
      } catch (err) {
        throw translateJoseError(err);
      }
      if (getKey) return verifyJwt(token, getKey);
      // An issuer without a JWKS can still vouch for its JWTs by introspection.
      return verifyOpaque(token);
    },
  };
}
