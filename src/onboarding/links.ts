// Connect links: the authorizeUrl in a reauth error, bound server-side to the user and call it was made for.
//
// The URL is `/connect/<provider>/<link id>`. The id is 256 random bits naming a store record; it
// grants nothing by itself: whoever opens it must still be confirmed as the record's user (signed
// in at the gateway, or the local user) before anything is sent to the provider. So the URL
// carries no credential, and a leaked link only lets its own user finish.
import type { Clock } from '../clock.js';
import type { RecordStore } from '../records.js';
import { type ConnectLink, keys, LINK_TTL_MS, randomId, writeLive } from './records.js';
import type { AuthorizeLinkRequest, AuthorizeLinks } from './types.js';

export async function issueLink(
  deps: { records: RecordStore; clock: Clock },
  req: AuthorizeLinkRequest,
  ttlMs: number = LINK_TTL_MS,
): Promise<{ id: string; link: ConnectLink }> {
  const now = deps.clock.now();
  const link: ConnectLink = {
    provider: req.provider,
    user: req.user,
    ...(req.tenant ? { tenant: req.tenant } : {}),
    client: req.client,
    scopes: [...new Set(req.scopes ?? [])],
    ...(req.callId ? { callId: req.callId } : {}),
    createdAt: now,
    expiresAt: now + ttlMs,
  };
  const id = randomId();
  await writeLive(deps.records, keys.link(id), link, deps.clock);
  return { id, link };
}

export function connectUrl(publicUrl: string, provider: string, linkId?: string): string {
  const base = `${publicUrl.replace(/\/+$/, '')}/connect/${encodeURIComponent(provider)}`;
  return linkId ? `${base}/${linkId}` : base;
}

/** The HTTP gateway's links: they hang off server.publicUrl. */
export function createConnectLinks(
  deps: { records: RecordStore; clock: Clock },
  opts: { publicUrl: string; ttlMs?: number },
): AuthorizeLinks {
  return {
    async authorizeUrl(req) {
      const { id } = await issueLink(deps, req, opts.ttlMs);
      return connectUrl(opts.publicUrl, req.provider, id);
    },
    async close() {},
  };
}
