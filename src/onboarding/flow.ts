// One onboarding flow: /connect builds the provider redirect (PKCE, state, nonce); /callback checks the flow, and the broker exchanges the code and stores the grant.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { ProviderRuntime } from '../providers/types.js';
import { auditOnboarding } from './audit.js';
import { type GrantSummary, knownScopes, type OnboardingDeps } from './deps.js';
import { type CallbackFailureReason, failurePage } from './failures.js';
import { type Page, successPage } from './pages.js';
import { consumeState, type FlowState, keys, STATE_TTL_MS, writeLive } from './records.js';
import type { AuthorizeLinkRequest } from './types.js';

/** What a connect link is for (scopes: beyond the provider's configured ones), plus where the flow runs. */
export interface StartFlowInput extends AuthorizeLinkRequest {
  linkId?: string;
  /** The browser session the callback must come back in. */
  sessionId: string;
  /** The origin the provider redirects back to: `${publicUrl}/callback/<provider>`. */
  publicUrl: string;
}

export interface StartedFlow {
  url: URL;
  state: string;
  scopes: string[];
}

export function redirectUriFor(publicUrl: string, provider: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/callback/${encodeURIComponent(provider)}`;
}

/** 256 random bits, base64url: PKCE verifiers (RFC 7636 s.4.1), states and nonces alike. */
function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function union(...lists: ReadonlyArray<readonly string[] | undefined>): string[] {
  return [...new Set(lists.flatMap((l) => l ?? []))];
}

/**
 * The scopes to ask for: the provider's configured ones, what the user already granted (so a
 * new grant never covers less than the old one), and the requested ones that some tool or the
 * provider's config knows (so a crafted link cannot ask for anything else).
 */
export async function scopesToRequest(
  deps: OnboardingDeps,
  input: Pick<StartFlowInput, 'provider' | 'user' | 'tenant' | 'scopes'>,
): Promise<string[]> {
  const known = knownScopes(deps, input.provider);
  const requested = (input.scopes ?? []).filter((s) => known.has(s));
  const held = await deps.grants.scopesHeld(input.user, input.provider, input.tenant);
  return union(deps.config.providers[input.provider]?.scopes, held, requested);
}

export async function startFlow(deps: OnboardingDeps, input: StartFlowInput): Promise<StartedFlow> {
  const runtime = deps.providers.get(input.provider);
  const scopes = await scopesToRequest(deps, input);
  const codeVerifier = randomToken();
  const state = randomToken();
  const nonce = randomToken();
  const redirectUri = redirectUriFor(input.publicUrl, input.provider);
  const authorizationScopes = runtime.authorizationScopes(scopes);
  // The runtime adds what the provider needs (resource, prompt=consent for offline access, preset quirks).
  const url = await runtime.authorizationUrl({
    redirectUri,
    state,
    codeChallenge: pkceChallenge(codeVerifier),
    ...(authorizationScopes.includes('openid') ? { nonce } : {}),
    scopes,
  });
  const now = deps.clock.now();
  const flow: FlowState = {
    provider: input.provider,
    user: input.user,
    ...(input.tenant ? { tenant: input.tenant } : {}),
    client: input.client,
    scopes,
    codeVerifier,
    nonce,
    redirectUri,
    sessionId: input.sessionId,
    ...(input.linkId ? { linkId: input.linkId } : {}),
    ...(input.callId ? { callId: input.callId } : {}),
    createdAt: now,
    expiresAt: now + STATE_TTL_MS,
  };
  await writeLive(deps.records, keys.state(state), flow, deps.clock);
  return { url, state, scopes };
}

/** The callback's query: parsed, not trusted. Repeated parameters are refused (RFC 6749 s.3.1). */
const CallbackQuery = z.looseObject({
  state: z.string().max(512).optional(),
  code: z.string().max(4096).optional(),
  error: z.string().max(256).optional(),
  error_description: z.string().max(2048).optional(),
  iss: z.string().max(2048).optional(),
});

export interface CallbackInput {
  provider: string;
  query: Record<string, unknown>;
  /** The session cookie's id, where the browser sent one. */
  sessionId?: string;
  /** Signed-in mode: the user the session belongs to (it must be the flow's user). */
  sessionUser?: { user: string; tenant?: string };
  /** Whether the provider's ID token `sub` must be the flow's user (see router options). */
  subjectMustMatch(runtime: ProviderRuntime): boolean;
  /** Where the success page sends people to manage what they granted. */
  accountsUrl?: string;
}

export type CallbackOutcome =
  | { ok: true; flow: FlowState; grant: GrantSummary; page: Page }
  | { ok: false; reason: CallbackFailureReason; flow?: FlowState; page: Page };

/** The provider's error code, where it is one of the registered shapes (it is shown to the user). */
function safeOAuthError(error: string): string {
  return /^[a-z0-9_.-]{1,64}$/i.test(error) ? error : 'unknown_error';
}

export async function completeFlow(deps: OnboardingDeps, input: CallbackInput): Promise<CallbackOutcome> {
  const started = deps.clock.now();
  let flow: FlowState | undefined;
  let runtime: ProviderRuntime | undefined;

  const fail = async (
    reason: CallbackFailureReason,
    detail?: { page?: string; audit?: string },
  ): Promise<CallbackOutcome> => {
    await auditOnboarding(deps, 'onboarding.callback', {
      provider: input.provider,
      user: flow?.user,
      tenant: flow?.tenant,
      client: flow?.client,
      scopes: flow?.scopes,
      callId: flow?.callId,
      outcome: 'error',
      reason: detail?.audit ? `${reason}: ${detail.audit}` : reason,
      started,
    });
    deps.logger.warn({ provider: input.provider, reason, callId: flow?.callId }, 'onboarding callback refused');
    return { ok: false, reason, ...(flow ? { flow } : {}), page: failurePage(reason, detail?.page) };
  };

  if (!deps.providers.has(input.provider)) return fail('unknown_provider');
  runtime = deps.providers.get(input.provider);

  const parsed = CallbackQuery.safeParse(input.query);
  if (!parsed.success) return fail('bad_query');
  const q = parsed.data;
  if (!q.state) return fail('missing_state');
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(q.state)) return fail('unknown_state', { audit: 'malformed state' });

  const taken = await consumeState(deps.records, q.state, deps.clock);
  if (!taken.ok) return fail(taken.reason);
  flow = taken.value;

  if (flow.provider !== input.provider) return fail('provider_mismatch');
  if (!input.sessionId || input.sessionId !== flow.sessionId) return fail('session_mismatch');
  if (input.sessionUser && (input.sessionUser.user !== flow.user || input.sessionUser.tenant !== flow.tenant)) {
    return fail('different_user', { audit: 'the gateway session belongs to another user' });
  }
  if (q.error) {
    const code = safeOAuthError(q.error);
    if (code === 'access_denied') return fail('access_denied');
    return fail('provider_error', { page: code, audit: code });
  }

  let endpoints: Awaited<ReturnType<ProviderRuntime['endpoints']>>;
  try {
    endpoints = await runtime.endpoints();
  } catch (err) {
    return fail('exchange_failed', { audit: (err as Error).message });
  }
  // RFC 9207: where the server names itself, it must be the one we sent the user to.
  if (q.iss !== undefined && endpoints.issuer !== undefined && q.iss !== endpoints.issuer)
    return fail('issuer_mismatch');
  if (!q.code) return fail('missing_code');

  // The broker exchanges the code, checks the ID token and the account, and stores the grant.
  const done = await deps.grants.completeCodeExchange({
    provider: flow.provider,
    user: flow.user,
    ...(flow.tenant ? { tenant: flow.tenant } : {}),
    client: flow.client,
    code: q.code,
    redirectUri: flow.redirectUri,
    codeVerifier: flow.codeVerifier,
    nonce: flow.nonce,
    requestedScopes: flow.scopes,
    subjectMustMatch: input.subjectMustMatch(runtime),
  });
  if (!done.ok) return fail(done.reason, done.detail ? { audit: done.detail } : undefined);
  const { grant } = done;
  if (flow.linkId) await deps.records.delete(keys.link(flow.linkId)).catch(() => false);

  await auditOnboarding(deps, 'onboarding.callback', {
    provider: flow.provider,
    user: flow.user,
    tenant: flow.tenant,
    client: flow.client,
    scopes: grant.scopes,
    callId: flow.callId,
    outcome: 'ok',
    grantId: grant.id,
    grantGeneration: grant.generation,
    started,
  });
  deps.logger.info(
    { provider: flow.provider, user: flow.user, grantId: grant.id, scopes: grant.scopes },
    'grant stored',
  );
  return {
    ok: true,
    flow,
    grant,
    page: successPage({
      provider: flow.provider,
      user: flow.user,
      scopes: grant.scopes,
      ...(grant.consentExpiresAt ? { consentExpiresAt: grant.consentExpiresAt } : {}),
      ...(input.accountsUrl ? { accountsUrl: input.accountsUrl } : {}),
    }),
  };
}
