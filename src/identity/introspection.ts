// RFC 7662 introspection of opaque inbound tokens: the issuer says whether a token is live, and for whom.
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { InvalidTokenError, VerifierUnavailableError } from './errors.js';

const NumericDate = z.number().finite();

/** An introspection response is the issuer's format: loose, with the fields we rely on checked. */
const IntrospectionResponse = z.looseObject({
  active: z.boolean(),
  scope: z.string().optional(),
  client_id: z.string().optional(),
  token_type: z.string().optional(),
  exp: NumericDate.optional(),
  nbf: NumericDate.optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  sub: z.string().optional(),
  jti: z.string().optional(),
});

export interface IntrospectionOptions {
  endpoint: string;
  clientId: string;
  clientSecret: string;
  issuer: string;
  /** The gateway's resource: the token's audience must include it. */
  resource: string;
  clockSkewSeconds: number;
  clock: Clock;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** RFC 6749 s.2.3.1: each part is form-encoded before the pair is base64-encoded. */
function basicAuth(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** Asks the issuer about `token`; returns its claims if it is live and meant for this gateway. */
export async function introspect(token: string, opts: IntrospectionOptions): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(opts.endpoint, {
      method: 'POST',
      headers: {
        authorization: basicAuth(opts.clientId, opts.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }),
      redirect: 'manual',
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
  } catch (cause) {
    throw new VerifierUnavailableError('the introspection endpoint could not be reached', { cause });
  }
  if (res.status !== 200) {
    await res.body?.cancel();
    // A 401 here means the gateway's own client credentials are wrong: an operator problem.
    throw new VerifierUnavailableError('the introspection endpoint refused the request', {
      cause: new Error(`introspection answered HTTP ${res.status}`),
    });
  }
  const parsed = IntrospectionResponse.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success) {
    throw new VerifierUnavailableError('the introspection endpoint answered something else', { cause: parsed.error });
  }
  const claims = parsed.data;
  if (!claims.active) throw new InvalidTokenError('token is not active');
  if (claims.iss !== undefined && claims.iss !== opts.issuer)
    throw new InvalidTokenError('token was issued by another issuer');
  // Only bearer access tokens: a DPoP-bound token needs a proof we do not check, a refresh token is no access token.
  if (claims.token_type !== undefined && !/^(bearer|access_token)$/i.test(claims.token_type)) {
    throw new InvalidTokenError('token is not a bearer access token');
  }
  // Audience binding is not optional: a live token without our resource in `aud` is someone else's.
  const aud = claims.aud === undefined ? [] : Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(opts.resource)) throw new InvalidTokenError('token was not issued for this resource');
  const now = Math.floor(opts.clock.now() / 1000);
  if (claims.exp === undefined) throw new InvalidTokenError('token has no expiry');
  if (claims.exp <= now - opts.clockSkewSeconds) throw new InvalidTokenError('token has expired');
  if (claims.nbf !== undefined && claims.nbf > now + opts.clockSkewSeconds) {
    throw new InvalidTokenError('token is not yet valid');
  }
  return claims;
}
