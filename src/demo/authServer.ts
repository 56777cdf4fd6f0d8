// The embedded demo's authorization server: oidc-provider with refresh rotation and reuse revocation, resource
// indicators, JWT access tokens, RFC 8693 token exchange and dynamic registration, on 127.0.0.1.
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import type Provider from 'oidc-provider';
import type { ClientMetadata, Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { corsOriginAllowed, demoInteractions, registrationCors } from './interactions.js';
import { listenOnLoopback } from './listen.js';
import { DemoStore } from './memoryAdapter.js';
import {
  demoPage,
  deviceCodePage,
  deviceConfirmPage,
  deviceDonePage,
  escapeHtml,
  logoutPage,
  signedOutPage,
} from './pages.js';

type OidcProviderModule = typeof import('oidc-provider');
let loaded: Promise<OidcProviderModule> | undefined;

/**
 * oidc-provider prints development notices while it loads and starts (an unsupported-runtime warning on Node 20, the
 * devInteractions notice). The demo knows; those lines only bury the connection instructions, so they are dropped.
 */
async function quietly<T>(fn: () => Promise<T> | T): Promise<T> {
  const { warn, info } = console;
  const filter =
    (orig: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider ')) return;
      orig(...args);
    };
  console.warn = filter(warn);
  console.info = filter(info);
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}

function loadOidcProvider(): Promise<OidcProviderModule> {
  loaded ??= quietly(() => import('oidc-provider'));
  return loaded;
}

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const DEMO_CLIENT_ID = 'keyward-demo';
const STATIC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];
export const NOTES_SCOPES = ['notes:read', 'notes:write', 'notes:delete'] as const;

export interface DemoResource {
  /**
   * The RFC 8707 resource indicator; tokens issued for it carry exactly this string as `aud`. A request may name it
   * with or without a trailing slash.
   */
  resource: string;
  /** Scopes this resource understands. */
  scopes: string[];
  /** Seconds; defaults to the server's accessTokenTTL. */
  accessTokenTTL?: number;
}

export type IssuedKind =
  | 'access_token'
  | 'refresh_token'
  | 'id_token'
  | 'code'
  | 'device_code'
  | 'client_secret'
  | 'registration_access_token';

export interface DemoAuthServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Always loopback; kept as an option only for clarity. Default 127.0.0.1. */
  host?: string;
  /** Static clients. When omitted, the public `keyward-demo` client is registered. */
  clients?: ClientMetadata[];
  /** Redirect URIs of the default `keyward-demo` client (it is a native client: loopback ports may vary). */
  redirectUris?: string[];
  /** Extra static clients on top of the default one. */
  extraClients?: ClientMetadata[];
  /** Resource servers that may be named in `resource`. Add more later with addResource(). */
  resources?: DemoResource[];
  /** Used when a request names no resource. Default: the first of `resources`. */
  defaultResource?: string;
  /** Seconds. Default 300. */
  accessTokenTTL?: number;
  /** Seconds. Default 14 days. */
  refreshTokenTTL?: number;
  /**
   * Seconds between device-grant polls, advertised as `interval` (RFC 8628 s.3.2); without it clients wait
   * the default 5 s. Tests set 1.
   */
  deviceInterval?: number;
  /** Seconds, upper bound of an exchanged token's lifetime (never beyond the subject token's). Default 300. */
  exchangeTokenTTL?: number;
  /** Dynamic client registration (RFC 7591), open without an initial access token. Default true. */
  registration?: boolean;
  /** Invoked with every token, code and secret value the server hands out (tests plant them as canaries). */
  onIssued?: (value: string, kind: IssuedKind) => void;
  /**
   * The user Keyward acts for over stdio: its sign-ins (those not coming back to `webCallbackOrigin`) say so and
   * offer to sign in as that user.
   */
  localUser?: string;
  /** The gateway's web origin (its HTTP callbacks), where any user may sign in. */
  webCallbackOrigin?: string;
  /** Internal errors (5xx) go here; nothing is ever printed. */
  onError?: (err: unknown) => void;
}

