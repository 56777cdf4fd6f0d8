// The strict zod schema of mcp.config.json: the user-facing contract documented in the README.
import { z } from 'zod';

/** A secret is never inline: it names an environment variable, or a file relative to the config. */
export const SecretRef = z.union(
  [
    z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name') }),
    z.strictObject({ file: z.string().min(1) }),
  ],
  { error: 'must be a reference, {"env": "NAME"} or {"file": "path"}, never the secret itself' },
);
export type SecretRef = z.infer<typeof SecretRef>;

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/**
 * Loopback hosts, where plain http carries nothing off the machine: `localhost`, `::1` and the whole
 * 127.0.0.0/8. The one definition: config checks, the HTTP transport's bind rule and cookie policy use it.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost' || h === '::1') return true;
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(h);
  return m?.slice(1).every((o) => Number(o) <= 255) ?? false;
}

/** A URL whose host is loopback (see isLoopbackHost). */
export function isLoopbackUrl(url: string | URL): boolean {
  return isLoopbackHost(new URL(url).hostname);
}

/**
 * A URL that credentials travel to (token endpoints, APIs, issuers): https, or http on loopback only,
 * so a bearer token or client secret never crosses a network in the clear.
 */
const secureUrl = httpUrl.refine((u) => {
  // A value that is not a URL at all has already been reported by httpUrl.
  const url = URL.canParse(u) ? new URL(u) : undefined;
  return !url || url.protocol === 'https:' || isLoopbackHost(url.hostname);
}, 'must be https (plain http is allowed only for loopback hosts such as 127.0.0.1)');

/** Durations such as "90s", "15m", "8h", "30d". */
export const Duration = z.string().regex(/^\d+(s|m|h|d)$/, 'must be a duration such as "8h" or "30d"');

export const PROVIDER_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/**
 * Authorization request parameters that the gateway sets for each sign-in: overriding one would break the
 * redirect, the state check or PKCE, or ask for scopes behind `scopes`' back.
 */
const GATEWAY_AUTHORIZE_PARAM =
  /^(?!(?:response_type|client_id|redirect_uri|scope|state|nonce|code_challenge|code_challenge_method|resource|request|request_uri)$)/;
export const PRESET_NAMES = ['github', 'google', 'microsoft', 'slack', 'linear', 'atlassian'] as const;

export const ProviderConfig = z
  .strictObject({
    /** A preset supplies endpoints and quirks; the user supplies the client. */
    preset: z.enum(PRESET_NAMES).optional(),
    /** OIDC / RFC 8414 discovery. */
    issuer: secureUrl.optional(),
    authorizationEndpoint: secureUrl.optional(),
    tokenEndpoint: secureUrl.optional(),
    revocationEndpoint: secureUrl.optional(),
    deviceAuthorizationEndpoint: secureUrl.optional(),
    jwksUri: secureUrl.optional(),
    clientId: z.string().min(1),
    clientSecret: SecretRef.optional(),
    /** Scopes asked for at onboarding. Tools ask for subsets of these. */
    scopes: z.array(z.string().min(1)).default([]),
    strategy: z.enum(['refresh', 'exchange', 'mint']).default('refresh'),
    /** The API's RFC 8707 resource indicator, and the audience of credentials minted for it. */
    resource: httpUrl.optional(),
    apiBaseUrl: secureUrl,
    /** How long the user's consent lasts before reauth_required/consent_expired. */
    consentTtl: Duration.optional(),
    /** Microsoft Entra tenant, for the microsoft preset. */
    tenant: z.string().min(1).optional(),
    /** Extra authorization request parameters, such as `access_type`. */
    authorizeParams: z
      .record(
        z.string().regex(GATEWAY_AUTHORIZE_PARAM, 'is set by the gateway for each sign-in, not by the config'),
        z.string(),
      )
      .optional(),
  })
  .superRefine(
    (p, ctx) => {
      if (!p.preset && !p.issuer && !(p.authorizationEndpoint && p.tokenEndpoint)) {
        ctx.addIssue({
          code: 'custom',
          path: ['issuer'],
          message: 'required: give issuer (discovery), authorizationEndpoint and tokenEndpoint, or a preset',
        });
      }
      if (p.strategy === 'mint' && !p.resource) {
        ctx.addIssue({ code: 'custom', path: ['resource'], message: 'required for strategy "mint" (the audience)' });
      }
      if (p.preset === 'microsoft' && !p.tenant) {
        ctx.addIssue({ code: 'custom', path: ['tenant'], message: 'required for preset "microsoft"' });
      }
      // `when`: run even if a field failed, so that one pass reports every problem.
    },
    { when: (payload) => isPlainObject(payload.value) },
  );

function isPlainObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
export type ProviderConfig = z.infer<typeof ProviderConfig>;

