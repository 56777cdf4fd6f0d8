// The gateway's own OIDC client at its inbound identity provider: the sign-in URL, and the code exchange that yields the ID token's claims.
//
// Onboarding keeps the sign-in's state (PKCE verifier, nonce, browser binding) and decides who is
// signed in; this module is the one that talks to the identity provider. The tokens it receives
// are read for their claims and dropped here: nothing is stored and nothing is returned but claims.
import { createHash } from 'node:crypto';
import * as oidc from 'openid-client';
import type { ResolvedIdentity } from '../config/types.js';
import { memoiseUnlessRejected } from '../memo.js';
import type { SignInRelyingParty } from './types.js';

export type { SignInRelyingParty };

export interface SignInClientCredentials {
  clientId: string;
  clientSecret?: string;
}

/** Where a dynamically registered client id is kept, so every instance and restart reuses it. */
export interface RegistrationMemory {
  get(digest: string): Promise<{ clientId: string } | undefined>;
  set(digest: string, value: { clientId: string }): Promise<void>;
}

export class SignInClientError extends Error {
  constructor(
    /** `unavailable`: discovery or registration failed; `rejected`: the code exchange or ID token failed. */
    readonly stage: 'unavailable' | 'rejected',
    options?: { cause?: unknown },
  ) {
    super(
      stage === 'unavailable' ? 'the identity provider could not be reached' : 'the sign-in was not completed',
      options,
    );
    this.name = 'SignInClientError';
  }
}

export interface SignInClientOptions {
  /** The gateway origin the identity provider redirects back to (`<publicUrl>/signin/callback`). */
  publicUrl: string;
  /** The client to sign in with; default: one registered dynamically (RFC 7591) on first use. */
  client?: SignInClientCredentials;
  remember: RegistrationMemory;
  fetch?: typeof fetch;
}

export function createSignInRelyingParty(identity: ResolvedIdentity, opts: SignInClientOptions): SignInRelyingParty {
  const redirectUri = `${opts.publicUrl.replace(/\/+$/, '')}/signin/callback`;
  const issuer = new URL(identity.issuer);
  const base = {
    execute: issuer.protocol === 'http:' ? [oidc.allowInsecureRequests] : [],
    ...(opts.fetch ? { [oidc.customFetch]: opts.fetch as unknown as oidc.CustomFetch } : {}),
  };

  async function resolveConfig(): Promise<oidc.Configuration> {
    if (opts.client) {
      const { clientId, clientSecret } = opts.client;
      return oidc.discovery(issuer, clientId, clientSecret, clientSecret ? undefined : oidc.None(), base);
    }
    const digest = createHash('sha256').update(`${issuer.href} ${redirectUri}`).digest('base64url');
    const known = await opts.remember.get(digest);
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
    await opts.remember.set(digest, { clientId: config.clientMetadata().client_id });
    return config;
  }

  const configuration = memoiseUnlessRejected(resolveConfig);
  async function configured(): Promise<oidc.Configuration> {
    try {
      return await configuration.get();
    } catch (err) {
      throw new SignInClientError('unavailable', { cause: err });
    }
  }

  return {
    redirectUri,
    async authorizationUrl(req) {
      return oidc.buildAuthorizationUrl(await configured(), {
        redirect_uri: redirectUri,
        scope: req.scope,
        state: req.state,
        nonce: req.nonce,
        code_challenge: req.codeChallenge,
        code_challenge_method: 'S256',
      });
    },
    async claimsAt(currentUrl, expected) {
      const config = await configured();
      try {
        const tokens = await oidc.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: expected.codeVerifier,
          expectedState: expected.state,
          expectedNonce: expected.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        return claims ? { ...claims } : undefined;
      } catch (err) {
        throw new SignInClientError('rejected', { cause: err });
      }
    },
  };
}
