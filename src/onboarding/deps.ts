// What onboarding needs from the gateway, in one place, so that the router, the loopback listener and the CLI share it.
import type { AuditSink } from '../audit/types.js';
import type { GrantSummary, OnboardingGrants, RevokeResult } from '../broker/onboardingApi.js';
import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Gateway } from '../gateway/gateway.js';
import type { Logger } from '../log.js';
import type { ProviderRegistry } from '../providers/types.js';
import type { RecordStore } from '../records.js';
import type { ToolDefinition } from '../tools/types.js';
import type { OpenIdentityProviderClient } from './signin.js';

export interface OnboardingDeps {
  config: ResolvedConfig;
  /** Onboarding's own records (flows, links, sessions): not the grant store. */
  records: RecordStore;
  /** For authorization URLs, endpoints and titles; token requests go through `grants`. */
  providers: ProviderRegistry;
  tools: readonly ToolDefinition[];
  clock: Clock;
  audit: AuditSink;
  logger: Logger;
  /** The broker's narrow API: completing grants, and the queries onboarding needs. */
  grants: OnboardingGrants;
  /** The OIDC client at config.identity's issuer, for signing people in; absent without inbound identity. */
  signIn?: OpenIdentityProviderClient;
}

export function onboardingDeps(gateway: Gateway): OnboardingDeps {
  return {
    config: gateway.config,
    records: gateway.onboarding.records,
    providers: gateway.providers,
    tools: gateway.toolList,
    clock: gateway.clock,
    audit: gateway.audit,
    logger: gateway.logger,
    grants: gateway.onboarding.grants,
    ...(gateway.onboarding.signIn ? { signIn: gateway.onboarding.signIn } : {}),
  };
}

export type { GrantSummary, OnboardingGrants, RevokeResult };

/** The scopes a user may be sent to consent to for a provider: its configured ones and its tools'. */
export function knownScopes(deps: Pick<OnboardingDeps, 'config' | 'tools'>, provider: string): Set<string> {
  const known = new Set(deps.config.providers[provider]?.scopes ?? []);
  for (const tool of deps.tools) if (tool.provider === provider) for (const s of tool.scopes) known.add(s);
  return known;
}
