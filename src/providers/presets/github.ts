// GitHub App user tokens: expiring, rotated without grace, unscoped, and `bad_refresh_token` when dead.
import { classifyWithDeadCodes } from '../classify.js';
import type { ProviderPreset, RevocationOutcome } from '../types.js';

export const github: ProviderPreset = {
  name: 'github',
  title: 'GitHub',
  endpoints: () => ({
    authorizationEndpoint: 'https://github.com/login/oauth/authorize',
    tokenEndpoint: 'https://github.com/login/oauth/access_token',
    deviceAuthorizationEndpoint: 'https://github.com/login/device/code',
  }),
  // The RFC 8414 document is a preview, so the endpoints above are used instead.
  clientAuth: 'client_secret_post',
  // Without it GitHub answers form-encoded; the token client parses both anyway.
  tokenRequestHeaders: { accept: 'application/json' },
  scopeSeparator: ' ',
  offlineAccess: {
    note: 'GitHub Apps issue expiring user tokens with a refresh token by default; no extra parameter is needed.',
  },
  // App user tokens carry no scopes: access is the app's permissions intersected with the user's.
  narrowing: 'none',
  resourceParameter: false,
  rotation: 'rotates',
  exchange: 'none',
  pkce: 'S256',
  classify: classifyWithDeadCodes(['bad_refresh_token']),
  async revoke(ctx): Promise<RevocationOutcome> {
    const token = ctx.tokens.accessToken;
    if (!token)
      return { supported: true, revoked: false, detail: 'GitHub names the grant by an access token; none is stored' };
    if (!ctx.provider.clientSecret)
      return { supported: true, revoked: false, detail: 'GitHub needs the client secret to revoke' };
    // No RFC 7009: DELETE /applications/{client_id}/grant with Basic client auth ends every token of the grant.
    const base = ctx.provider.apiBaseUrl.replace(/\/+$/, '');
    const url = `${base}/applications/${encodeURIComponent(ctx.provider.clientId)}/grant`;
    const basic = Buffer.from(`${ctx.provider.clientId}:${ctx.provider.clientSecret}`).toString('base64');
    const res = await ctx.fetch(url, {
      method: 'DELETE',
      headers: {
        authorization: `Basic ${basic}`,
        accept: 'application/vnd.github+json',
        'content-type': 'application/json',
        'x-github-api-version': '2022-11-28',
        'user-agent': 'keyward',
      },
      body: JSON.stringify({ access_token: token }),
      signal: ctx.signal,
      redirect: 'manual',
    });
    await res.body?.cancel();
    return res.status === 204
      ? { supported: true, revoked: true, detail: 'grant deleted at GitHub (DELETE /applications/{client_id}/grant)' }
      : { supported: true, revoked: false, detail: `GitHub answered HTTP ${res.status} to the grant deletion` };
  },
  unconfirmed: ['client authentication by HTTP Basic at the token endpoint (parameters are used)'],
};
