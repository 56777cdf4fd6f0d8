// One audit record per tool call, denials included: who, which agent, what, with which authority.

export interface AuditRecord {
  time: string;
  callId: string;
  user: string;
  tenant?: string;
  client: string;
  tool: string;
  provider: string;
  /** The scopes the call asked for. */
  scopes: string[];
  grantId?: string;
  grantGeneration?: number;
  /** sha256 (base64url) of the canonical JSON of the arguments. */
  argsDigest: string;
  outcome: 'ok' | 'error';
  errorCode?: string;
  /** The detailed reason, for people; never shown to the agent. */
  reason?: string;
  /** A digest or jti of the credential used, never the credential. */
  credentialId?: string;
  strategy?: string;
  /** false where the provider could not narrow the credential to the tool's scopes. */
  narrowed?: boolean;
  audience?: string;
  status?: number;
  durationMs: number;
  /** Onboarding events (connect, callback, revoke) use `event` instead of a tool call. */
  event?: string;
}

export interface AuditSink {
  write(record: AuditRecord): Promise<void>;
  close(): Promise<void>;
}