export interface DemoAuthServerStats {
  /** Token endpoint requests, by grant_type. */
  tokenRequests: Record<string, number>;
  /** Token endpoint requests with grant_type=refresh_token. */
  refreshRequests: number;
  /** Successful refreshes. */
  refreshSuccesses: number;
  /** Token endpoint answers with error=invalid_grant (any grant type). */
  invalidGrants: number;
  /** Grants destroyed: refresh-token reuse, RFC 7009 revocation, revokeGrantsOf(). */
  revokedGrants: number;
  /** Times a consumed refresh token came back. */
  refreshReuses: number;
  /** Successful RFC 8693 exchanges. */
  tokenExchanges: number;
  /** Requests to the RFC 7009 revocation endpoint. */
  revocations: number;
  /** Requests to the introspection endpoint. */
  introspections: number;
  /** Successful authorization code redemptions. */
  codeExchanges: number;
  /** Dynamic client registrations. */
  registrations: number;
}

export interface DemoAuthServer {
  /** The issuer, e.g. http://127.0.0.1:8788 (no trailing slash). */
  issuer: string;
  /** Same as issuer. */
  url: string;
  port: number;
  provider: Provider;
  /** The public JWKS (also served at `${issuer}/jwks`). */
  jwks: JSONWebKeySet;
  jwksUri: string;
  tokenEndpoint: string;
  authorizationEndpoint: string;
  revocationEndpoint: string;
  introspectionEndpoint: string;
  registrationEndpoint: string;
  deviceAuthorizationEndpoint: string;
  stats: DemoAuthServerStats;
  /** Every value handed out so far (tokens, codes, secrets). */
  issued: Set<string>;
  resetStats(): void;
  /** Revokes every grant of a user (all clients): refresh tokens die, exchanges fail. Returns the count. */
  revokeGrantsOf(sub: string): Promise<number>;
  /** Revokes one grant by id. */
  revokeGrant(grantId: string): Promise<boolean>;
  /** Grants currently alive. */
  grants(): Array<{ grantId: string; accountId: string; clientId: string; scopes: string[]; resources: string[] }>;
  /** Allows a new resource indicator (e.g. the gateway's own resource, known only once it listens). */
  addResource(resource: DemoResource): void;
  /** Registers a static-like client at run time (tests' confidential clients). */
  addClient(metadata: ClientMetadata): Promise<void>;
  /** Signs an arbitrary JWT with the server's key (negative tests: expired, wrong audience, ...). */
  signJwt(payload: JWTPayload, opts?: { typ?: string; expiresInSeconds?: number }): Promise<string>;
  close(): Promise<void>;
}

