// A grant's life: saved from tokens at onboarding (incremental consent merges), checked per call, revoked, listed.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { tokenSetFromWire, type WireTokens } from '../providers/tokenSet.js';
import type { ProviderRegistry, RevocationOutcome, TokenSet } from '../providers/types.js';
import { bindingOf } from './credentialCache.js';
import { grantKey } from './store.js';
import type { Grant, GrantCipher, GrantStore, RefreshLock } from './types.js';

/** When a grant was last used, kept apart from the grant so a call never rewrites the grant. */
export const GRANT_USED_PREFIX = 'grant-used:';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "90s", "15m", "8h", "30d" (the config's Duration) in milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

/**
 * The OAuth wire names are accepted too, for callers that hold a raw token response (tests and
 * benchmarks seed grants that way); a grant may be seeded from a refresh token alone.
 */
export type GrantTokens = TokenSet | (Omit<WireTokens, 'access_token'> & { access_token?: string });

export interface SaveGrantInput {
  user: string;
  tenant?: string;
  provider: string;
  /** The MCP client (agent) the user onboarded through. */
  client: string;
  tokens: GrantTokens;
  /** What was asked for, used when the provider's response names no scope. */
  requestedScopes?: string[];
}

export interface RevokeResult {
  found: boolean;
  grant?: GrantSummary;
  /** What the provider said; `supported: false` where it has no revocation verb. */
  provider?: RevocationOutcome;
}

/** A grant as listed for people: no ciphertext, just whether secrets are held. */
export type GrantSummary = Omit<Grant, 'refreshTokenEnc' | 'accessTokenEnc'> & { hasRefreshToken: boolean };

export interface GrantServiceDeps {
  config: ResolvedConfig;
  store: GrantStore;
  cipher: GrantCipher;
  providers: ProviderRegistry;
  clock: Clock;
  logger: Logger;
  /** Serializes with refreshes of the same grant; optional for single-process tools. */
  lock?: RefreshLock;
}

function normalizeTokens(t: GrantTokens): TokenSet {
  return 'accessToken' in t ? t : tokenSetFromWire({ ...t, access_token: t.access_token ?? '' });
}

/** A grant without its ciphertext; `lastUsedAt` as the grant itself knows it. */
export function summarizeGrant(grant: Grant): GrantSummary {
  const { refreshTokenEnc, accessTokenEnc: _a, ...rest } = grant;
  return { ...rest, hasRefreshToken: Boolean(refreshTokenEnc) };
}

export function createGrantService(deps: GrantServiceDeps) {
  const { store, cipher, clock, logger } = deps;

  function locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return deps.lock ? deps.lock.withLock(key, fn) : fn();
  }

  /**
   * Stores the grant from an authorization code exchange. An existing grant for the same user and
   * provider keeps its id and gains the new scopes (incremental consent: the grant covers the union).
   */
  async function saveGrantFromTokens(input: SaveGrantInput): Promise<Grant> {
    const provider = deps.config.providers[input.provider];
    if (!provider) throw new Error(`provider "${input.provider}" is not configured`);
    const tokens = normalizeTokens(input.tokens);
    const binding = bindingOf(input);
    return locked(grantKey(input.user, input.provider, input.tenant), async () => {
      const now = clock.now();
      const existing = await store.getGrant(input.user, input.provider, input.tenant);
      // A revoked grant is over: a new consent starts a new grant rather than reviving its scopes.
      const carried = existing && existing.status !== 'revoked' ? existing : undefined;
      const granted = tokens.scope ?? input.requestedScopes ?? [];
      const scopes = [...new Set([...(carried?.scopes ?? []), ...granted])];
      const grant: Grant = {
        id: carried?.id ?? randomUUID(),
        user: input.user,
        ...(input.tenant ? { tenant: input.tenant } : {}),
        provider: input.provider,
        scopes,
        consentedAt: now,
        ...(provider.consentTtl ? { consentExpiresAt: now + parseDuration(provider.consentTtl) } : {}),
        generation: (existing?.generation ?? 0) + 1,
        client: input.client,
        status: 'active',
        updatedAt: now,
        ...(carried?.lastUsedAt ? { lastUsedAt: carried.lastUsedAt } : {}),
      };
      if (tokens.refreshToken) grant.refreshTokenEnc = await cipher.encrypt(tokens.refreshToken, binding);
      // A provider that does not rotate may send no new refresh token; the earlier one still works.
      else if (carried?.refreshTokenEnc) grant.refreshTokenEnc = carried.refreshTokenEnc;
      if (tokens.accessToken) {
        grant.accessTokenEnc = await cipher.encrypt(tokens.accessToken, binding);
        if (tokens.expiresIn !== undefined) grant.accessTokenExpiresAt = now + tokens.expiresIn * 1000;
      }
      await store.putGrant(grant);
      logger.info(
        {
          grantId: grant.id,
          user: grant.user,
          provider: grant.provider,
          scopes: grant.scopes,
          generation: grant.generation,
        },
        existing ? 'grant extended' : 'grant saved',
      );
      return grant;
    });
  }

  /**
   * Revokes at the provider where it has a verb, then marks the grant revoked (never deletes it).
   * The generation moves on, so every instance sharing the store stops using cached credentials.
   */
  async function revokeGrant(user: string, providerName: string, tenant?: string): Promise<RevokeResult> {
    return locked(grantKey(user, providerName, tenant), async () => {
      const grant = await store.getGrant(user, providerName, tenant);
      if (!grant) return { found: false };
      let outcome: RevocationOutcome;
      if (grant.status === 'revoked') {
        outcome = { supported: false, revoked: false, detail: 'the grant was already revoked' };
      } else {
        outcome = await revokeAtProvider(grant);
      }
      const now = clock.now();
      const next: Grant = {
        ...grant,
        status: 'revoked',
        reason: 'revoked_by_user',
        generation: grant.generation + 1,
        updatedAt: now,
      };
      // Where the provider confirmed, the secrets are worthless; otherwise keep them for a later retry.
      if (outcome.revoked) {
        delete next.refreshTokenEnc;
        delete next.accessTokenEnc;
        delete next.accessTokenExpiresAt;
      }
      await store.putGrant(next);
      logger.info(
        { grantId: grant.id, user, provider: providerName, revokedAtProvider: outcome.revoked, detail: outcome.detail },
        'grant revoked',
      );
      return { found: true, grant: summarizeGrant(next), provider: outcome };
    });
  }

  async function revokeAtProvider(grant: Grant): Promise<RevocationOutcome> {
    const runtime = deps.providers.get(grant.provider);
    const binding = bindingOf(grant);
    let refreshToken: string | undefined;
    let accessToken: string | undefined;
    try {
      if (grant.refreshTokenEnc) refreshToken = await cipher.decrypt(grant.refreshTokenEnc, binding);
      if (grant.accessTokenEnc) accessToken = await cipher.decrypt(grant.accessTokenEnc, binding);
    } catch {
      // A wrong key must not stop a revocation: the grant is still marked revoked here.
      return {
        supported: await runtime.canRevoke().catch(() => false),
        revoked: false,
        detail: 'stored secrets could not be decrypted',
      };
    }
    try {
      return await runtime.revoke({ refreshToken, accessToken });
    } catch (err) {
      return { supported: true, revoked: false, detail: `revocation failed (${(err as Error).name})` };
    }
  }

  async function listGrants(filter?: { user?: string; provider?: string }): Promise<GrantSummary[]> {
    const grants = await store.listGrants(filter);
    return Promise.all(
      grants.map(async (g) => {
        const used = await store.getRecord<number>(`${GRANT_USED_PREFIX}${g.id}`).catch(() => undefined);
        const lastUsedAt = Math.max(g.lastUsedAt ?? 0, used ?? 0) || undefined;
        return { ...summarizeGrant(g), ...(lastUsedAt ? { lastUsedAt } : {}) };
      }),
    );
  }

  /** The scopes a live grant holds (none where there is no grant or it was revoked). */
  async function scopesHeld(user: string, provider: string, tenant?: string): Promise<string[]> {
    const grant = await store.getGrant(user, provider, tenant);
    return grant && grant.status !== 'revoked' ? [...grant.scopes] : [];
  }

  return { saveGrantFromTokens, revokeGrant, listGrants, scopesHeld };
}

export type GrantService = ReturnType<typeof createGrantService>;
