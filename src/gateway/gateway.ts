// The composition root: config in, a running gateway (store, broker, tools, audit) out.
import { createAuditSink } from '../audit/sink.js';
import type { AuditSink } from '../audit/types.js';
import { openBrokerStack } from '../broker/assemble.js';
import type { GrantService } from '../broker/grants.js';
import type { CredentialBroker, GrantCipher, GrantStore, RefreshLock } from '../broker/types.js';
import { type Clock, systemClock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import { createLogger, type Logger } from '../log.js';
import { createMetrics, type Metrics } from '../metrics.js';
import type { AuthorizeLinks } from '../onboarding/types.js';
import type { ProviderRegistry } from '../providers/registry.js';
import { loadTools } from '../tools/load.js';
import type { ToolDefinition } from '../tools/types.js';
import { VERSION } from '../version.js';
import { type Caller, runToolCall, type ToolOutcome } from './toolCall.js';

export interface GatewayOptions {
  logger?: Logger;
  clock?: Clock;
  /** Downstream and authorization-server fetch; tests point it at loopback. */
  fetch?: typeof fetch;
  /** Where reauth errors send the user. Defaults to the gateway's own /connect routes. */
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
  store: GrantStore;
  cipher: GrantCipher;
  lock: RefreshLock;
  providers: ProviderRegistry;
  broker: CredentialBroker;
  /** Saving, listing and revoking grants (onboarding, the CLI). */
  grants: GrantService;
  audit: AuditSink;
  links: AuthorizeLinks;
  callTool(caller: Caller, name: string, args: unknown, opts?: { signal?: AbortSignal }): Promise<ToolOutcome>;
  jwks(): Promise<{ keys: Record<string, unknown>[] }>;
  /** Replaces the authorize-link source (onboarding installs its own once it is listening). */
  setLinks(links: AuthorizeLinks): void;
  close(): Promise<void>;
}

/** Until onboarding installs its own, reauth errors point at the gateway's /connect route. */
export function connectRouteLinks(publicUrl: string): AuthorizeLinks {
  return {
    async authorizeUrl(req) {
      const url = new URL(`/connect/${encodeURIComponent(req.provider)}`, publicUrl);
      if (req.scopes?.length) url.searchParams.set('scope', req.scopes.join(' '));
      return url.toString();
    },
    async close() {},
  };
}

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
  const { store, cipher, lock, providers, signingKeys, broker, grants } = stack;
  const audit = opts.audit ?? createAuditSink(config.audit);
  let links = opts.links ?? connectRouteLinks(config.server.publicUrl);

  const gateway: Gateway = {
    config,
    version: VERSION,
    logger,
    metrics,
    clock,
    tools,
    toolList,
    store,
    cipher,
    lock,
    providers,
    broker,
    grants,
    audit,
    get links() {
      return links;
    },
    callTool: (caller, name, args, o = {}) =>
      runToolCall(
        { config, tools, broker, links, audit, logger, metrics, clock, ...(opts.fetch ? { fetch: opts.fetch } : {}) },
        caller,
        name,
        args,
        o,
      ),
    jwks: () => signingKeys.jwks(),
    setLinks(next) {
      links = next;
    },
    async close() {
      await links.close();
      await audit.close();
      await stack.close();
    },
  };
  return gateway;
}
