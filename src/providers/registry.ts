// The configured providers by name, each built once on first use.
import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { PRESETS } from './presets/index.js';
import { createProviderRuntime } from './runtime.js';
import type { ProviderRegistry, ProviderRuntime } from './types.js';

export type { ProviderRegistry, ProviderRuntime };

export interface ProviderRegistryOptions {
  fetch?: typeof fetch;
  logger?: Logger;
  /** Per token request; default 10 s. */
  timeoutMs?: number;
  /** The gateway's clock: a provider's Retry-After is held on it. */
  clock?: Clock;
}

export function createProviderRegistry(config: ResolvedConfig, opts: ProviderRegistryOptions = {}): ProviderRegistry {
  const runtimes = new Map<string, ProviderRuntime>();
  for (const [name, p] of Object.entries(config.providers)) {
    if (p.preset && !PRESETS[p.preset]) throw new Error(`providers.${name}.preset: unknown preset "${p.preset}"`);
  }
  return {
    get(name) {
      let rt = runtimes.get(name);
      if (rt) return rt;
      const p = config.providers[name];
      if (!p) throw new Error(`provider "${name}" is not configured`);
      rt = createProviderRuntime({ ...p, name }, p.preset ? PRESETS[p.preset] : undefined, {
        fetch: opts.fetch,
        timeoutMs: opts.timeoutMs,
        clock: opts.clock,
      });
      runtimes.set(name, rt);
      opts.logger?.debug({ provider: name, preset: p.preset, strategy: p.strategy }, 'provider ready');
      return rt;
    },
    has: (name) => Object.hasOwn(config.providers, name),
    names: () => Object.keys(config.providers),
  };
}
