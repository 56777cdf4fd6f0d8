// Inbound authorization for the HTTP transport: the gateway as an MCP-spec OAuth resource server.
import type { Request, RequestHandler, Response, Router } from 'express';
import type { Clock } from '../clock.js';
import type { ResolvedIdentity } from '../config/types.js';
import type { Logger } from '../log.js';
import { toolCallNames } from '../mcp/jsonrpc.js';
import { type CallerIdentity, missingScopes } from './caller.js';
import {
  type AnyBearerError,
  InboundInsufficientScopeError,
  InvalidRequestError,
  isBearerError,
  VerifierUnavailableError,
} from './errors.js';
import {
  createMetadataRouter,
  type ProtectedResourceMetadata,
  protectedResourceMetadata,
  protectedResourceMetadataUrl,
} from './metadata.js';
import { createTokenVerifier, type TokenVerifier } from './verifier.js';

/** Gateway scopes a tool needs (its `gatewayScopes`), by tool name; undefined for none or no such tool. */
export type ScopesForTool = (name: string) => readonly string[] | undefined;

export interface InboundAuthOptions {
  identity: ResolvedIdentity;
  /** Where users reach the gateway. The resource defaults to `${publicUrl}/mcp`. */
  publicUrl: string;
  /** The MCP endpoint's URL, if not `${publicUrl}/mcp`. `identity.audience` overrides both. */
  resource?: string;
  fetch?: typeof fetch;
  clock?: Clock;
  logger?: Logger;
  /** Shown to users by clients that display the PRM document. */
  resourceName?: string;
  /** Advertised in the PRM document; defaults to `identity.scopesSupported`, else the required scopes. */
  scopesSupported?: string[];
  /** Enables `stepUp`, the tools/call gate. */
  scopesForTool?: ScopesForTool;
  /** See TokenVerifierOptions. */
  jwksCooldownMs?: number;
  /** A verifier to use instead of building one from `identity` (tests, or a shared one). */
  verifier?: TokenVerifier;
}

/** The caller as the tool-call path wants it: the token's scopes are its gateway scopes. */
export type VerifiedCaller = CallerIdentity & { gatewayScopes: string[] };

export interface InboundAuth {
  /** The resource identifier a token must be bound to (its `aud`). */
  resource: string;
  /** Where the PRM document is, as the 401 challenge names it. */
  resourceMetadataUrl: string;
  metadata: ProtectedResourceMetadata;
  verifier: TokenVerifier;
  /** Serves the PRM document; mount at the application root. */
  metadataRouter: Router;
  /** 401 with a challenge unless a valid bearer token is presented; then `callerOf(req)` is the caller. */
  requireCaller: RequestHandler;
  /** 403 insufficient_scope unless the caller (set by requireCaller) holds every one of `scopes`. */
  requireScopes(scopes: readonly string[]): RequestHandler;
  /** 403 insufficient_scope for a JSON-RPC `tools/call` whose tool needs gateway scopes the caller lacks. */
  toolScopeGate(scopesForTool: ScopesForTool): RequestHandler;
  /** `toolScopeGate(opts.scopesForTool)`, where that was given. */
  stepUp?: RequestHandler;
  /** The caller that requireCaller verified for this request; undefined before it ran or where it refused. */
  callerOf(req: Request): VerifiedCaller | undefined;
}

/** RFC 6750 s.3 auth-params are quoted strings; a config value must not break out of one, or the header. */
function quoted(value: string): string {
  return `"${value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '')}"`;
}

function union(...lists: ReadonlyArray<readonly string[]>): string[] {
  return [...new Set(lists.flat())];
}

