// What a provider is to the gateway: its endpoints, its quirks, and the token requests it answers.

import type { ResolvedProvider, Strategy } from '../config/types.js';

/** Where a provider's endpoints are, after config, preset and discovery are merged. */
export interface ProviderEndpoints {
  issuer?: string;
  authorizationEndpoint?: string;
  tokenEndpoint: string;
  revocationEndpoint?: string;
  deviceAuthorizationEndpoint?: string;
  jwksUri?: string;
  /** From discovery; picks client authentication for providers without a preset. */
  tokenEndpointAuthMethods?: string[];
  scopesSupported?: string[];
}

export type ClientAuthMethod = 'client_secret_post' | 'client_secret_basic' | 'none';

/**
 * Whether a refresh can ask for a narrower `scope` (RFC 6749 s.6):
 * - `yes`: the provider honours it; the credential counts as narrowed unless the response
 *   names a broader scope.
 * - `verify`: unconfirmed in the provider's docs; ask for it, and count the credential as
 *   narrowed only if the response's `scope` shows it.
 * - `per-resource`: yes, but only within one resource per request (Entra v2).
 * - `none`: the provider cannot narrow; the grant's own token is used for the API's host only.
 */
export type NarrowingMode = 'yes' | 'verify' | 'per-resource' | 'none';

/** How a refresh treats the refresh token. `unconfirmed`: keep whichever comes back. */
export type RotationMode = 'rotates' | 'tolerant' | 'none' | 'unconfirmed';

/** What a failed token request means for the grant. The broker switches on this, never on strings. */
export type TokenFailureKind =
  /** The refresh token (or subject token) is dead: the user must grant again. */
  | 'dead'
  /** 5xx, 429, timeout, network, malformed body: retry later; the grant is fine. */
  | 'transient'
  /** The provider refused the scope asked for. */
  | 'invalid_scope'
  /** Refused for another reason (client misconfigured, grant type not allowed). */
  | 'rejected';

/** A token endpoint's answer, parsed but not yet judged. */
export interface TokenResponseView {
  status: number;
  headers: Headers;
  /** The parsed body (JSON, or form-encoded), or undefined when it was neither. */
  body: Record<string, unknown> | undefined;
}

export type TokenResponseVerdict = { ok: true } | { ok: false; kind: TokenFailureKind; error?: string };

/** The tokens a successful request returned. Never logged; callers encrypt them at once. */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** Seconds, as the provider said. */
  expiresIn?: number;
  /** The scopes the provider says it granted, when it says so. */
  scope?: string[];
  tokenType?: string;
  idToken?: string;
  issuedTokenType?: string;
}

/** Moved to ./errors.ts; re-exported so that code written against the old home still builds. */
export { TokenEndpointError, type TokenRequestDelivery } from './errors.js';

export interface RevocationOutcome {
  /** Whether the provider has a revocation verb at all. */
  supported: boolean;
  /** Whether the provider confirmed it. */
  revoked: boolean;
  /** For people: what was called, or why nothing was. */
  detail: string;
}

/** The secrets a revocation may need, decrypted by the caller just for this. */
export interface RevocationTokens {
  refreshToken?: string;
  accessToken?: string;
}

export interface RevocationContext {
  provider: ResolvedProvider;
  endpoints: ProviderEndpoints;
  tokens: RevocationTokens;
  fetch: typeof fetch;
  signal: AbortSignal;
}

