// Drives the demo authorization server's login and consent pages with fetch, so tests get real grants without a browser.
import { createHash, randomBytes } from 'node:crypto';
import { CookieJar } from './cookieJar.js';

export interface DriveOptions {
  /** Login name at the demo authorization server; it becomes the `sub`. Default "demo". */
  user?: string;
  /** Reuse a jar to keep a session (or the gateway's cookies) across flows. Default: a fresh jar. */
  jar?: CookieJar;
  /** Press "abort" instead of "Continue" on the consent page (gives error=access_denied). */
  deny?: boolean;
  /**
   * Where to stop: a prefix of the URL, or a predicate. Default: the first redirect that leaves the
   * authorization server's origin after the flow reached it.
   */
  stopAt?: string | ((url: URL) => boolean);
  /** Also GET the final location with the jar and return that response. Default false. */
  follow?: boolean;
  maxSteps?: number;
}

export interface DriveResult {
  /** The final redirect target (e.g. the callback with code and state, or an error). */
  location: string;
  /** Every URL requested, in order (for debugging; contains no token beyond the final code). */
  visited: string[];
  /** Prompts that were answered ("login", "consent"). */
  prompts: string[];
  jar: CookieJar;
  /** Present when `follow` was set. */
  response?: Response;
  /** Present when `follow` was set: the response body as text. */
  body?: string;
}

/**
 * Follows an authorization URL (the AS's /auth, or a gateway route that redirects there) through
 * login and consent, and returns where the AS finally sends the browser.
 */
export async function driveAuthorization(authorizeUrl: string, opts: DriveOptions = {}): Promise<DriveResult> {
  const user = opts.user ?? 'demo';
  const jar = opts.jar ?? new CookieJar();
  const visited: string[] = [];
  const prompts: string[] = [];
  const maxSteps = opts.maxSteps ?? 20;
  let asOrigin: string | undefined;

  const shouldStop = (u: URL, from: URL): boolean => {
    if (typeof opts.stopAt === 'string') return u.href.startsWith(opts.stopAt);
    if (typeof opts.stopAt === 'function') return opts.stopAt(u);
    return asOrigin !== undefined && from.origin === asOrigin && u.origin !== asOrigin;
  };

  let url = new URL(authorizeUrl);
  let method = 'GET';
  let form: URLSearchParams | undefined;
  for (let step = 0; step < maxSteps; step += 1) {
    visited.push(url.href);
    const res = await jar.fetch(url, {
      method,
      ...(form ? { body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {}),
    });
    method = 'GET';
    form = undefined;

    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const loc = res.headers.get('location');
      if (!loc) throw new Error(`redirect without Location from ${url.origin}${url.pathname}`);
      const next = new URL(loc, url);
      if (asOrigin === undefined && next.pathname.startsWith('/interaction/')) asOrigin = next.origin;
      if (asOrigin === undefined && /\/auth(\/|$)/.test(next.pathname)) asOrigin = next.origin;
      if (shouldStop(next, url)) return finish(next.href);
      url = next;
      continue;
    }

    const text = await res.text();
    if (res.status !== 200) {
      throw new Error(
        `authorization flow got HTTP ${res.status} at ${url.origin}${url.pathname}: ${text.slice(0, 300)}`,
      );
    }
    const answer = answerPrompt(text, url, user, opts.deny);
    if (!answer) {
      throw new Error(`authorization flow stopped at a page it cannot answer: ${url.origin}${url.pathname}`);
    }
    asOrigin ??= url.origin;
    prompts.push(answer.prompt);
    url = answer.url;
    if (answer.form) {
      method = 'POST';
      form = answer.form;
    }
  }
  throw new Error(`authorization flow did not finish within ${maxSteps} steps`);

  async function finish(location: string): Promise<DriveResult> {
    const result: DriveResult = { location, visited, prompts, jar };
    if (opts.follow) {
      visited.push(location);
      result.response = await jar.fetch(location);
      result.body = await result.response.text();
    }
    return result;
  }
}

/**
 * How to answer the demo AS's login or consent page: where to go next, and the form to post there
 * (none when the consent is aborted). Undefined for any other page.
 */
function answerPrompt(
  html: string,
  at: URL,
  user: string,
  deny: boolean | undefined,
): { prompt: 'login' | 'consent'; url: URL; form?: URLSearchParams } | undefined {
  const prompt = /name="prompt" value="(login|consent)"/.exec(html)?.[1] as 'login' | 'consent' | undefined;
  if (!prompt) return undefined;
  if (prompt === 'consent' && deny) return { prompt, url: new URL(`${at.pathname.replace(/\/$/, '')}/abort`, at) };
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1]?.replace(/&amp;/g, '&') ?? at.pathname;
  const form =
    prompt === 'login'
      ? new URLSearchParams({ prompt: 'login', login: user, password: 'demo' })
      : new URLSearchParams({ prompt: 'consent' });
  return { prompt, url: new URL(action, at), form };
}

/** An endpoint of the demo AS, whose issuer may be written with a trailing slash. */
function endpointOf(issuer: string, path: string): string {
  return `${issuer.replace(/\/$/, '')}${path}`;
}