export function createInboundAuth(opts: InboundAuthOptions): InboundAuth {
  const { identity, logger } = opts;
  /**
   * Who each request proved to this instance, keyed by the request object itself: nothing a client
   * sends (a header, a body field) can set it, and it goes away with the request.
   */
  const verifiedCallers = new WeakMap<Request, CallerIdentity>();
  const fallbackResource = opts.resource ?? `${opts.publicUrl.replace(/\/+$/, '')}/mcp`;
  const verifier =
    opts.verifier ??
    createTokenVerifier(identity, {
      resource: fallbackResource,
      fetch: opts.fetch,
      clock: opts.clock,
      jwksCooldownMs: opts.jwksCooldownMs,
    });
  const resource = verifier.resource;
  const resourceMetadataUrl = protectedResourceMetadataUrl(resource);
  const metadata = protectedResourceMetadata(identity, {
    resource,
    resourceName: opts.resourceName ?? 'Keyward',
    scopesSupported: opts.scopesSupported,
  });
  const requiredScopes = identity.requiredScopes;

  /** RFC 6750 s.3 and RFC 9728 s.5.1. No error code when the request carried no token (s.3.1). */
  const challenge = (err?: AnyBearerError): string => {
    const params: Array<[string, string]> = [];
    if (err && err.code !== 'unavailable') {
      params.push(['error', err.code], ['error_description', err.message]);
    }
    const scope = err instanceof InboundInsufficientScopeError ? err.scopes : requiredScopes;
    if (scope.length > 0) params.push(['scope', scope.join(' ')]);
    params.push(['resource_metadata', resourceMetadataUrl]);
    return `Bearer ${params.map(([k, v]) => `${k}=${quoted(v)}`).join(', ')}`;
  };

  const reject = (req: Request, res: Response, err: unknown): void => {
    const bearer: AnyBearerError = isBearerError(err)
      ? err
      : new VerifierUnavailableError('the token could not be checked', { cause: err });
    // The log gets the reason; the caller gets the code and a short description. An outage logs its
    // cause whole (URLs, socket errors); a rejection only its cause's message, since a jose claim
    // error carries the token's claims and those are nobody's business in a log line.
    const log = { reason: bearer.message, error: bearer.code, path: req.path };
    if (bearer.code === 'unavailable')
      logger?.warn({ ...log, err: bearer.cause }, 'inbound token could not be verified');
    else logger?.info({ ...log, detail: (bearer.cause as Error | undefined)?.message }, 'inbound token rejected');
    res.setHeader('Cache-Control', 'no-store');
    if (bearer.code === 'unavailable') {
      res.setHeader('Retry-After', '5');
      res.status(503).json({ error: 'temporarily_unavailable', error_description: bearer.message });
      return;
    }
    res.setHeader('WWW-Authenticate', challenge(bearer));
    res.status(bearer.status).json({ error: bearer.code, error_description: bearer.message });
  };

  const unauthenticated = (res: Response): void => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('WWW-Authenticate', challenge());
    res.status(401).json({ error: 'unauthorized', error_description: 'a bearer token is required' });
  };

  /** The scopes a re-authorization should ask for: what it has, what it must always have, and what it lacks. */
  const insufficient = (
    caller: CallerIdentity,
    needed: readonly string[],
  ): InboundInsufficientScopeError | undefined => {
    const missing = missingScopes(caller.scopes, needed);
    if (missing.length === 0) return undefined;
    return new InboundInsufficientScopeError(
      `the token lacks scope ${missing.join(' ')}`,
      union(requiredScopes, caller.scopes, needed),
    );
  };

  const verifiedCallerOf = (req: Request): CallerIdentity => {
    const caller = verifiedCallers.get(req);
    if (!caller) throw new Error('identity: requireCaller must run before this middleware');
    return caller;
  };

  const requireCaller: RequestHandler = async (req, res, next) => {
    try {
      // RFC 6750 s.2.3 allows it, the MCP spec forbids it: a token in the URL lands in logs.
      if (new URLSearchParams(req.originalUrl.split('?')[1] ?? '').has('access_token')) {
        throw new InvalidRequestError('send the token in the Authorization header, not the URL');
      }
      const header = req.headers.authorization;
      if (!header || !/^bearer(\s|$)/i.test(header)) {
        unauthenticated(res);
        return;
      }
      const match = /^bearer +(\S+) *$/i.exec(header);
      if (!match?.[1]) throw new InvalidRequestError('the Authorization header must be "Bearer <token>"');
      const caller = await verifier.verify(match[1]);
      const lacking = insufficient(caller, requiredScopes);
      if (lacking) throw lacking;
      // From here on only the CallerIdentity travels: the token stays behind (no passthrough).
      verifiedCallers.set(req, caller);
      next();
    } catch (err) {
      reject(req, res, err);
    }
  };

  const requireScopes = (scopes: readonly string[]): RequestHandler => {
    const needed = [...scopes];
    return (req, res, next) => {
      const lacking = insufficient(verifiedCallerOf(req), needed);
      if (lacking) reject(req, res, lacking);
      else next();
    };
  };

  const toolScopeGate = (scopesForTool: ScopesForTool): RequestHandler => {
    return (req, res, next) => {
      const caller = verifiedCallerOf(req);
      // express.json has parsed the body. A batch is checked as a whole: one 403 for all of it.
      const needed = new Set<string>();
      for (const name of toolCallNames(req.body)) for (const s of scopesForTool(name) ?? []) needed.add(s);
      const lacking = needed.size > 0 ? insufficient(caller, [...needed]) : undefined;
      if (lacking) reject(req, res, lacking);
      else next();
    };
  };

  const auth: InboundAuth = {
    resource,
    resourceMetadataUrl,
    metadata,
    verifier,
    metadataRouter: createMetadataRouter(metadata),
    requireCaller,
    requireScopes,
    toolScopeGate,
    callerOf(req) {
      const caller = verifiedCallers.get(req);
      return caller ? { ...caller, gatewayScopes: caller.scopes } : undefined;
    },
  };
  if (opts.scopesForTool) auth.stepUp = toolScopeGate(opts.scopesForTool);
  return auth;
}