/** Facts about one provider, from ../shared/PROVIDERS.md. The user supplies only the client. */
export interface ProviderPreset {
  name: string;
  title: string;
  /** Endpoints known without discovery (may depend on the tenant). */
  endpoints(p: ResolvedProvider): Partial<ProviderEndpoints>;
  /** OIDC or RFC 8414 discovery, where the provider publishes metadata. */
  discovery?: { issuer(p: ResolvedProvider): string; algorithm: 'oidc' | 'oauth2' };
  clientAuth: ClientAuthMethod;
  /** Sent with every token request (e.g. GitHub's Accept, Notion's version). */
  tokenRequestHeaders?: Record<string, string>;
  /** How scopes are joined on the wire. */
  scopeSeparator: ' ' | ',';
  /** How to get a refresh token at all: extra authorize parameters and scopes. */
  offlineAccess: { authorizeParams?: Record<string, string>; scopes?: string[]; note: string };
  narrowing: NarrowingMode;
  /** Entra: which resource a scope belongs to, so that one request stays within one. */
  resourceOfScope?(scope: string): string;
  /** Whether to send RFC 8707 `resource` on token requests. */
  resourceParameter: boolean;
  rotation: RotationMode;
  /** Token exchange: RFC 8693, Entra's on-behalf-of, or none. */
  exchange: 'rfc8693' | 'obo' | 'none';
  pkce: 'S256' | 'none';
  /** Judges a token endpoint response: is the refresh token dead, or is this transient? */
  classify(view: TokenResponseView): TokenResponseVerdict;
  /** The provider's revocation verb; `undefined` when it has none. */
  revoke?(ctx: RevocationContext): Promise<RevocationOutcome>;
  /** Why there is no revocation verb, for the accounts page and `keyward revoke`. */
  revocationNote?: string;
  /** Facts the provider's docs did not confirm; the preset is conservative about each. */
  unconfirmed: string[];
}

export interface NarrowingPlan {
  /** Scopes to send on the refresh or exchange; undefined: send none. */
  scope?: string[];
  /** RFC 8707 resource to send; undefined: send none. */
  resource?: string;
  /** How to judge the response: see NarrowingMode. */
  mode: NarrowingMode;
}

export interface AuthorizationUrlRequest {
  redirectUri: string;
  state: string;
  /** PKCE S256 challenge. */
  codeChallenge?: string;
  nonce?: string;
  scopes: string[];
  loginHint?: string;
  /** Extra parameters, after the preset's and the config's. */
  extraParams?: Record<string, string>;
}

export interface TokenRequestOptions {
  signal?: AbortSignal;
}

/** A configured provider: everything the broker and onboarding need to talk to it. */
export interface ProviderRuntime {
  readonly name: string;
  readonly config: ResolvedProvider;
  readonly preset?: ProviderPreset;
  readonly strategy: Strategy;
  readonly rotation: RotationMode;
  readonly narrowingMode: NarrowingMode;
  /** The API's audience: config.resource, else apiBaseUrl's origin. */
  readonly audience: string;
  /** Endpoints, discovered lazily once and cached (a failed discovery is retried next time). */
  endpoints(opts?: TokenRequestOptions): Promise<ProviderEndpoints>;
  /** What to send to narrow a refresh or an exchange to these scopes. */
  narrowingFor(scopes: string[]): NarrowingPlan;
  /** Did this response narrow the credential to `scopes`? */
  narrowedBy(plan: NarrowingPlan, tokens: TokenSet): boolean;
  /** Scopes to ask for at onboarding, with what the provider needs for a refresh token. */
  authorizationScopes(scopes: string[]): string[];
  authorizationUrl(req: AuthorizationUrlRequest): Promise<URL>;
  exchangeCode(
    req: { code: string; redirectUri: string; codeVerifier?: string },
    opts?: TokenRequestOptions,
  ): Promise<TokenSet>;
  refresh(refreshToken: string, plan?: NarrowingPlan, opts?: TokenRequestOptions): Promise<TokenSet>;
  exchangeToken(
    subjectToken: string,
    plan: NarrowingPlan & { actor?: string },
    opts?: TokenRequestOptions,
  ): Promise<TokenSet>;
  /** Whether there is a revocation verb, without calling it. */
  canRevoke(): Promise<boolean>;
  revoke(tokens: RevocationTokens, opts?: TokenRequestOptions): Promise<RevocationOutcome>;
  /** Joins scopes the way the provider reads them (space, or comma for some). */
  formatScopes(scopes: string[]): string;
}

export interface ProviderRegistry {
  /** Throws for a provider that is not configured. */
  get(name: string): ProviderRuntime;
  has(name: string): boolean;
  names(): string[];
}

/** A relying party at the inbound identity provider, signing people in for onboarding's pages. */
export interface SignInRelyingParty {
  redirectUri: string;
  authorizationUrl(req: { state: string; nonce: string; codeChallenge: string; scope: string }): Promise<URL>;
  /** The verified ID token's claims for the callback URL the browser came back to. */
  claimsAt(
    currentUrl: URL,
    expected: { codeVerifier: string; state: string; nonce: string },
  ): Promise<Record<string, unknown> | undefined>;
}
