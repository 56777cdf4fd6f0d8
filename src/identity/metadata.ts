// Protected Resource Metadata (RFC 9728): how an MCP client finds where to sign in for this gateway.
import { Router as createRouter, type Router } from 'express';
import type { ResolvedIdentity } from '../config/types.js';
import { protectedResourceMetadataUrl, resourceMetadataHandler } from '../mcp/resourceMetadata.js';

export { protectedResourceMetadataUrl };

export const PRM_PATH = '/.well-known/oauth-protected-resource';

/** A type, not an interface: the SDK's handler wants an object with an index signature. */
export type ProtectedResourceMetadata = {
  resource: string;
  authorization_servers: string[];
  scopes_supported?: string[];
  bearer_methods_supported: ['header'];
  resource_name?: string;
  resource_documentation?: string;
};

export interface MetadataOptions {
  /** The gateway's resource identifier, verbatim: the client sends it back as `resource`. */
  resource: string;
  resourceName?: string;
  resourceDocumentation?: string;
  /** Overrides `identity.scopesSupported`. */
  scopesSupported?: string[];
}

export function protectedResourceMetadata(
  identity: Pick<ResolvedIdentity, 'issuer' | 'scopesSupported' | 'requiredScopes'>,
  opts: MetadataOptions,
): ProtectedResourceMetadata {
  const scopes = opts.scopesSupported ?? identity.scopesSupported ?? identity.requiredScopes;
  const doc: ProtectedResourceMetadata = {
    resource: opts.resource,
    // The issuer exactly as configured: the client looks up its metadata and compares `issuer`.
    authorization_servers: [identity.issuer],
    // Bearer tokens in a query string or form body end up in logs and histories: header only.
    bearer_methods_supported: ['header'],
  };
  if (scopes.length > 0) doc.scopes_supported = [...new Set(scopes)];
  if (opts.resourceName) doc.resource_name = opts.resourceName;
  if (opts.resourceDocumentation) doc.resource_documentation = opts.resourceDocumentation;
  return doc;
}

/**
 * Serves the document at the path-aware URL (RFC 9728 s.3.1, where clients look first) and at
 * the root one (where clients that ignore the resource's path look). The SDK's `metadataHandler`
 * adds CORS, for browser-based clients, and answers 405 to anything but GET.
 *
 * Not the SDK's `mcpAuthMetadataRouter`: it needs the authorization server's whole metadata up
 * front and republishes it at this origin as if the gateway were the AS, it serves only the
 * path-aware URL, and its document has no `bearer_methods_supported`.
 */
export function createMetadataRouter(doc: ProtectedResourceMetadata): Router {
  const router = createRouter();
  const handler = resourceMetadataHandler(doc);
  const path = new URL(doc.resource).pathname.replace(/\/$/, '');
  // Path-aware first: `use` matches by prefix, and the root handler answers only its exact path.
  if (path) router.use(`${PRM_PATH}${path}`, handler);
  router.use(PRM_PATH, handler);
  return router;
}
