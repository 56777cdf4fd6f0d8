// Verifies the ID token a provider returned with the code: signature, issuer, audience, nonce (the broker checks it before storing a grant).
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';

const jwksByUri = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function jwksFor(uri: string): ReturnType<typeof createRemoteJWKSet> {
  let jwks = jwksByUri.get(uri);
  if (!jwks) {
    jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration: 10_000 });
    jwksByUri.set(uri, jwks);
  }
  return jwks;
}

export class IdTokenError extends Error {
  constructor(
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`ID token rejected: ${reason}`, options);
    this.name = 'IdTokenError';
  }
}

/**
 * The claims of a verified ID token. The token came straight from the token endpoint over a
 * connection we opened, so TLS vouches for it too; the signature check is what makes the
 * `sub` safe to compare with the user the flow was for.
 */
export async function verifyIdToken(
  idToken: string,
  opts: { issuer: string; jwksUri: string; clientId: string; nonce: string; nowMs: number; clockSkewSeconds?: number },
): Promise<JWTPayload> {
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, jwksFor(opts.jwksUri), {
      issuer: opts.issuer,
      audience: opts.clientId,
      currentDate: new Date(opts.nowMs),
      clockTolerance: opts.clockSkewSeconds ?? 60,
      // OIDC Core s.2: an ID token always has these; jose checks exp and nbf only where present.
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    }));
  } catch (err) {
    throw new IdTokenError((err as { code?: string }).code ?? 'invalid', { cause: err });
  }
  if (payload.nonce !== opts.nonce) throw new IdTokenError('nonce_mismatch');
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== opts.clientId) {
    throw new IdTokenError('azp_mismatch');
  }
  return payload;
}
