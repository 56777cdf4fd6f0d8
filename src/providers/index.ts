// The provider layer's public face: the registry, presets and the token-request types.

export { PRESETS } from './presets/index.js';
export { createProviderRegistry, type ProviderRegistryOptions } from './registry.js';
export { createProviderRuntime } from './runtime.js';
export * from './types.js';
