// The config after loading: secrets read, relative paths made absolute, defaults filled in.
import type { IdentityConfig, KeywardConfigParsed, ProviderConfig } from './schema.js';

/** How a provider's grant becomes a call's credential (see the strategies table in the design). */
export type Strategy = ProviderConfig['strategy'];

export interface EncryptionKey {
  /** A short id derived from the key; it goes in each JWE's protected header. */
  kid: string;
  key: Uint8Array;
}

export interface ResolvedProvider extends Omit<ProviderConfig, 'clientSecret'> {
  name: string;
  /** Read from its reference at load time. Never logged. */
  clientSecret?: string;
}

export interface ResolvedIdentity extends Omit<IdentityConfig, 'introspection'> {
  introspection?: { endpoint: string; clientId: string; clientSecret: string };
}

export interface ResolvedConfig {
  /** Absolute path of the config file, or '<inline>'. */
  configPath: string;
  configDir: string;
  server: KeywardConfigParsed['server'] & { user: string; publicUrl: string };
  /** sqlite:<absolute path> | redis://… | postgres://… | memory: */
  store: string;
  encryption: { current: EncryptionKey; previous: EncryptionKey[] };
  providers: Record<string, ResolvedProvider>;
  /** Absolute paths. */
  tools: string[];
  identity?: ResolvedIdentity;
  /** jsonl:<absolute path> | stderr: | memory: */
  audit: string;
}
