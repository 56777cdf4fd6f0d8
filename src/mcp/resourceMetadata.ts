// Serving Protected Resource Metadata (RFC 9728) with the SDK's handler, and the SDK's rule for its URL.
import { metadataHandler } from '@modelcontextprotocol/sdk/server/auth/handlers/metadata.js';
import { getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import type { OAuthProtectedResourceMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { RequestHandler } from 'express';

/** The path-aware PRM URL for a resource: `https://h/mcp` -> `https://h/.well-known/oauth-protected-resource/mcp`. */
export function protectedResourceMetadataUrl(resource: string): string {
  return getOAuthProtectedResourceMetadataUrl(new URL(resource));
}

/**
 * Answers GET with the document, adds CORS for browser-based clients, and 405 to anything else. The
 * document must be a type alias, not an interface: the SDK's type has an index signature.
 */
export function resourceMetadataHandler(doc: OAuthProtectedResourceMetadata): RequestHandler {
  return metadataHandler(doc);
}
