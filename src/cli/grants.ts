// `keyward grants`: who granted what, when, until when, and when it was last used. Never a secret.

import type { GrantSummary } from '../broker/grants.js';
import { loadConfig } from '../config/load.js';
import { createGateway } from '../gateway/gateway.js';
import { createLogger } from '../log.js';
import { type CliIo, defaultIo } from './connect.js';

export interface GrantsCommandOptions {
  config: string;
  /** Only this user's grants; default every user. */
  user?: string;
  json?: boolean;
}

/** The fields a person may see: an allowlist, so a new secret field on Grant never leaks here. */
export function grantView(g: GrantSummary) {
  return {
    id: g.id,
    user: g.user,
    ...(g.tenant ? { tenant: g.tenant } : {}),
    provider: g.provider,
    status: g.status,
    ...(g.reason ? { reason: g.reason } : {}),
    scopes: g.scopes,
    client: g.client,
    consentedAt: new Date(g.consentedAt).toISOString(),
    ...(g.consentExpiresAt !== undefined ? { consentExpiresAt: new Date(g.consentExpiresAt).toISOString() } : {}),
    ...(g.lastUsedAt !== undefined ? { lastUsedAt: new Date(g.lastUsedAt).toISOString() } : {}),
    updatedAt: new Date(g.updatedAt).toISOString(),
    generation: g.generation,
    hasRefreshToken: g.hasRefreshToken,
  };
}

export function formatTable(header: string[], rows: string[][]): string[] {
  // A loop, not Math.max(...rows): spreading a long audit tail overflows the call stack.
  const widths = header.map((h) => h.length);
  for (const r of rows) for (const [i, w] of widths.entries()) widths[i] = Math.max(w, (r[i] ?? '').length);
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

const shortTime = (iso: string | undefined) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-');

export async function runGrants(opts: GrantsCommandOptions, io: CliIo = defaultIo()): Promise<number> {
  const config = await loadConfig(opts.config);
  const gateway = await createGateway(config, { logger: createLogger({ level: io.env.KEYWARD_LOG_LEVEL ?? 'warn' }) });
  try {
    const grants = (await gateway.grants.listGrants(opts.user ? { user: opts.user } : undefined))
      .map(grantView)
      .sort((a, b) => a.user.localeCompare(b.user) || a.provider.localeCompare(b.provider));
    if (opts.json) {
      io.out(JSON.stringify(grants, null, 2));
      return 0;
    }
    if (grants.length === 0) {
      io.out(
        opts.user ? `No grants for ${opts.user}.` : 'No grants yet. Grant access with `keyward connect <provider>`.',
      );
      return 0;
    }
    const rows = grants.map((g) => [
      g.provider,
      g.tenant ? `${g.user} (${g.tenant})` : g.user,
      g.status,
      shortTime(g.consentedAt),
      shortTime(g.consentExpiresAt),
      shortTime(g.lastUsedAt),
      g.scopes.join(' '),
    ]);
    for (const line of formatTable(['PROVIDER', 'USER', 'STATUS', 'CONSENTED', 'EXPIRES', 'LAST USED', 'SCOPES'], rows))
      io.out(line);
    return 0;
  } finally {
    await gateway.close();
  }
}
