// Strategy `mint`: a JWT the gateway signs for this one call: sub user, act client, aud API, exact scopes, jti call id.
import { SignJWT } from 'jose';
import type { ProviderRuntime } from '../../providers/types.js';
import type { CallCredential, CredentialRequest, Grant } from '../types.js';
import { type BrokerContext, countCredential, toCallCredential } from './context.js';

/** No credential outlives a minute, whatever the config says. */
export const MAX_MINT_TTL_SECONDS = 60;

export async function mintCredential(
  ctx: BrokerContext,
  runtime: ProviderRuntime,
  req: CredentialRequest,
  grant: Grant,
  opts: { jti?: string } = {},
): Promise<CallCredential> {
  const jti = opts.jti ?? req.callId;
  const signer = await ctx.signingKeys.signer();
  const iat = Math.floor(ctx.clock.now() / 1000);
  const exp = iat + Math.min(MAX_MINT_TTL_SECONDS, Math.max(1, ctx.mintTtlSeconds));
  const scopes = [...req.tool.scopes];
  const claims: Record<string, unknown> = {
    scope: scopes.join(' '),
    client_id: req.client,
    act: { sub: req.client },
  };
  if (req.tenant) claims.tenant = req.tenant;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'at+jwt' })
    .setIssuer(signer.issuer)
    .setSubject(req.user)
    .setAudience(runtime.audience)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(signer.key);
  countCredential(ctx, runtime.name, 'mint', 'mint');
  return toCallCredential({
    token,
    meta: {
      id: `jti:${jti}`,
      strategy: 'mint',
      narrowed: true,
      scopes,
      audience: runtime.audience,
      grantId: grant.id,
      generation: grant.generation,
      expiresAt: exp * 1000,
    },
  });
}
