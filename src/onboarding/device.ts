// The device authorization grant (RFC 8628) for `keyward connect` where no browser is at hand: the broker runs it.
import type { DevicePrompt } from '../broker/onboardingApi.js';
import { auditOnboarding } from './audit.js';
import type { GrantSummary, OnboardingDeps } from './deps.js';
import { ReasonError } from './errors.js';
import { scopesToRequest } from './flow.js';
import { defaultSubjectCheck } from './router.js';

export type { DevicePrompt };

export class DeviceFlowError extends ReasonError<'unsupported' | 'denied' | 'expired' | 'different_user' | 'failed'> {}

/** Whether the provider publishes a device authorization endpoint. */
export function supportsDeviceFlow(deps: OnboardingDeps, provider: string): Promise<boolean> {
  return deps.grants.supportsDeviceGrant(provider);
}

export async function connectWithDevice(
  deps: OnboardingDeps,
  req: {
    provider: string;
    user: string;
    tenant?: string;
    client: string;
    scopes?: string[];
    signal?: AbortSignal;
    /** Shows the user where to go and what to type. */
    onPrompt(prompt: DevicePrompt): void;
  },
): Promise<GrantSummary> {
  const started = deps.clock.now();
  const runtime = deps.providers.get(req.provider);
  const scopes = await scopesToRequest(deps, req);
  const done = await deps.grants.completeDeviceGrant({
    provider: req.provider,
    user: req.user,
    ...(req.tenant ? { tenant: req.tenant } : {}),
    client: req.client,
    scopes,
    subjectMustMatch: defaultSubjectCheck(deps.config)(runtime),
    onPrompt: req.onPrompt,
    ...(req.signal ? { signal: req.signal } : {}),
  });
  if (!done.ok) {
    await auditOnboarding(deps, 'onboarding.device', {
      provider: req.provider,
      user: req.user,
      tenant: req.tenant,
      client: req.client,
      outcome: 'error',
      reason: done.reason,
      started,
    });
    throw new DeviceFlowError(done.reason, deviceFailureMessage(done.reason, req, done.detail));
  }
  const { grant } = done;
  await auditOnboarding(deps, 'onboarding.device', {
    provider: req.provider,
    user: req.user,
    tenant: req.tenant,
    client: req.client,
    scopes: grant.scopes,
    outcome: 'ok',
    grantId: grant.id,
    grantGeneration: grant.generation,
    started,
  });
  return grant;
}

function deviceFailureMessage(
  reason: DeviceFlowError['reason'],
  req: { provider: string; user: string },
  code: string | undefined,
): string {
  switch (reason) {
    case 'unsupported':
      return `${req.provider} does not offer the device authorization grant`;
    case 'denied':
      return 'access was not granted';
    case 'expired':
      return 'the code expired before it was entered';
    case 'different_user':
      return `the account that signed in is not ${req.user}`;
    case 'failed':
      return `the device authorization grant failed${code ? ` (${code})` : ''}`;
  }
}
