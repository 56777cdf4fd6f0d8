// The inbound issuer's metadata (RFC 8414 or OpenID discovery), fetched once and shared.
import { z } from 'zod';
import type { Clock } from '../clock.js';
import { VerifierUnavailableError } from './errors.js';

/** Metadata we don't own: loose, and only the fields we use are checked. */
const IssuerMetadata = z.looseObject({
  issuer: z.string(),
  jwks_uri: z.url({ protocol: /^https?$/ }).optional(),
  introspection_endpoint: z.url({ protocol: /^https?$/ }).optional(),
});
export type IssuerMetadata = z.infer<typeof IssuerMetadata>;

/**
 * Where the metadata may live, in the order the MCP SDK client tries them: RFC 8414 inserts the
 * well-known segment before the issuer's path; OpenID Connect Discovery appends it.
 */
export function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  const at = (p: string) => new URL(p, url.origin).href;
  if (!path) return [at('/.well-known/oauth-authorization-server'), at('/.well-known/openid-configuration')];
  return [
    at(`/.well-known/oauth-authorization-server${path}`),
    at(`/.well-known/openid-configuration${path}`),
    at(`${path}/.well-known/openid-configuration`),
  ];
}

export interface IssuerDiscoveryOptions {
  fetch?: typeof fetch;
  clock: Clock;
  timeoutMs: number;
  /** After a failure, how long callers get the same failure before we ask the issuer again. */
  retryAfterMs?: number;
}

/**
 * Returns a function that yields the issuer's metadata. The first success is kept for the life of
 * the process; a failure is kept only for `retryAfterMs`, so an outage at the issuer costs one
 * request per interval, not one per inbound call.
 */
export function createIssuerDiscovery(issuer: string, opts: IssuerDiscoveryOptions): () => Promise<IssuerMetadata> {
  const fetchImpl = opts.fetch ?? fetch;
  const retryAfterMs = opts.retryAfterMs ?? 5_000;
  let pending: Promise<IssuerMetadata> | undefined;
  let failedAt: number | undefined;

  const discover = async (): Promise<IssuerMetadata> => {
    const problems: string[] = [];
    for (const url of metadataUrls(issuer)) {
      let res: Response;
      try {
        res = await fetchImpl(url, {
          headers: { accept: 'application/json' },
          redirect: 'manual',
          signal: AbortSignal.timeout(opts.timeoutMs),
        });
      } catch (cause) {
        throw new VerifierUnavailableError('the authorization server could not be reached', { cause });
      }
      if (res.status !== 200) {
        problems.push(`${url}: HTTP ${res.status}`);
        await res.body?.cancel();
        continue;
      }
      const parsed = IssuerMetadata.safeParse(await res.json().catch(() => undefined));
      if (!parsed.success) {
        problems.push(`${url}: not authorization server metadata`);
        continue;
      }
      // RFC 8414 s.3.3: metadata naming another issuer must not be used.
      if (parsed.data.issuer !== issuer) {
        problems.push(`${url}: names issuer ${parsed.data.issuer}, expected ${issuer}`);
        continue;
      }
      return parsed.data;
    }
    throw new VerifierUnavailableError('the authorization server metadata could not be loaded', {
      cause: new Error(problems.join('; ')),
    });
  };

  return () => {
    if (pending && failedAt !== undefined && opts.clock.now() - failedAt >= retryAfterMs) {
      pending = undefined;
      failedAt = undefined;
    }
    if (!pending) {
      const p = discover();
      pending = p;
      p.catch(() => {
        if (pending === p) failedAt = opts.clock.now();
      });
    }
    return pending;
  };
}
