// Onboarding's entry points for the composition root: the HTTP routes and links, and the stdio loopback links.

import type { Router } from 'express';
import type { Gateway } from '../gateway/gateway.js';
import type { AuthorizeLinks } from '../gateway/links.js';
import { onboardingDeps } from './deps.js';
import { createConnectLinks } from './links.js';
import { createLoopbackLinks, type LoopbackLinks, type LoopbackLinksOptions } from './loopback.js';
import { createOnboardingRouter, type OnboardingRouterOptions } from './router.js';

export { type OnboardingDeps, onboardingDeps } from './deps.js';
export { createConnectLinks } from './links.js';
export { createLoopbackLinks, type LoopbackLinks, type LoopbackLinksOptions } from './loopback.js';
export { defaultSubjectCheck, type FlowDone, type OnboardingRouterOptions } from './router.js';

/**
 * HTTP: /connect, /callback, /signin and /accounts on the gateway's own origin (mount `router` with
 * `HttpOptions.routers`), and `links` for reauth errors: bound connect links there. The caller binds
 * the links (`gateway.links.bind`); onboarding does not change the gateway.
 */
export function httpOnboarding(
  gateway: Gateway,
  opts: OnboardingRouterOptions = {},
): { router: Router; links: AuthorizeLinks } {
  const deps = onboardingDeps(gateway);
  const router = createOnboardingRouter(deps, opts);
  const links = createConnectLinks(deps, { publicUrl: opts.publicUrl ?? gateway.config.server.publicUrl });
  return { router, links };
}

/** stdio: reauth errors point at a loopback listener that starts on the first one (the caller binds it). */
export function stdioOnboarding(gateway: Gateway, opts: LoopbackLinksOptions = {}): LoopbackLinks {
  return createLoopbackLinks(onboardingDeps(gateway), opts);
}
