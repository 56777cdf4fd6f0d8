// Signing people in at the gateway's inbound identity provider (OIDC code + PKCE), so /connect knows who is at the browser.
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { ResolvedIdentity } from '../config/types.js';
import type { SignInRelyingParty } from '../providers/types.js';
import type { RecordStore } from '../records.js';
import { ReasonError } from './errors.js';
import { keys, type SignInState, STATE_TTL_MS, writeLive } from './records.js';

export interface SignInClient {
  clientId: string;
  clientSecret?: string;
}

/**
 * The OIDC client at the identity provider, built by the composition root (src/providers/signInClient.ts):
 * onboarding runs no token client of its own. A failure carries `stage`: `unavailable` (the provider
 * could not be reached or registered with) or `rejected` (the code exchange or the ID token failed).
 */
export type IdentityProviderClient = SignInRelyingParty;

/** Opens the identity provider client for an origin; a dynamically registered client id is kept in `remember`. */
export type OpenIdentityProviderClient = (opts: {
  publicUrl: string;
  client?: SignInClient;
  remember: {
    get(digest: string): Promise<{ clientId: string } | undefined>;
    set(digest: string, value: { clientId: string }): Promise<void>;
  };
}) => IdentityProviderClient;

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
 * Signing in: the state, PKCE and browser binding are kept here, in onboarding's records; the client
 * the gateway signs in with (the one configured, else one registered dynamically at the issuer on
 * first use and remembered in the records, so every instance and restart reuses it) is `openClient`'s.
 */
export function createSignIn(
  deps: { records: RecordStore; clock: Clock },
  identity: ResolvedIdentity,
  openClient: OpenIdentityProviderClient,
  opts: { publicUrl: string; client?: SignInClient },
): SignIn {
  const idp = openClient({
    publicUrl: opts.publicUrl,
    ...(opts.client ? { client: opts.client } : {}),
    remember: {
      get: (d) => deps.records.get<{ clientId: string }>(keys.signInClient(d)),
      set: (d, value) => deps.records.set(keys.signInClient(d), value),
    },
  });
  const failed = (err: unknown): SignInError =>
    (err as { stage?: unknown }).stage === 'rejected'
      ? new SignInError('rejected', 'the sign-in was not completed', { cause: err })
      : new SignInError('unavailable', 'the identity provider could not be reached', { cause: err });

  return {
    redirectUri: idp.redirectUri,
    async begin(returnTo, binding) {
      const codeVerifier = randomBytes(32).toString('base64url');
      const state = randomBytes(32).toString('base64url');
      const nonce = randomBytes(32).toString('base64url');
      const scope = ['openid', ...(identity.userClaim === 'email' ? ['email'] : [])].join(' ');
      let url: URL;
      try {
        url = await idp.authorizationUrl({ state, nonce, codeChallenge: digest(codeVerifier), scope });
      } catch (err) {
        throw failed(err);
      }
      // Written only once the provider is reachable, so an outage leaves no half-started sign-ins.
      const record: SignInState = {
        codeVerifier,
        nonce,
        bindingHash: digest(binding),
        returnTo: safeReturnPath(returnTo),
        expiresAt: deps.clock.now() + STATE_TTL_MS,
      };
      await writeLive(deps.records, keys.signInState(state), record, deps.clock);
      return url;
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
      let claims: Record<string, unknown> | undefined;
      try {
        claims = await idp.claimsAt(currentUrl, { codeVerifier: record.codeVerifier, state, nonce: record.nonce });
      } catch (err) {
        throw failed(err);
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