export interface ClientAuth {
  clientId: string;
  clientSecret?: string;
  /** Default client_secret_basic when a secret is given, else none. */
  authMethod?: 'client_secret_basic' | 'client_secret_post' | 'none';
}

export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
  issued_token_type?: string;
  [key: string]: unknown;
}

export class TokenError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description?: string,
  ) {
    super(`token endpoint answered ${status} ${error}${description ? `: ${description}` : ''}`);
  }
}

/** POSTs to a token endpoint; throws TokenError on an OAuth error. */
export async function tokenRequest(
  tokenEndpoint: string,
  client: ClientAuth,
  params: Record<string, string | string[] | undefined>,
): Promise<TokenResponse> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
  }
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const method = client.authMethod ?? (client.clientSecret ? 'client_secret_basic' : 'none');
  if (method === 'client_secret_basic') {
    const enc = (s: string) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(client.clientId)}:${enc(client.clientSecret ?? '')}`).toString('base64')}`;
  } else {
    body.set('client_id', client.clientId);
    if (method === 'client_secret_post') body.set('client_secret', client.clientSecret ?? '');
  }
  const res = await fetch(tokenEndpoint, { method: 'POST', headers, body });
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    throw new TokenError(
      res.status,
      String(json.error ?? 'unknown'),
      json.error_description ? String(json.error_description) : undefined,
    );
  }
  return json as TokenResponse;
}

export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface ObtainTokensOptions extends ClientAuth {
  issuer: string;
  redirectUri: string;
  /** Scopes to ask for; add "openid offline_access" yourself, or rely on the default below. */
  scopes: string[];
  resource?: string | string[];
  user?: string;
  /** Default "consent" (needed for offline_access under OIDC). Pass null to omit. */
  prompt?: string | null;
  jar?: CookieJar;
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
}

export interface ObtainedTokens extends TokenResponse {
  /** The authorization code that was redeemed (for canary checks). */
  code: string;
  jar: CookieJar;
}

/** Runs authorization code + PKCE against the demo AS and returns the token response. */
export async function obtainTokens(opts: ObtainTokensOptions): Promise<ObtainedTokens> {
  const { verifier, challenge } = pkcePair();
  const state = randomBytes(12).toString('base64url');
  const auth = new URL(opts.authorizationEndpoint ?? endpointOf(opts.issuer, '/auth'));
  auth.searchParams.set('client_id', opts.clientId);
  auth.searchParams.set('response_type', 'code');
  auth.searchParams.set('redirect_uri', opts.redirectUri);
  auth.searchParams.set('scope', opts.scopes.join(' '));
  auth.searchParams.set('state', state);
  auth.searchParams.set('code_challenge', challenge);
  auth.searchParams.set('code_challenge_method', 'S256');
  if (opts.prompt !== null) auth.searchParams.set('prompt', opts.prompt ?? 'consent');
  for (const r of opts.resource === undefined ? [] : [opts.resource].flat()) auth.searchParams.append('resource', r);

  const driven = await driveAuthorization(auth.href, {
    user: opts.user,
    jar: opts.jar,
    stopAt: (u) => u.href.split(/[?#]/)[0] === opts.redirectUri.split(/[?#]/)[0],
  });
  const back = new URL(driven.location);
  const error = back.searchParams.get('error');
  if (error) throw new Error(`authorization failed: ${error} ${back.searchParams.get('error_description') ?? ''}`);
  if (back.searchParams.get('state') !== state) throw new Error('authorization response state mismatch');
  const code = back.searchParams.get('code');
  if (!code) throw new Error('authorization response has no code');

  const tokens = await tokenRequest(opts.tokenEndpoint ?? endpointOf(opts.issuer, '/token'), opts, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: opts.redirectUri,
    code_verifier: verifier,
  });
  return { ...tokens, code, jar: driven.jar };
}

/** A refresh at the token endpoint, optionally narrowed by scope and resource. */
export function refreshTokens(
  opts: ClientAuth & { issuer: string; refreshToken: string; scope?: string[]; resource?: string },
): Promise<TokenResponse> {
  return tokenRequest(endpointOf(opts.issuer, '/token'), opts, {
    grant_type: 'refresh_token',
    refresh_token: opts.refreshToken,
    scope: opts.scope?.join(' '),
    resource: opts.resource,
  });
}

/** An RFC 8693 exchange of an access token for a narrower one. */
export function exchangeToken(
  opts: ClientAuth & { issuer: string; subjectToken: string; scope?: string[]; resource?: string; audience?: string },
): Promise<TokenResponse> {
  return tokenRequest(endpointOf(opts.issuer, '/token'), opts, {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: opts.subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    scope: opts.scope?.join(' '),
    resource: opts.resource,
    audience: opts.audience,
  });
}

export interface DeviceApproval {
  prompts: string[];
  visited: string[];
  /** The last page's HTML (the success or error page). */
  html: string;
  jar: CookieJar;
}

/**
 * Plays the user's side of the device authorization grant (RFC 8628): opens the verification URI with the code,
 * confirms it, logs in and consents.
 */
export async function approveDeviceCode(
  verificationUriComplete: string,
  opts: { user?: string; jar?: CookieJar; deny?: boolean; maxSteps?: number } = {},
): Promise<DeviceApproval> {
  const user = opts.user ?? 'demo';
  const jar = opts.jar ?? new CookieJar();
  const prompts: string[] = [];
  const visited: string[] = [];
  let url = new URL(verificationUriComplete);
  let form: URLSearchParams | undefined;
  for (let step = 0; step < (opts.maxSteps ?? 20); step += 1) {
    visited.push(url.href);
    const res = await jar.fetch(url, form ? { method: 'POST', body: form } : {});
    form = undefined;
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      url = new URL(res.headers.get('location') ?? '', url);
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`device flow got HTTP ${res.status} at ${url.pathname}`);
    const answer = answerPrompt(html, url, user, opts.deny);
    if (answer) {
      prompts.push(answer.prompt);
      url = answer.url;
      form = answer.form;
      continue;
    }
    const formTag = /<form[^>]*action="([^"]+)"[^>]*>/.exec(html) ?? /<form[^>]*>/.exec(html);
    if (!formTag) return { prompts, visited, html, jar };
    if (html.includes('op.deviceInputForm')) throw new Error('the device code was not accepted');
    const action = /action="([^"]+)"/.exec(formTag[0])?.[1]?.replace(/&amp;/g, '&') ?? url.pathname;
    form = new URLSearchParams();
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)) {
      form.append(
        m[1]!,
        m[2]!
          .replace(/&amp;/g, '&')
          .replace(/&quot;/g, '"')
          .replace(/&#39;/g, "'"),
      );
    }
    if (opts.deny && html.includes('op.deviceConfirmForm')) {
      form.delete('confirm');
      form.set('abort', 'yes');
    }
    url = new URL(action, url);
  }
  throw new Error('device flow did not finish');
}

