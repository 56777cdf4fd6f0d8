// Gateway scopes: may this inbound caller use this tool at all, before any grant is looked at?
import { missingScopes } from './scopes.js';

export type GatewayScopeDecision = { allowed: true } | { allowed: false; needed: string[]; missing: string[] };

/**
 * `callerScopes` is undefined where no token was verified (stdio: the configured local user),
 * and such a caller is not limited by gateway scopes. A tool that names none is open to any caller.
 */
export function gatewayScopeDecision(
  callerScopes: readonly string[] | undefined,
  toolScopes: readonly string[] | undefined,
): GatewayScopeDecision {
  if (callerScopes === undefined || !toolScopes?.length) return { allowed: true };
  const missing = missingScopes(callerScopes, toolScopes);
  return missing.length ? { allowed: false, needed: [...toolScopes], missing } : { allowed: true };
}
