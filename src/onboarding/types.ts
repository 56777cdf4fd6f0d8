// The seam between the call path and onboarding is the gateway's (src/gateway/links.ts); onboarding implements it.
export type { AuthorizeLinkRequest, AuthorizeLinks } from '../gateway/links.js';
