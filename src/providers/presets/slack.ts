// Slack OAuth v2 with token rotation: every response has `ok`, and a dead token is ok:false with HTTP 200.
import { failureOfError } from '../classify.js';
import { reportableError } from '../tokenClient.js';
import type { ProviderPreset, RevocationOutcome, TokenResponseVerdict, TokenResponseView } from '../types.js';

const DEAD = new Set(['invalid_refresh_token']);

function classifySlack(view: TokenResponseView): TokenResponseVerdict {
  const { status, body } = view;
  if (status >= 500 || status === 429) return { ok: false, kind: 'transient' };
  if (body?.ok === false) {
    const error = typeof body.error === 'string' ? body.error : 'unknown_error';
    if (DEAD.has(error)) return { ok: false, kind: 'dead', error };
    return { ok: false, kind: error === 'ratelimited' ? 'transient' : failureOfError(error, 400), error };
  }
  if (body?.ok === true && typeof body.access_token === 'string' && body.access_token) return { ok: true };
  return { ok: false, kind: 'transient', error: 'malformed_response' };
}

export const slack: ProviderPreset = {
  name: 'slack',
  title: 'Slack',
  endpoints: () => ({
    authorizationEndpoint: 'https://slack.com/oauth/v2/authorize',
    tokenEndpoint: 'https://slack.com/api/oauth.v2.access',
  }),
  clientAuth: 'client_secret_basic',
  scopeSeparator: ' ',
  offlineAccess: { note: 'turn on token rotation in the Slack app settings; refresh tokens come only then' },
  narrowing: 'none',
  resourceParameter: false,
  rotation: 'rotates',
  exchange: 'none',
  pkce: 'S256',
  classify: classifySlack,
  async revoke(ctx): Promise<RevocationOutcome> {
    const token = ctx.tokens.accessToken;
    if (!token) return { supported: true, revoked: false, detail: 'auth.revoke takes an access token; none is stored' };
    // auth.revoke is called with the token itself, next to the token method.
    const url = new URL('auth.revoke', ctx.endpoints.tokenEndpoint);
    const res = await ctx.fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
      signal: ctx.signal,
      redirect: 'manual',
    });
    const body = (await res.json().catch(() => undefined)) as { ok?: boolean; error?: string } | undefined;
    return body?.ok === true
      ? { supported: true, revoked: true, detail: 'revoked at Slack (auth.revoke)' }
      : {
          supported: true,
          revoked: false,
          detail: `auth.revoke failed (${reportableError(body?.error, [token]) ?? `HTTP ${res.status}`})`,
        };
  },
  unconfirmed: ['narrower scope on refresh', 'HTTP status of a dead refresh token (200 is assumed, any is handled)'],
};
