// The demo authorization server's storage: an in-memory oidc-provider adapter whose refresh-token consume is atomic,
// so parallel reuse of one refresh token is caught the way a database-backed server catches it.
import type { Adapter, AdapterPayload } from 'oidc-provider';

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

interface Entry {
  payload: AdapterPayload;
  /** Epoch milliseconds, or Infinity. */
  expiresAt: number;
}

export interface DemoStoreHooks {
  /** Called whenever a Grant record is destroyed (revocation of any kind). */
  onGrantDestroyed?(grantId: string): void;
}

export interface StoredGrant {
  grantId: string;
  accountId: string;
  clientId: string;
  payload: AdapterPayload;
}

/** One store shared by every model's adapter; keys are `Model:id`. */
export class DemoStore {
  readonly entries = new Map<string, Entry>();
  /** grantId -> keys of the tokens that belong to it. */
  readonly grantMembers = new Map<string, Set<string>>();
  /** Grants revoked here; tokens saved for them afterwards are dropped (a late winner of a race stays dead). */
  readonly revokedGrants = new Set<string>();
  hooks: DemoStoreHooks = {};

  constructor(
    /** Builds the provider's invalid_grant error (passed in so this module does not load oidc-provider). */
    readonly invalidGrant: (message: string) => Error,
  ) {}

  get(model: string, id: string): AdapterPayload | undefined {
    const key = `${model}:${id}`;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.deleteKey(key, true);
      return undefined;
    }
    return entry.payload;
  }

  set(model: string, id: string, payload: AdapterPayload, expiresIn?: number): void {
    const key = `${model}:${id}`;
    const grantId = payload.grantId;
    if (GRANTABLE.has(model) && grantId && this.revokedGrants.has(grantId)) return;
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    this.deleteKey(key, true);
    this.entries.set(key, { payload, expiresAt });
    if (GRANTABLE.has(model) && grantId) {
      let members = this.grantMembers.get(grantId);
      if (!members) {
        members = new Set();
        this.grantMembers.set(grantId, members);
      }
      members.add(key);
    }
  }

  deleteKey(key: string, expired = false): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const grantId = entry.payload.grantId;
    if (grantId) this.grantMembers.get(grantId)?.delete(key);
    if (key.startsWith('Grant:') && !expired) {
      const id = key.slice('Grant:'.length);
      this.revokedGrants.add(id);
      this.hooks.onGrantDestroyed?.(id);
    }
  }

  /** Drops every token of a grant and the grant itself. */
  revokeGrant(grantId: string): boolean {
    this.revokedGrants.add(grantId);
    for (const key of this.grantMembers.get(grantId) ?? []) this.entries.delete(key);
    this.grantMembers.delete(grantId);
    const existed = this.entries.has(`Grant:${grantId}`);
    this.deleteKey(`Grant:${grantId}`);
    return existed;
  }

  /** Grants currently held, for tests and for revoking a user's authority. */
  grants(): StoredGrant[] {
    const out: StoredGrant[] = [];
    for (const [key, entry] of this.entries) {
      if (!key.startsWith('Grant:') || entry.expiresAt <= Date.now()) continue;
      out.push({
        grantId: key.slice('Grant:'.length),
        accountId: String(entry.payload.accountId ?? ''),
        clientId: String(entry.payload.clientId ?? ''),
        payload: entry.payload,
      });
    }
    return out;
  }

  adapterFor(model: string): Adapter {
    return new DemoAdapter(model, this);
  }
}

class DemoAdapter implements Adapter {
  constructor(
    private readonly model: string,
    private readonly store: DemoStore,
  ) {}

  async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
    this.store.set(this.model, id, payload, expiresIn);
    if (this.model === 'Session' && payload.uid) this.store.set('SessionUid', payload.uid, { jti: id }, expiresIn);
    if (payload.userCode) this.store.set('UserCode', payload.userCode, { jti: id }, expiresIn);
  }

  async find(id: string): Promise<AdapterPayload | undefined> {
    const payload = this.store.get(this.model, id);
    // A copy, so a caller's in-flight instance never sees another request's writes by accident.
    return payload ? { ...payload } : undefined;
  }

  async findByUid(uid: string): Promise<AdapterPayload | undefined> {
    const ref = this.store.get('SessionUid', uid);
    return ref?.jti ? this.find(ref.jti) : undefined;
  }

  async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
    const ref = this.store.get('UserCode', userCode);
    return ref?.jti ? this.find(ref.jti) : undefined;
  }

  async consume(id: string): Promise<void> {
    const payload = this.store.get(this.model, id);
    if (!payload) {
      if (this.model === 'RefreshToken') throw this.store.invalidGrant('refresh token not found');
      return;
    }
    // Check-and-set without an await in between: exactly one of several parallel rotations wins.
    if (this.model === 'RefreshToken' && payload.consumed) {
      const grantId = payload.grantId;
      if (grantId) this.store.revokeGrant(grantId);
      throw this.store.invalidGrant('refresh token already used');
    }
    payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    this.store.deleteKey(`${this.model}:${id}`);
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    for (const key of [...(this.store.grantMembers.get(grantId) ?? [])]) {
      if (key.startsWith(`${this.model}:`)) this.store.deleteKey(key);
    }
  }
}
