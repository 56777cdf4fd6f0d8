// The broker's contract: grants as stored, the credential a call gets, and the store and lock seams.
import type { Strategy } from '../config/types.js';
import { redactSecretInText } from '../downstream/redact.js';
import type { ToolDefinition } from '../tools/types.js';

export type GrantStatus = 'active' | 'needs_reauth' | 'revoked';

/** A user's delegation to one provider. Secrets are JWE compact strings, never plaintext. */
export interface Grant {
  /** Stable id, kept across refreshes; named in audit records. */
  id: string;
  user: string;
  tenant?: string;
  provider: string;
  scopes: string[];
  /** JWE (dir + A256GCM) of the refresh token; header binds user and provider. */
  refreshTokenEnc?: string;
  /** The grant's last full-scope access token (exchange strategy uses it), encrypted. */
  accessTokenEnc?: string;
  accessTokenExpiresAt?: number;
  consentedAt: number;
  consentExpiresAt?: number;
  /** Increases with every refresh; the compare-and-set key. */
  generation: number;
  /** The MCP client that onboarded it. */
  client: string;
  status: GrantStatus;
  reason?: string;
  updatedAt: number;
  lastUsedAt?: number;
  /**
   * Written (compare-and-set) just before the refresh token is presented, cleared by the write of
   * its result. Found by the next holder, it says the token may be burned: that holder asks for
   * reauth instead of presenting it again.
   */
  refreshing?: RefreshMarker;
}

export interface RefreshMarker {
  /** One refresh attempt (a random id; never a token). */
  holder: string;
  startedAt: number;
}

// The config declares the strategies; the broker carries them out.
export type { Strategy } from '../config/types.js';

/** Who is calling, for which tool: everything the broker needs to pick a credential. */
export interface CallIdentity {
  user: string;
  tenant?: string;
  /** The MCP client (agent): azp/client_id over HTTP, clientInfo.name over stdio. */
  client: string;
}

export interface CredentialRequest extends CallIdentity {
  callId: string;
  tool: ToolDefinition;
  signal?: AbortSignal;
}

/**
 * The credential for one downstream request. The token sits in a private field: it cannot
 * reach JSON.stringify, a log serializer, or structuredContent by accident.
 */
export class CallCredential {
  readonly #token: string;
  constructor(
    token: string,
    readonly meta: {
      /** Safe to record: a digest or jti, never the token. */
      id: string;
      strategy: Strategy;
      narrowed: boolean;
      scopes: string[];
      audience?: string;
      grantId: string;
      generation: number;
      expiresAt: number;
    },
  ) {
    this.#token = token;
  }
  authorizationHeader(): string {
    return `Bearer ${this.#token}`;
  }
  /** Removes the token from text that came back from an API (some echo the request), in any encoding. */
  redact(text: string): string {
    return redactSecretInText(text, this.#token);
  }
  toJSON() {
    return this.meta;
  }
}

export interface CredentialBroker {
  /** A credential narrowed to this call. Throws a GatewayError (reauth_required, …). */
  credentialFor(req: CredentialRequest): Promise<CallCredential>;
  /**
   * The API answered 401 to `rejected`: drop it from the cache and force one coalesced
   * refresh. Returns a fresh credential, or throws reauth_required.
   */
  afterUnauthorized(req: CredentialRequest, rejected: CallCredential): Promise<CallCredential>;
  close(): Promise<void>;
}

/** Where grants and other gateway records live (keyv over sqlite, Redis, Postgres or memory). */
export interface GrantStore {
  getGrant(user: string, provider: string, tenant?: string): Promise<Grant | undefined>;
  /**
   * Writes the grant if the stored one is still what the writer read (`expect`, by default the
   * generation before `grant.generation`); otherwise throws GrantConflictError. Callers that
   * refresh hold the grant's lock first; the compare-and-set fences one whose lock was lost.
   */
  putGrant(grant: Grant, opts?: { expect?: { generation: number; holder?: string | null } }): Promise<void>;
  listGrants(filter?: { user?: string; provider?: string }): Promise<Grant[]>;
  /** Other gateway records (signing key, onboarding state, cached credentials): JSON values. */
  getRecord<T>(key: string): Promise<T | undefined>;
  setRecord<T>(key: string, value: T, ttlMs?: number): Promise<void>;
  deleteRecord(key: string): Promise<boolean>;
  close(): Promise<void>;
}

/** Binds each ciphertext to its user and provider: moved to another user's grant, it fails. */
export interface SecretBinding {
  user: string;
  provider: string;
  tenant?: string;
}

export interface GrantCipher {
  encrypt(plaintext: string, binding: SecretBinding): Promise<string>;
  /** Throws StoreUnavailableError-class errors for a wrong key or a swapped ciphertext. */
  decrypt(jwe: string, binding: SecretBinding): Promise<string>;
}

/** What a holder can ask of the lock it holds. */
export interface LockHold {
  /**
   * Resolves only if the lock is still this holder's right now (lease renewed, lock session alive);
   * otherwise throws StoreUnavailableError. Called right before a refresh token is presented.
   */
  confirm(): Promise<void>;
  /** Keeps holding (and renewing) after `fn` returns, until `work` settles: a write still retried. */
  keepUntil(work: Promise<unknown>): void;
}

/** A mutual-exclusion lock that holds across processes and instances sharing the store. */
export interface RefreshLock {
  /**
   * Runs `fn` while holding `key`. Waits up to `waitMs` for it (then throws
   * StoreUnavailableError), and keeps the lock alive while `fn` runs long.
   */
  withLock<T>(key: string, fn: (hold: LockHold) => Promise<T>, opts?: { waitMs?: number; ttlMs?: number }): Promise<T>;
  close(): Promise<void>;
}
