// Signing people in at the gateway's inbound identity provider (OIDC code + PKCE), so /connect knows who is at the browser.
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import type { Clock } from '../clock.js';
import type { ResolvedIdentity } from '../config/types.js';
import { memoiseUnlessRejected } from '../memo.js';
import type { RecordStore } from '../records.js';
import { ReasonError } from './errors.js';
import { keys, type SignInState, STATE_TTL_MS, writeLive } from './records.js';

export interface SignInClient {
  clientId: string;
  clientSecret?: string;
}

export interface SignIn {
  redirectUri: string;
  /**
   * Where to send the browser to sign in; `returnTo` is a path on the gateway. `binding` is a
   * random value the caller also puts in a cookie on that browser.
   */
  begin(returnTo: string, binding: string): Promise<URL>;
  /** Finishes at the sign-in callback: who signed in, and where they were going. */
  complete(currentUrl: URL, binding: string | undefined): Promise<{ user: string; tenant?: string; returnTo: string }>;
}

export class SignInError extends ReasonError<
  'not_configured' | 'unknown_state' | 'rejected' | 'no_user' | 'unavailable'
> {}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}

/** Only a path on this gateway: never another origin, never `//host`. */
export function safeReturnPath(value: unknown, fallback = '/accounts'): string {
  if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\'))
    return fallback;
  return value.length > 2048 ? fallback : value;
}

/**
 * The client the gateway signs in with: the one configured, else one registered dynamically
 * (RFC 7591) at the issuer on first use and remembered in the store, so every instance and
 * restart reuses it.
 */
export function createSignIn(
  deps: { records: RecordStore; clock: Clock; fetch?: typeof fetch },
  identity: ResolvedIdentity,
  opts: { publicUrl: string; client?: SignInClient },
): SignIn {
  const redirectUri = `${opts.publicUrl.replace(/\/+$/, '')}/signin/callback`;
  const issuer = new URL(identity.issuer);
  const execute = issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [];
  const base = {
    execute,
    ...(deps.fetch ? { [oidc.customFetch]: deps.fetch as unknown as oidc.CustomFetch } : {}),
  };
  async function resolveConfig(): Promise<oidc.Configuration> {
    if (opts.client) {
      return oidc.discovery(
        issuer,
        opts.client.clientId,
        opts.client.clientSecret,
        opts.client.clientSecret ? undefined : oidc.None(),
        base,
      );
    }
    const recordKey = keys.signInClient(
      createHash('sha256').update(`${issuer.href} ${redirectUri}`).digest('base64url'),
    );
    const known = await deps.records.get<{ clientId: string }>(recordKey);
    if (known) return oidc.discovery(issuer, known.clientId, undefined, oidc.None(), base);
    const config = await oidc.dynamicClientRegistration(
      issuer,
      {
        client_name: 'Keyward',
        redirect_uris: [redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'none',
        application_type: 'web',
      },
      oidc.None(),
      base,
    );
    await deps.records.set(recordKey, { clientId: config.clientMetadata().client_id });
    return config;
  }

  const configuration = memoiseUnlessRejected(resolveConfig).get;

  return {
    redirectUri,
    async begin(returnTo, binding) {
      let config: oidc.Configuration;
      try {
        config = await configuration();
      } catch (err) {
        throw new SignInError('unavailable', 'the identity provider could not be reached', { cause: err });
      }
      const codeVerifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const now = deps.clock.now();
      const record: SignInState = {
        codeVerifier,
        nonce,
        bindingHash: digest(binding),
        returnTo: safeReturnPath(returnTo),
        expiresAt: now + STATE_TTL_MS,
      };
      await writeLive(deps.records, keys.signInState(state), record, deps.clock);
      const scope = ['openid', ...(identity.userClaim === 'email' ? ['email'] : [])].join(' ');
      return oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope,
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      });
    },
    async complete(currentUrl, binding) {
      const state = currentUrl.searchParams.get('state');
      if (!state || !/^[A-Za-z0-9_-]{16,128}$/.test(state)) throw new SignInError('unknown_state', 'no sign-in state');
      const record = await deps.records.take<SignInState>(keys.signInState(state));
      if (!record || record.expiresAt <= deps.clock.now()) {
        throw new SignInError('unknown_state', 'unknown, used or expired sign-in state');
      }
      // Login CSRF: a callback URL made in someone else's browser must not sign this one in.
      if (!binding || digest(binding) !== record.bindingHash) {
        throw new SignInError('unknown_state', 'the sign-in was started in another browser');
      }
      let config: oidc.Configuration;
      try {
        config = await configuration();
      } catch (err) {
        throw new SignInError('unavailable', 'the identity provider could not be reached', { cause: err });
      }
      let claims: oidc.IDToken | undefined;
      try {
        const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: record.codeVerifier,
          expectedState: state,
          expectedNonce: record.nonce,
          idTokenExpected: true,
        });
        claims = tokens.claims();
      } catch (err) {
        throw new SignInError('rejected', 'the sign-in was not completed', { cause: err });
      }
      const user = claims?.[identity.userClaim];
      if (typeof user !== 'string' || !user)
        throw new SignInError('no_user', `the ID token has no "${identity.userClaim}"`);
      let tenant: string | undefined;
      if (identity.tenantClaim) {
        const t = claims?.[identity.tenantClaim];
        if (typeof t !== 'string' || !t)
          throw new SignInError('no_user', `the ID token has no "${identity.tenantClaim}"`);
        tenant = t;
      }
      return { user, ...(tenant ? { tenant } : {}), returnTo: record.returnTo };
    },
  };
}