/** The whole device grant against the demo AS: request codes, approve them as `user`, poll for the tokens. */
export async function deviceGrant(
  opts: ClientAuth & { issuer: string; scopes: string[]; resource?: string; user?: string },
): Promise<TokenResponse> {
  const body = new URLSearchParams({ client_id: opts.clientId, scope: opts.scopes.join(' ') });
  if (opts.resource) body.set('resource', opts.resource);
  const res = await fetch(endpointOf(opts.issuer, '/device/auth'), { method: 'POST', body });
  const codes = (await res.json()) as { device_code: string; verification_uri_complete: string; error?: string };
  if (!res.ok) throw new Error(`device authorization failed: ${codes.error}`);
  await approveDeviceCode(codes.verification_uri_complete, { user: opts.user });
  return tokenRequest(endpointOf(opts.issuer, '/token'), opts, {
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: codes.device_code,
  });
}

/**
 * Signs the jar's session out at the demo AS (RP-initiated logout, `/session/end`): the next authorization asks for a
 * name again. Returns the signed-out page's HTML.
 */
export async function signOutAtDemo(issuer: string, jar: CookieJar): Promise<string> {
  const start = await jar.fetch(endpointOf(issuer, '/session/end'));
  const page = await start.text();
  if (start.status !== 200) throw new Error(`sign-out page answered HTTP ${start.status}`);
  const action = /<form id="op.logoutForm" method="post" action="([^"]+)"/.exec(page)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page)?.[1];
  if (!action || !xsrf) throw new Error('the sign-out page has no logout form');
  let res = await jar.fetch(new URL(action, issuer), {
    method: 'POST',
    body: new URLSearchParams({ xsrf, logout: 'yes' }),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  for (let i = 0; i < 5 && res.status >= 300 && res.status < 400; i += 1) {
    await res.arrayBuffer();
    res = await jar.fetch(new URL(res.headers.get('location') ?? '/', issuer));
  }
  return res.text();
}

/**
 * GETs a page with the jar, following redirects inside one origin and the forms a browser submits by script
 * (oidc-provider's "Submitting Callback" page, e.g. the sign-out it does when a person switches user); returns the
 * final URL and body. A redirect to another origin is returned unfollowed, with an empty body.
 */
export async function openPage(url: string, jar: CookieJar): Promise<{ url: URL; status: number; html: string }> {
  let at = new URL(url);
  let form: URLSearchParams | undefined;
  for (let i = 0; i < 12; i += 1) {
    const res = await jar.fetch(
      at,
      form ? { method: 'POST', body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } } : {},
    );
    form = undefined;
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const next = new URL(res.headers.get('location') ?? '/', at);
      if (next.origin !== at.origin) return { url: next, status: res.status, html: '' };
      at = next;
      continue;
    }
    const html = await res.text();
    const auto = /<title>Submitting Callback<\/title>[\s\S]*?<form method="post" action="([^"]+)">/.exec(html);
    if (auto?.[1]) {
      form = new URLSearchParams();
      for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g))
        form.append(m[1]!, m[2]!);
      at = new URL(auto[1].replace(/&amp;/g, '&'), at);
      continue;
    }
    return { url: at, status: res.status, html };
  }
  throw new Error(`too many redirects from ${url}`);
}
