// What onboarding keeps in its own record store: flows in flight, connect links and browser sessions.
//
// The store is a view of the shared backend under the `onboarding:` prefix (handed in by the
// composition root), so onboarding never sees a grant, a cached credential or the signing key.
//
// | key (after `onboarding:`) | holds                                                        | encrypted | TTL       |
// |---------------------------|--------------------------------------------------------------|-----------|-----------|
// | `state:<state>`           | FlowState: PKCE verifier, nonce, user, provider, scopes, ... | no (1)    | 10 min    |
// | `used:<state>`            | `true`: the state was consumed (tells replay from forgery)   | no        | 10 min    |
// | `link:<id>`               | ConnectLink: the user, provider, scopes and call a link is for | no      | 15 min    |
// | `session:<sid>`           | BrowserSession: signed-in (or local) user and its CSRF token | no        | 8 h       |
// | `signin-state:<state>`    | SignInState: PKCE verifier, nonce and where to return        | no (1)    | 10 min    |
// | `signin-client:<digest>`  | a client dynamically registered at the inbound issuer        | no (2)    | none      |
//
// (1) A PKCE verifier is useless without the authorization code, which only the browser that
//     started the flow receives; it is consumed once, and it expires with the state.
// (2) A public client (token_endpoint_auth_method "none"): there is no secret to protect.
// Every id is 256 random bits, base64url; each record also carries its own `expiresAt`, checked
// against the injected clock, so expiry does not depend on the backend's TTL precision.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../clock.js';
import type { RecordStore } from '../records.js';

export type { RecordStore };

export const STATE_TTL_MS = 10 * 60_000;
export const LINK_TTL_MS = 15 * 60_000;
export const SESSION_TTL_MS = 8 * 60 * 60_000;

export const keys = {
  state: (state: string) => `state:${state}`,
  usedState: (state: string) => `used:${state}`,
  link: (id: string) => `link:${id}`,
  session: (sid: string) => `session:${sid}`,
  signInState: (state: string) => `signin-state:${state}`,
  signInClient: (digest: string) => `signin-client:${digest}`,
} as const;

/** An id that is also a bearer of nothing: it names a record, and the record says whom it is for. */
export function randomId(): string {
  return randomBytes(32).toString('base64url');
}

/** Ids we mint are 43 base64url characters; anything else is rejected before a store lookup. */
export function isRandomId(value: unknown): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9_-]{43}$/.test(value);
}

/** A flow between /connect and /callback. */
export interface FlowState {
  provider: string;
  user: string;
  tenant?: string;
  client: string;
  /** What was asked of the provider (before the provider's own additions such as offline_access). */
  scopes: string[];
  codeVerifier: string;
  nonce: string;
  redirectUri: string;
  /** The browser session that started the flow: the callback must come back in it. */
  sessionId: string;
  linkId?: string;
  callId?: string;
  createdAt: number;
  expiresAt: number;
}

/** What a reauth error's authorizeUrl is bound to. */
export interface ConnectLink {
  provider: string;
  user: string;
  tenant?: string;
  client: string;
  scopes: string[];
  callId?: string;
  createdAt: number;
  expiresAt: number;
}

export interface BrowserSession {
  user: string;
  tenant?: string;
  /** `signin`: the user signed in at the inbound identity provider; `local`: the one local user. */
  via: 'signin' | 'local';
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

export interface SignInState {
  codeVerifier: string;
  nonce: string;
  /** sha256 of the value in the browser's sign-in cookie: a sign-in finishes only where it began. */
  bindingHash: string;
  /** A path on the gateway, checked to be one. */
  returnTo: string;
  expiresAt: number;
}

/** Reads a record and drops it if it is past its own expiry. */
export async function readLive<T extends { expiresAt: number }>(
  records: RecordStore,
  key: string,
  clock: Clock,
): Promise<T | undefined> {
  const value = await records.get<T>(key);
  if (!value) return undefined;
  if (typeof value.expiresAt !== 'number' || value.expiresAt <= clock.now()) {
    await records.delete(key);
    return undefined;
  }
  return value;
}

export async function writeLive<T extends { expiresAt: number }>(
  records: RecordStore,
  key: string,
  value: T,
  clock: Clock,
): Promise<void> {
  await records.set(key, value, Math.max(1, value.expiresAt - clock.now()));
}

export type Consumed<T> =
  | { ok: true; value: T }
  | { ok: false; reason: 'unknown_state' | 'replayed_state' | 'expired_state' };

/**
 * Takes a flow state exactly once. Of two callbacks racing with the same state, only the one whose
 * delete removed the record proceeds; the other (and every later one) is told it was replayed.
 */
export async function consumeState(records: RecordStore, state: string, clock: Clock): Promise<Consumed<FlowState>> {
  const key = keys.state(state);
  if ((await records.get<FlowState>(key)) === undefined) {
    const used = await records.get<boolean>(keys.usedState(state));
    return { ok: false, reason: used ? 'replayed_state' : 'unknown_state' };
  }
  // It was there a moment ago: a caller that loses the take lost a race with a replay.
  const value = await records.take<FlowState>(key);
  if (!value) return { ok: false, reason: 'replayed_state' };
  await records.set(keys.usedState(state), true, STATE_TTL_MS);
  if (value.expiresAt <= clock.now()) return { ok: false, reason: 'expired_state' };
  return { ok: true, value };
}
