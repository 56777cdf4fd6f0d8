// What onboarding needs from the gateway, in one place, so that the router, the loopback listener and the CLI share it.
import type { AuditSink } from '../audit/types.js';
import type { GrantSummary, RevokeResult, SaveGrantInput } from '../broker/grants.js';
import type { Grant, GrantStore } from '../broker/types.js';
import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Gateway } from '../gateway/gateway.js';
import type { Logger } from '../log.js';
import type { ProviderRegistry } from '../providers/types.js';
import type { ToolDefinition } from '../tools/types.js';

/** The broker's grant operations, as onboarding calls them (src/broker/grants.ts). */
export interface GrantOps {
  /** Stores (or extends, for incremental consent) a grant; applies the provider's consentTtl. */
  save(input: SaveGrantInput): Promise<Grant>;
  /** Revokes at the provider where it can, and marks the grant revoked. */
  revoke(user: string, provider: string, tenant?: string): Promise<RevokeResult>;
  /** Grants without their secrets, with when each was last used. */
  list(filter?: { user?: string; provider?: string }): Promise<GrantSummary[]>;
}

export interface OnboardingDeps {
  config: ResolvedConfig;
  store: GrantStore;
  providers: ProviderRegistry;
  tools: readonly ToolDefinition[];
  clock: Clock;
  audit: AuditSink;
  logger: Logger;
  grants: GrantOps;
}

export function onboardingDeps(gateway: Gateway): OnboardingDeps {
  return {
    config: gateway.config,
    store: gateway.store,
    providers: gateway.providers,
    tools: gateway.toolList,
    clock: gateway.clock,
    audit: gateway.audit,
    logger: gateway.logger,
    grants: grantOpsOf(gateway),
  };
}

export function grantOpsOf(gateway: Pick<Gateway, 'grants'>): GrantOps {
  const { grants } = gateway;
  return { save: grants.saveGrantFromTokens, revoke: grants.revokeGrant, list: grants.listGrants };
}

export type { GrantSummary, RevokeResult, SaveGrantInput };

/** The scopes a user may be sent to consent to for a provider: its configured ones and its tools'. */
export function knownScopes(deps: Pick<OnboardingDeps, 'config' | 'tools'>, provider: string): Set<string> {
  const known = new Set(deps.config.providers[provider]?.scopes ?? []);
  for (const tool of deps.tools) if (tool.provider === provider) for (const s of tool.scopes) known.add(s);
  return known;
}
