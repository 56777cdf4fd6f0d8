// Onboarding's entry points for the composition root: the HTTP routes and links, and the stdio loopback links.

import type { Router } from 'express';
import type { Gateway } from '../gateway/gateway.js';
import { onboardingDeps } from './deps.js';
import { createConnectLinks } from './links.js';
import { createLoopbackLinks, type LoopbackLinks, type LoopbackLinksOptions } from './loopback.js';
import { createOnboardingRouter, type OnboardingRouterOptions } from './router.js';

export { type OnboardingDeps, onboardingDeps } from './deps.js';
export { createConnectLinks } from './links.js';
export { createLoopbackLinks, type LoopbackLinks, type LoopbackLinksOptions } from './loopback.js';
export { defaultSubjectCheck, type FlowDone, type OnboardingRouterOptions } from './router.js';

/**
 * HTTP: /connect, /callback, /signin and /accounts on the gateway's own origin, and reauth errors
 * pointing at bound connect links there. Mount the router with `HttpOptions.routers`.
 */
export function httpOnboarding(gateway: Gateway, opts: OnboardingRouterOptions = {}): Router {
  const deps = onboardingDeps(gateway);
  const router = createOnboardingRouter(deps, opts);
  gateway.setLinks(createConnectLinks(deps, { publicUrl: opts.publicUrl ?? gateway.config.server.publicUrl }));
  return router;
}

/** stdio: reauth errors point at a loopback listener that starts on the first one. */
export function stdioOnboarding(gateway: Gateway, opts: LoopbackLinksOptions = {}): LoopbackLinks {
  const links = createLoopbackLinks(onboardingDeps(gateway), opts);
  gateway.setLinks(links);
  return links;
}