export const IdentityConfig = z.strictObject({
  /** The inbound authorization server (the one MCP clients sign in at). */
  issuer: secureUrl,
  /** Defaults to the issuer's discovered jwks_uri. */
  jwksUri: secureUrl.optional(),
  /** RFC 7662 introspection, for opaque tokens. */
  introspection: z
    .strictObject({ endpoint: secureUrl, clientId: z.string().min(1), clientSecret: SecretRef })
    .optional(),
  /** Defaults to `${server.publicUrl}/mcp`. */
  audience: httpUrl.optional(),
  userClaim: z.enum(['sub', 'email']).default('sub'),
  tenantClaim: z.string().min(1).optional(),
  /** Gateway scopes every caller needs. */
  requiredScopes: z.array(z.string().min(1)).default([]),
  scopesSupported: z.array(z.string().min(1)).optional(),
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .default(['RS256', 'PS256', 'ES256', 'EdDSA']),
  clockSkewSeconds: z.number().int().min(0).max(300).default(30),
  /**
   * The JWT `typ` header an access token may carry. "at+jwt" (RFC 9068) only; "at+jwt-or-absent"
   * (default) also takes tokens without one; "any" for issuers that write `JWT` (Entra, Auth0).
   */
  accessTokenTyp: z.enum(['at+jwt', 'at+jwt-or-absent', 'any']).default('at+jwt-or-absent'),
});
export type IdentityConfig = z.infer<typeof IdentityConfig>;

/**
 * Whether a store URL carries a password: in the userinfo (`scheme://user:password@host`,
 * `redis://:password@host`) or as a query parameter (`?password=`, `?sslpassword=`, `?pass=`), which the
 * Postgres and Redis drivers both accept.
 */
export function hasPassword(url: string): boolean {
  if (/^[a-z]+:\/\/[^/@?#]*:[^/@?#]*@/i.test(url)) return true;
  const query = url.indexOf('?');
  if (query < 0) return false;
  const params = new URLSearchParams(url.slice(query + 1).split('#')[0]);
  return [...params.keys()].some((k) => /pass(word)?$/i.test(k));
}

export const STORE_URL = /^(sqlite:.+|redis:\/\/.+|rediss:\/\/.+|postgres:\/\/.+|postgresql:\/\/.+|memory:)$/;

export const KeywardConfig = z.strictObject({
  $schema: z.string().optional(),
  server: z
    .strictObject({
      name: z.string().min(1).default('keyward'),
      transport: z.enum(['stdio', 'http']).default('stdio'),
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8787),
      /** Where users reach the gateway: /connect, /callback and /accounts hang off it. */
      publicUrl: secureUrl.optional(),
      /** stdio: the local user. Else KEYWARD_USER, else the OS user name. */
      user: z.string().min(1).optional(),
      /** Extra allowed Origin values for /mcp, beyond publicUrl's own origin. */
      allowedOrigins: z.array(httpUrl).default([]),
      /** Stateful sessions (for elicitation/create). Stateless is the default. */
      stateful: z.boolean().default(false),
      /** Per downstream call. */
      timeoutMs: z.number().int().min(100).max(300_000).default(30_000),
      maxResponseBytes: z
        .number()
        .int()
        .min(1024)
        .max(64 * 1024 * 1024)
        .default(5 * 1024 * 1024),
    })
    .superRefine(
      (server, ctx) => {
        // Off loopback, bearer tokens and session cookies cross a network: a plain-http publicUrl (even a
        // loopback one) would advertise, and serve, them in the clear on the external address.
        if (
          typeof server.host === 'string' &&
          server.publicUrl &&
          !isLoopbackHost(server.host) &&
          new URL(server.publicUrl).protocol !== 'https:'
        ) {
          ctx.addIssue({
            code: 'custom',
            path: ['publicUrl'],
            message: `must be https when server.host (${server.host}) is not a loopback address`,
          });
        }
      },
      {
        when: (payload) =>
          isPlainObject(payload.value) && URL.canParse(String((payload.value as { publicUrl?: unknown }).publicUrl)),
      },
    )
    .prefault({}),
  /** A URL, or a reference to one where it carries a password (`{"env": "KEYWARD_STORE_URL"}`). */
  store: z
    .union([
      z
        .string()
        .regex(STORE_URL, 'must be sqlite:<path>, redis://…, postgres://… or memory:')
        .refine((u) => !hasPassword(u), {
          error: 'a password in the URL is a secret: give the URL as a reference, such as {"env": "KEYWARD_STORE_URL"}',
        }),
      SecretRef,
    ])
    .default('sqlite:.keyward/keyward.db'),
  encryptionKey: SecretRef.default({ env: 'KEYWARD_ENCRYPTION_KEY' }),
  /** Keys that still decrypt after a rotation (`keyward rotate-key`). */
  previousEncryptionKeys: z.array(SecretRef).default([]),
  providers: z
    .record(z.string().regex(PROVIDER_NAME, 'provider names are lower-case, a-z0-9-'), ProviderConfig)
    .default({}),
  tools: z.array(z.string().min(1)).default(['tools']),
  identity: IdentityConfig.optional(),
  audit: z
    .string()
    .regex(/^(jsonl:.+|stderr:|memory:)$/, 'must be jsonl:<path>, stderr: or memory:')
    .default('jsonl:.keyward/audit.jsonl'),
});
export type KeywardConfigInput = z.input<typeof KeywardConfig>;
export type KeywardConfigParsed = z.infer<typeof KeywardConfig>;
