// Audit records for onboarding events (connect, callback, sign-in, revoke): who, what, and why it failed.
import { randomUUID } from 'node:crypto';
import type { AuditRecord } from '../audit/types.js';
import type { OnboardingDeps } from './deps.js';

export type OnboardingEvent =
  | 'onboarding.connect'
  | 'onboarding.callback'
  | 'onboarding.signin'
  | 'onboarding.revoke'
  | 'onboarding.device';

export interface OnboardingAuditFields {
  provider: string;
  user?: string;
  tenant?: string;
  client?: string;
  scopes?: string[];
  callId?: string;
  outcome: 'ok' | 'error';
  /** A stable reason code such as `replayed_state`, with detail after a colon where useful. */
  reason?: string;
  grantId?: string;
  grantGeneration?: number;
  started: number;
}

/** Writes one record. An audit failure is logged, never turned into a page the user sees. */
export async function auditOnboarding(
  deps: Pick<OnboardingDeps, 'audit' | 'clock' | 'logger'>,
  event: OnboardingEvent,
  f: OnboardingAuditFields,
): Promise<void> {
  const now = deps.clock.now();
  const record: AuditRecord = {
    time: new Date(now).toISOString(),
    callId: f.callId ?? randomUUID(),
    user: f.user ?? '',
    ...(f.tenant ? { tenant: f.tenant } : {}),
    client: f.client ?? '',
    tool: '',
    provider: f.provider,
    scopes: f.scopes ?? [],
    ...(f.grantId ? { grantId: f.grantId } : {}),
    ...(f.grantGeneration !== undefined ? { grantGeneration: f.grantGeneration } : {}),
    argsDigest: '',
    outcome: f.outcome,
    ...(f.reason ? { reason: f.reason } : {}),
    durationMs: Math.max(0, now - f.started),
    event,
  };
  try {
    await deps.audit.write(record);
  } catch (err) {
    deps.logger.error({ err, event }, 'audit write failed');
  }
}