function stripSlash(s: string): string {
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

function scopeSet(s: unknown): Set<string> {
  return new Set(typeof s === 'string' ? s.split(' ').filter(Boolean) : []);
}

export async function startDemoAuthServer(opts: DemoAuthServerOptions = {}): Promise<DemoAuthServer> {
  const { default: Provider, errors } = await loadOidcProvider();
  const host = opts.host ?? '127.0.0.1';
  const accessTokenTTL = opts.accessTokenTTL ?? 300;
  const exchangeTokenTTL = opts.exchangeTokenTTL ?? 300;

  // Listen first: the issuer has to name the real port.
  let handler: http.RequestListener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = http.createServer((req, res) => handler(req, res));
  const { port, url: issuer, close } = await listenOnLoopback(server, host, opts.port);

  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const privateJwk: JWK = { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' };
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const jwks: JSONWebKeySet = { keys: [publicJwk] };
  const localJwks = createLocalJWKSet(jwks);

  const resources = new Map<string, DemoResource>();
  for (const r of opts.resources ?? []) resources.set(stripSlash(r.resource), { ...r });
  const defaultResource = opts.defaultResource ?? opts.resources?.[0]?.resource;

  const stats: DemoAuthServerStats = freshStats();
  const issued = new Set<string>();
  const noteIssued = (value: unknown, kind: IssuedKind) => {
    if (typeof value !== 'string' || value.length === 0) return;
    if (issued.size < 100_000) issued.add(value);
    try {
      opts.onIssued?.(value, kind);
    } catch (err) {
      opts.onError?.(err);
    }
  };

  // JWT access token id -> grant id, so an exchange can refuse a subject token whose grant was revoked.
  const grantOfJti = new Map<string, string>();

  const store = new DemoStore((message) => new errors.InvalidGrant(message));
  store.hooks = {
    onGrantDestroyed: () => {
      stats.revokedGrants += 1;
    },
  };

  const defaultClient: ClientMetadata = {
    client_id: DEMO_CLIENT_ID,
    client_name: 'Keyward demo gateway',
    application_type: 'native',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token', TOKEN_EXCHANGE_GRANT, DEVICE_CODE_GRANT],
    response_types: ['code'],
    redirect_uris: opts.redirectUris ?? [
      'http://127.0.0.1/callback/demo',
      'http://127.0.0.1/callback/notes',
      'http://127.0.0.1/callback',
    ],
  };
  const clients = [...(opts.clients ?? [defaultClient]), ...(opts.extraClients ?? [])];

  const configuration: Configuration = {
    adapter: (name: string) => store.adapterFor(name),
    clients,
    jwks: { keys: [privateJwk as never] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: STATIC_SCOPES,
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    findAccount: (_ctx, sub) => ({
      accountId: sub,
      claims: () => ({ sub, name: sub, email: `${sub}@keyward.invalid`, email_verified: true }),
    }),
    pkce: { required: () => true },
    rotateRefreshToken: true,
    // offline_access as usual for OIDC; a plain OAuth request (no openid, e.g. an MCP client) gets one too.
    issueRefreshToken: (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || !code.scopes.has('openid')),
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTTL,
      AuthorizationCode: 60,
      ClientCredentials: 300,
      DeviceCode: 600,
      Grant: 14 * 24 * 3600,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: opts.refreshTokenTTL ?? 14 * 24 * 3600,
      Session: 14 * 24 * 3600,
      BackchannelAuthenticationRequest: 600,
      PreAuthorizedCode: 600,
    },
    // Browser-based clients on this machine (e.g. the MCP Inspector) may call the token endpoint.
    clientBasedCORS: (_ctx, origin) => corsOriginAllowed(origin),
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = demoPage(
        'Something went wrong',
        Object.entries(out)
          .map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(String(v))}</p>`)
          .join(''),
      );
    },
    formats: {
      customizers: {
        jwt: (_ctx, token, jwt) => {
          const grantId = (token as { grantId?: string }).grantId;
          const jti = jwt.payload.jti;
          if (grantId && typeof jti === 'string') {
            if (grantOfJti.size > 50_000) grantOfJti.clear();
            grantOfJti.set(jti, grantId);
          }
        },
      },
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          ctx.body = logoutPage(ctx.oidc.session?.accountId, form);
        },
        postLogoutSuccessSource: async (ctx) => {
          ctx.body = signedOutPage();
        },
      },
      registration: { enabled: opts.registration ?? true, initialAccessToken: false },
      revocation: { enabled: true, allowedPolicy: async () => true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: async (ctx, form, _out, err) => {
          ctx.body = deviceCodePage(form, Boolean(err));
        },
        userCodeConfirmSource: async (ctx, form, client, _info, userCode) => {
          ctx.body = deviceConfirmPage(form, client.clientName ?? client.clientId, userCode);
        },
        successSource: async (ctx) => {
          const gateway = ctx.oidc.client?.clientId === DEMO_CLIENT_ID;
          ctx.body = deviceDonePage(ctx.oidc.session?.accountId, gateway ? opts.localUser : undefined);
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx, _client, oneOf) => {
          if (Array.isArray(oneOf)) {
            if (defaultResource && oneOf.includes(defaultResource)) return defaultResource;
            return oneOf[0] ?? defaultResource ?? '';
          }
          return oneOf ?? defaultResource ?? '';
        },
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          const r = resources.get(stripSlash(resourceIndicator));
          if (!r) throw new errors.InvalidTarget();
          return {
            scope: r.scopes.join(' '),
            audience: r.resource,
            accessTokenTTL: r.accessTokenTTL ?? accessTokenTTL,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  };

  const provider = await quietly(() => new Provider(issuer, configuration));
  // Koa would print 5xx errors to stderr; the demo stays quiet and reports through onError.
  provider.silent = true;
  provider.on('server_error', (_ctx: unknown, err: unknown) => opts.onError?.(err));
  provider.on('grant.error', (_ctx: unknown, err: { error_detail?: string }) => {
    if (err?.error_detail === 'refresh token already used') stats.refreshReuses += 1;
  });

  provider.use(registrationCors());
  provider.use(
    demoInteractions(provider, {
      gatewayClientId: DEMO_CLIENT_ID,
      ...(opts.localUser ? { localUser: opts.localUser } : {}),
      ...(opts.webCallbackOrigin ? { webCallbackOrigin: opts.webCallbackOrigin } : {}),
    }),
  );
  provider.use(async (ctx, next) => {
    // RFC 8414 discovery (what MCP clients try first) answers with the same document as OIDC discovery.
    if (ctx.path === '/.well-known/oauth-authorization-server') ctx.path = '/.well-known/openid-configuration';
    if (ctx.method === 'POST' && ctx.path === '/reg' && ctx.is('application/json')) await dropResourceScopes(ctx);
    await next();
    if (opts.deviceInterval && ctx.path === '/device/auth' && ctx.status === 200 && ctx.body) {
      (ctx.body as Record<string, unknown>).interval = opts.deviceInterval;
    }
    observe(ctx as KoaContextWithOIDC);
  });

  /**
   * MCP clients register with `scope` set to the resource's scopes (e.g. "mcp:tools"). oidc-provider accepts only
   * its OpenID scopes there (the client's `scope` restricts nothing else), so the others are dropped before it reads
   * the body; the client still asks for them at /auth, as the resource's scopes.
   */
  async function dropResourceScopes(ctx: { req: http.IncomingMessage }): Promise<void> {
    const orig = ctx.req;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of orig) {
      size += (chunk as Buffer).length;
      if (size > 56 * 1024) break;
      chunks.push(chunk as Buffer);
    }
    let text = Buffer.concat(chunks).toString('utf8');
    try {
      const metadata = JSON.parse(text) as Record<string, unknown>;
      if (metadata && typeof metadata.scope === 'string') {
        const kept = metadata.scope.split(' ').filter((sc) => STATIC_SCOPES.includes(sc));
        if (kept.length) metadata.scope = kept.join(' ');
        else delete metadata.scope;
        text = JSON.stringify(metadata);
      }
    } catch {
      // not JSON: oidc-provider answers invalid_request itself
    }
    const buf = Buffer.from(text);
    orig.headers['content-length'] = String(buf.length);
    const replay = Readable.from([buf], { objectMode: false });
    ctx.req = Object.assign(replay, {
      headers: orig.headers,
      method: orig.method,
      url: orig.url,
      socket: orig.socket,
      httpVersion: orig.httpVersion,
    }) as unknown as http.IncomingMessage;
  }

  function observe(ctx: KoaContextWithOIDC): void {
    const route = ctx.oidc?.route;
    const body = ctx.body as Record<string, unknown> | undefined;
    const isObj = body !== null && typeof body === 'object' && !Buffer.isBuffer(body);
    if (isObj) {
      noteIssued(body.access_token, 'access_token');
      noteIssued(body.refresh_token, 'refresh_token');
      noteIssued(body.id_token, 'id_token');
      noteIssued(body.device_code, 'device_code');
      noteIssued(body.client_secret, 'client_secret');
      noteIssued(body.registration_access_token, 'registration_access_token');
    }
    const location = ctx.response.get('location');
    if (location?.includes('code=')) {
      try {
        noteIssued(new URL(location, issuer).searchParams.get('code') ?? undefined, 'code');
      } catch {
        // not a URL: nothing was issued
      }
    }
    if (typeof ctx.body === 'string' && route && /authorization|resume/.test(route)) {
      // form_post responses carry the code in a hidden input
      const m = /name="code" value="([^"]+)"/.exec(ctx.body);
      if (m?.[1]) noteIssued(m[1], 'code');
    }

    switch (route) {
      case 'token': {
        const gt = String(ctx.oidc?.params?.grant_type ?? 'unknown');
        stats.tokenRequests[gt] = (stats.tokenRequests[gt] ?? 0) + 1;
        const ok = ctx.status === 200;
        if (gt === 'refresh_token') {
          stats.refreshRequests += 1;
          if (ok) stats.refreshSuccesses += 1;
        }
        if (gt === 'authorization_code' && ok) stats.codeExchanges += 1;
        if (gt === TOKEN_EXCHANGE_GRANT && ok) stats.tokenExchanges += 1;
        if (isObj && body.error === 'invalid_grant') {
          stats.invalidGrants += 1;
        }
        break;
      }
      case 'revocation':
        stats.revocations += 1;
        break;
      case 'introspection':
        stats.introspections += 1;
        break;
      case 'registration':
        if (ctx.status === 201) stats.registrations += 1;
        break;
    }
  }

  provider.registerGrantType(
    TOKEN_EXCHANGE_GRANT,
    async (ctx) => {
      const { client, params } = ctx.oidc;
      const subjectToken = params.subject_token;
      if (typeof subjectToken !== 'string' || !subjectToken) throw new errors.InvalidRequest('missing subject_token');
      if (params.subject_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest('subject_token_type must be an access token');
      }
      if (params.requested_token_type !== undefined && params.requested_token_type !== ACCESS_TOKEN_TYPE) {
        throw new errors.InvalidRequest('only access tokens can be requested');
      }

      let subject: JWTPayload;
      try {
        ({ payload: subject } = await jwtVerify(subjectToken, localJwks, {
          issuer,
          algorithms: ['RS256'],
          typ: 'at+jwt',
        }));
      } catch {
        throw new errors.InvalidGrant('subject_token is invalid or expired');
      }
      const grantId = typeof subject.jti === 'string' ? grantOfJti.get(subject.jti) : undefined;
      if (!grantId || !(await provider.Grant.find(grantId))) {
        throw new errors.InvalidGrant('the grant behind subject_token was revoked');
      }
      const subjectClient = typeof subject.client_id === 'string' ? subject.client_id : undefined;
      if (subjectClient !== client.clientId) {
        throw new errors.InvalidGrant('subject_token was not issued to this client');
      }

      const requestedResource = params.resource ?? params.audience;
      if (Array.isArray(requestedResource)) {
        throw new errors.InvalidTarget('only one resource can be requested');
      }
      const resourceId = stripSlash(
        typeof requestedResource === 'string' && requestedResource
          ? requestedResource
          : String(Array.isArray(subject.aud) ? subject.aud[0] : subject.aud),
      );
      const rs = resources.get(resourceId);
      if (!rs) throw new errors.InvalidTarget();

      const held = scopeSet(subject.scope);
      let requested: string[];
      if (typeof params.scope === 'string' && params.scope) {
        requested = [...scopeSet(params.scope)];
        const missing = requested.filter((s) => !held.has(s));
        if (missing.length) throw new errors.InvalidScope('scope exceeds the subject token', missing.join(' '));
      } else {
        requested = [...held];
      }
      requested = requested.filter((s) => rs.scopes.includes(s));
      if (requested.length === 0) {
        throw new errors.InvalidScope('no requested scope applies to this resource', [...held].join(' '));
      }

      const now = Math.floor(Date.now() / 1000);
      const ttl = Math.min(rs.accessTokenTTL ?? exchangeTokenTTL, exchangeTokenTTL);
      const exp = Math.min(now + ttl, typeof subject.exp === 'number' ? subject.exp : now + ttl);
      const jti = randomUUID();
      const act: Record<string, unknown> = { sub: client.clientId };
      if (subject.act && typeof subject.act === 'object') act.act = subject.act;
      const scope = requested.join(' ');
      const token = await new SignJWT({ scope, client_id: client.clientId, act })
        .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
        .setIssuer(issuer)
        .setSubject(String(subject.sub))
        .setAudience(rs.resource)
        .setIssuedAt(now)
        .setExpirationTime(exp)
        .setJti(jti)
        .sign(privateKey);
      grantOfJti.set(jti, grantId);

      ctx.body = {
        access_token: token,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer',
        expires_in: Math.max(0, exp - now),
        scope,
      };
    },
    [
      'subject_token',
      'subject_token_type',
      'actor_token',
      'actor_token_type',
      'requested_token_type',
      'scope',
      'resource',
      'audience',
    ],
    ['resource', 'audience'],
  );

  handler = provider.callback();

  const revokeGrant = async (grantId: string): Promise<boolean> => store.revokeGrant(grantId);

  return {
    issuer,
    url: issuer,
    port,
    provider,
    jwks,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
    authorizationEndpoint: `${issuer}/auth`,
    revocationEndpoint: `${issuer}/token/revocation`,
    introspectionEndpoint: `${issuer}/token/introspection`,
    registrationEndpoint: `${issuer}/reg`,
    deviceAuthorizationEndpoint: `${issuer}/device/auth`,
    stats,
    issued,
    resetStats() {
      Object.assign(stats, freshStats());
    },
    async revokeGrantsOf(sub: string) {
      let n = 0;
      for (const g of store.grants()) {
        if (g.accountId === sub && (await revokeGrant(g.grantId))) n += 1;
      }
      return n;
    },
    revokeGrant,
    grants() {
      return store.grants().map((g) => {
        const p = g.payload as { openid?: { scope?: string }; resources?: Record<string, string> };
        const scopes = new Set(scopeSet(p.openid?.scope));
        for (const s of Object.values(p.resources ?? {})) for (const x of scopeSet(s)) scopes.add(x);
        return {
          grantId: g.grantId,
          accountId: g.accountId,
          clientId: g.clientId,
          scopes: [...scopes],
          resources: Object.keys(p.resources ?? {}),
        };
      });
    },
    addResource(r: DemoResource) {
      resources.set(stripSlash(r.resource), { ...r });
    },
    async addClient(metadata: ClientMetadata) {
      // Stored like a dynamically registered client; oidc-provider validates it when it is first looked up.
      await store.adapterFor('Client').upsert(metadata.client_id, { ...metadata } as never);
    },
    async signJwt(payload: JWTPayload, o: { typ?: string; expiresInSeconds?: number } = {}) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT(payload)
        .setProtectedHeader({ alg: 'RS256', kid, typ: o.typ ?? 'at+jwt' })
        .setIssuedAt(payload.iat ?? now);
      if (payload.iss === undefined) jwt.setIssuer(issuer);
      if (payload.exp === undefined) jwt.setExpirationTime(now + (o.expiresInSeconds ?? 60));
      if (payload.jti === undefined) jwt.setJti(randomUUID());
      return jwt.sign(privateKey);
    },
    close,
  };
}

function freshStats(): DemoAuthServerStats {
  return {
    tokenRequests: {},
    refreshRequests: 0,
    refreshSuccesses: 0,
    invalidGrants: 0,
    revokedGrants: 0,
    refreshReuses: 0,
    tokenExchanges: 0,
    revocations: 0,
    introspections: 0,
    codeExchanges: 0,
    registrations: 0,
  };
}
