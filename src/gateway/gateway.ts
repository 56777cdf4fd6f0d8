// The composition root: config in, a running gateway (broker, tools, audit, and onboarding's narrow seams) out.
import { createAuditSink } from '../audit/sink.js';
import type { AuditSink } from '../audit/types.js';
import { openBrokerStack } from '../broker/assemble.js';
import type { GrantService } from '../broker/grants.js';
import { createOnboardingGrants, type OnboardingGrants } from '../broker/onboardingApi.js';
import { type Clock, systemClock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import { createLogger, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics.js';
import type { ProviderRegistry } from '../providers/registry.js';
import {
  createSignInRelyingParty,
  type SignInClientOptions,
  type SignInRelyingParty,
} from '../providers/signInClient.js';
import { prefixedRecords, type RecordStore } from '../records.js';
import { loadTools } from '../tools/load.js';
import type { ToolDefinition } from '../tools/types.js';
import { VERSION } from '../version.js';
import { type AuthorizeLinks, connectRouteLinks, createLinkSource, type LinkSource } from './links.js';
import { type Caller, runToolCall, type ToolOutcome } from './toolCall.js';

export interface GatewayOptions {
  logger?: Logger;
  clock?: Clock;
  /** Downstream and authorization-server fetch; tests point it at loopback. */
  fetch?: typeof fetch;
  /** Where reauth errors send the user until the root binds onboarding's. Default: the /connect route. */
  links?: AuthorizeLinks;
  audit?: AuditSink;
  /** Tests only: switch the cross-process refresh lock off to prove the race is real. */
  lockEnabled?: boolean;
}

export interface Gateway {
  config: ResolvedConfig;
  version: string;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  tools: ReadonlyMap<string, ToolDefinition>;
  toolList: readonly ToolDefinition[];
  providers: ProviderRegistry;
  /** Saving (from tokens a caller already holds: tests, benchmarks), listing and revoking grants. */
  grants: GrantService;
  /** What onboarding gets: the broker's narrow API and a record store of its own, no store, cipher or lock. */
  onboarding: {
    grants: OnboardingGrants;
    records: RecordStore;
    /** The OIDC client at config.identity's issuer, for signing people in at /connect and /accounts. */
    signIn?: (opts: Omit<SignInClientOptions, 'fetch'>) => SignInRelyingParty;
  };
  audit: AuditSink;
  /** Where reauth errors send the user; the composition root binds onboarding's links here. */
  links: LinkSource;
  callTool(caller: Caller, name: string, args: unknown, opts?: { signal?: AbortSignal }): Promise<ToolOutcome>;
  jwks(): Promise<{ keys: Record<string, unknown>[] }>;
  close(): Promise<void>;
}

export { connectRouteLinks };

/** Onboarding's records live under this prefix of the shared store (see src/onboarding/records.ts). */
export const ONBOARDING_RECORD_PREFIX = 'onboarding:';

export async function createGateway(config: ResolvedConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const logger = opts.logger ?? createLogger();
  const clock = opts.clock ?? systemClock;
  const metrics = createMetrics();
  const toolList = await loadTools(config.tools, config.providers);
  const tools = new Map(toolList.map((t) => [t.name, t]));
  const stack = await openBrokerStack(config, {
    logger,
    metrics,
    clock,
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    ...(opts.lockEnabled === false ? { lockEnabled: false } : {}),
  });
  const { store, providers, signingKeys, broker, grants } = stack;
  const audit = opts.audit ?? createAuditSink(config.audit);
  const links = createLinkSource(opts.links ?? connectRouteLinks(config.server.publicUrl));
  const { identity } = config;
  const onboarding: Gateway['onboarding'] = {
    grants: createOnboardingGrants({ config, grants, providers, clock, logger }),
    records: prefixedRecords(store, ONBOARDING_RECORD_PREFIX),
    ...(identity
      ? {
          signIn: (o: Omit<SignInClientOptions, 'fetch'>) =>
            createSignInRelyingParty(identity, { ...o, ...(opts.fetch ? { fetch: opts.fetch } : {}) }),
        }
      : {}),
  };

  const gateway: Gateway = {
    config,
    version: VERSION,
    logger,
    metrics,
    clock,
    tools,
    toolList,
    providers,
    grants,
    onboarding,
    audit,
    links,
    callTool: (caller, name, args, o = {}) =>
      runToolCall(
        { config, tools, broker, links, audit, logger, metrics, clock, ...(opts.fetch ? { fetch: opts.fetch } : {}) },
        caller,
        name,
        args,
        o,
      ),
    jwks: () => signingKeys.jwks(),
    async close() {
      await links.close();
      await audit.close();
      await stack.close();
    },
  };
  return gateway;
}
