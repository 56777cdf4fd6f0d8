// Prometheus counters and histograms, served at /metrics over HTTP.
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'keyward_process_' });
  return {
    registry,
    refreshes: new Counter({
      name: 'keyward_refreshes_total',
      help: 'Refresh requests sent to authorization servers, by provider and outcome',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    }),
    coalescedWaits: new Counter({
      name: 'keyward_coalesced_waits_total',
      help: 'Calls that waited on a refresh another call or process already ran',
      labelNames: ['provider', 'scope'] as const,
      registers: [registry],
    }),
    lockWait: new Histogram({
      name: 'keyward_lock_wait_seconds',
      help: 'Time spent waiting for a grant refresh lock',
      labelNames: ['backend'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    reauthErrors: new Counter({
      name: 'keyward_reauth_errors_total',
      help: 'reauth_required and insufficient_scope errors returned, by reason',
      labelNames: ['provider', 'reason'] as const,
      registers: [registry],
    }),
    refreshTokensLost: new Counter({
      name: 'keyward_refresh_tokens_lost_total',
      help: 'Refresh tokens lost (the grant needs reauth): a refresh interrupted after its token was presented, or a rotated token fenced out',
      labelNames: ['provider', 'cause'] as const,
      registers: [registry],
    }),
    credentials: new Counter({
      name: 'keyward_credentials_total',
      help: 'Call credentials handed out, by strategy and source (cache, refresh, exchange, mint)',
      labelNames: ['provider', 'strategy', 'source'] as const,
      registers: [registry],
    }),
    toolCalls: new Histogram({
      name: 'keyward_tool_call_seconds',
      help: 'Tool call duration, by tool and outcome',
      labelNames: ['tool', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
