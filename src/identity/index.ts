// Inbound identity over HTTP: what the transport mounts and what the tool-call path reads.
export { type CallerIdentity, missingScopes, scopesOf } from './caller.js';
export * from './errors.js';
export {
  createMetadataRouter,
  PRM_PATH,
  type ProtectedResourceMetadata,
  protectedResourceMetadata,
  protectedResourceMetadataUrl,
} from './metadata.js';
export {
  createInboundAuth,
  type InboundAuth,
  type InboundAuthOptions,
  type ScopesForTool,
  type VerifiedCaller,
} from './middleware.js';
export { createTokenVerifier, gatewayResource, type TokenVerifier, type TokenVerifierOptions } from './verifier.js';
