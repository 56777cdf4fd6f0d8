// One tool call end to end: arguments, policy, credential, downstream, result, audit.
import { randomUUID } from 'node:crypto';
import { argsDigest } from '../audit/sink.js';
import type { AuditRecord, AuditSink } from '../audit/types.js';
import { toGatewayError } from '../broker/errorBoundary.js';
import { DEFAULT_RETRY } from '../broker/strategies/retry.js';
import type { CallCredential, CallIdentity, CredentialBroker, CredentialRequest } from '../broker/types.js';
import type { Clock } from '../clock.js';
import type { ResolvedConfig } from '../config/types.js';
import { classifyApiFailure } from '../downstream/classify.js';
import { type DownstreamResponse, sendDownstream } from '../downstream/send.js';
import {
  DownstreamError,
  type GatewayError,
  InvalidArgumentsError,
  isGatewayError,
  needsUserGrant,
  ReauthRequiredError,
  type ToolErrorPayload,
} from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { decideCall, refusalError } from '../policy/call.js';
import { buildDownstreamRequest } from '../tools/request.js';
import { isIdempotent, type ToolDefinition } from '../tools/types.js';
import type { AuthorizeLinks } from './links.js';

export interface ToolCallDeps {
  config: ResolvedConfig;
  tools: ReadonlyMap<string, ToolDefinition>;
  broker: CredentialBroker;
  links: AuthorizeLinks;
  audit: AuditSink;
  logger: Logger;
  metrics: Metrics;
  clock: Clock;
  fetch?: typeof fetch;
}

/** The caller as the transport established it. `gatewayScopes` is set only where a token was verified. */
export interface Caller extends CallIdentity {
  gatewayScopes?: string[];
}

export type ToolOutcome =
  | { ok: true; callId: string; structured?: Record<string, unknown>; text: string }
  | { ok: false; callId: string; error: ToolErrorPayload };

interface Attempt {
  credential?: CallCredential;
  response?: DownstreamResponse;
}

export async function runToolCall(
  deps: ToolCallDeps,
  caller: Caller,
  name: string,
  rawArgs: unknown,
  opts: { signal?: AbortSignal; callId?: string } = {},
): Promise<ToolOutcome> {
  const callId = opts.callId ?? randomUUID();
  const started = deps.clock.now();
  const tool = deps.tools.get(name);
  const record: AuditRecord = {
    time: new Date(started).toISOString(),
    callId,
    user: caller.user,
    ...(caller.tenant ? { tenant: caller.tenant } : {}),
    client: caller.client,
    // A client chooses the name: an unknown one is recorded only in part, so it cannot bloat the log.
    tool: tool ? name : unknownToolName(name),
    provider: tool?.provider ?? '',
    scopes: tool?.scopes ?? [],
    argsDigest: argsDigest(rawArgs ?? {}),
    outcome: 'error',
    durationMs: 0,
  };
  const attempt: Attempt = {};

  let outcome: ToolOutcome;
  try {
    if (!tool)
      throw new InvalidArgumentsError(`There is no tool named "${unknownToolName(name)}".`, { reason: 'unknown_tool' });
    const result = await callTool(deps, caller, tool, rawArgs, callId, attempt, opts.signal);
    outcome = { ok: true, callId, ...result };
    record.outcome = 'ok';
  } catch (err) {
    const gerr = await explain(deps, err, caller, tool, callId);
    outcome = { ok: false, callId, error: gerr.toPayload(callId) };
    record.errorCode = gerr.code;
    record.reason = gerr.details.internal
      ? `${gerr.details.reason ?? gerr.code}: ${gerr.details.internal}`
      : gerr.details.reason;
    if (needsUserGrant(gerr.code)) {
      deps.metrics.reauthErrors.inc({ provider: tool?.provider ?? '', reason: gerr.details.reason ?? gerr.code });
    }
  }

  const meta = attempt.credential?.meta;
  if (meta) {
    Object.assign(record, {
      grantId: meta.grantId,
      grantGeneration: meta.generation,
      credentialId: meta.id,
      strategy: meta.strategy,
      narrowed: meta.narrowed,
      ...(meta.audience ? { audience: meta.audience } : {}),
    });
  }
  if (attempt.response) record.status = attempt.response.status;
  record.durationMs = deps.clock.now() - started;
  // Metric labels come from the tool list only: client-chosen names would grow /metrics without bound.
  deps.metrics.toolCalls.observe(
    { tool: tool ? name : '(unknown)', outcome: record.outcome },
    record.durationMs / 1000,
  );
  try {
    await deps.audit.write(record);
  } catch (err) {
    deps.logger.error({ err, callId }, 'audit write failed');
  }
  return outcome;
}

async function callTool(
  deps: ToolCallDeps,
  caller: Caller,
  tool: ToolDefinition,
  rawArgs: unknown,
  callId: string,
  attempt: Attempt,
  signal?: AbortSignal,
): Promise<{ structured?: Record<string, unknown>; text: string }> {
  if (nestedDeeperThan(rawArgs, MAX_ARGUMENT_DEPTH)) {
    throw new InvalidArgumentsError(
      `The arguments for ${tool.name} are nested deeper than ${MAX_ARGUMENT_DEPTH} levels.`,
      { issues: [`(arguments): nested deeper than ${MAX_ARGUMENT_DEPTH} levels`] },
    );
  }
  const parsed = tool.input.safeParse(rawArgs ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(arguments)'}: ${i.message}`);
    throw new InvalidArgumentsError(`The arguments for ${tool.name} are not valid: ${issues.join('; ')}`, { issues });
  }

  const decision = decideCall({
    tool,
    ...(caller.gatewayScopes ? { callerGatewayScopes: caller.gatewayScopes } : {}),
  });
  if (!decision.allowed) throw refusalError(decision.refusal);

  const provider = deps.config.providers[tool.provider];
  if (!provider) throw new InvalidArgumentsError(`The tool's provider "${tool.provider}" is not configured.`);
  // Building the request first means bad arguments never cost a refresh.
  const outbound = buildDownstreamRequest(provider.apiBaseUrl, tool.request(parsed.data));

  const req: CredentialRequest = {
    callId,
    user: caller.user,
    ...(caller.tenant ? { tenant: caller.tenant } : {}),
    client: caller.client,
    tool,
    ...(signal ? { signal } : {}),
  };
  const send = async (credential: CallCredential) => {
    attempt.credential = credential;
    const response = await sendDownstream(outbound, {
      authorization: credential.authorizationHeader(),
      timeoutMs: deps.config.server.timeoutMs,
      maxResponseBytes: deps.config.server.maxResponseBytes,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
      ...(signal ? { signal } : {}),
    });
    // An API that echoes the request (some debug endpoints do) must not hand the token back to the agent.
    const safe = { ...response, text: credential.redact(response.text) };
    attempt.response = safe;
    return safe;
  };

  let credential = await deps.broker.credentialFor(req);
  let response = await send(credential);

  if (response.status === 401) {
    // The API refused a credential the broker thought good: renew once, coalesced with any other call.
    credential = await deps.broker.afterUnauthorized(req, credential);
    if (!isIdempotent(tool, outbound.method as never)) {
      attempt.credential = credential;
      throw new DownstreamError(
        'The API rejected the credential; it has been renewed. This action is not idempotent, so it was not repeated: retry it.',
        { provider: tool.provider, status: 401, reason: 'credential_renewed', retryable: true },
      );
    }
    response = await send(credential);
    if (response.status === 401) {
      throw new ReauthRequiredError(
        `The ${tool.provider} API rejects this user's credentials; access must be granted again.`,
        {
          provider: tool.provider,
          scopes: tool.scopes,
          reason: 'revoked',
          internal: 'API answered 401 to a freshly renewed credential',
        },
      );
    }
  }

  if (response.status < 200 || response.status >= 300) {
    const failure = classifyApiFailure(response, {
      provider: tool.provider,
      grantedScopes: credential.meta.scopes,
      toolScopes: tool.scopes,
      knownScopes: provider.scopes,
      nowMs: deps.clock.now(),
    });
    throw failure.error;
  }

  return shapeResult(tool, response.text, response.contentType);
}

function shapeResult(
  tool: ToolDefinition,
  body: string,
  contentType: string,
): { structured?: Record<string, unknown>; text: string } {
  if (!body) return tool.output ? { structured: {}, text: '{}' } : { text: 'Done.' };
  if (!/json/i.test(contentType)) return { text: body };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    throw new DownstreamError(
      'The API answered with malformed JSON.',
      { reason: 'malformed_response' },
      { cause: err },
    );
  }
  // structuredContent must be an object; a bare list is wrapped so it still has a shape.
  const structured = (
    value !== null && typeof value === 'object' && !Array.isArray(value) ? value : { items: value }
  ) as Record<string, unknown>;
  if (tool.output) {
    const checked = tool.output.safeParse(structured);
    if (!checked.success) {
      throw new DownstreamError(`The API's answer does not have the shape that ${tool.name} promises.`, {
        reason: 'unexpected_response',
        internal: checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
      });
    }
  }
  return { structured, text: JSON.stringify(structured) };
}

/**
 * The call's one error handler: any failure becomes a gateway error (through the error boundary),
 * and one that asks the user to grant access gets a URL they can open.
 */
async function explain(
  deps: ToolCallDeps,
  err: unknown,
  caller: Caller,
  tool: ToolDefinition | undefined,
  callId: string,
): Promise<GatewayError> {
  const foreign = !isGatewayError(err);
  let gerr = toGatewayError(err, {
    provider: tool?.provider ?? '',
    scopes: tool?.scopes ?? [],
    defaultRetryAfterSeconds: DEFAULT_RETRY.defaultRetryAfterSeconds,
  });
  if (foreign) {
    deps.logger.error({ err, callId, tool: tool?.name }, 'tool call failed unexpectedly');
    // The gateway's own fault: nothing the user could grant would help.
    if (gerr.details.reason === 'internal') return gerr;
  }
  if (needsUserGrant(gerr.code)) {
    const provider = gerr.details.provider ?? tool?.provider;
    let authorizeUrl: string | undefined;
    if (provider && !gerr.details.authorizeUrl && gerr.details.reason !== 'gateway_scope') {
      try {
        authorizeUrl = await deps.links.authorizeUrl({
          provider,
          user: caller.user,
          ...(caller.tenant ? { tenant: caller.tenant } : {}),
          client: caller.client,
          ...(gerr.code === 'insufficient_scope' && gerr.details.missingScopes
            ? { scopes: [...gerr.details.missingScopes] }
            : {}),
          callId,
        });
      } catch (linkErr) {
        deps.logger.error({ err: linkErr, callId }, 'could not build an authorize URL');
      }
    }
    // A copy, never the thrown error: it may be shared with other calls (single-flight, caches).
    gerr = gerr.withDetails({
      ...(authorizeUrl ? { authorizeUrl } : {}),
      ...(gerr.details.provider === undefined && provider !== undefined ? { provider } : {}),
      ...(gerr.details.scopes === undefined && tool?.scopes ? { scopes: tool.scopes } : {}),
    });
  }
  if (gerr.code !== 'invalid_arguments')
    deps.logger.warn({ callId, tool: tool?.name, code: gerr.code, reason: gerr.details.reason }, 'tool call failed');
  return gerr;
}

/** No tool's input is this deep; a deeper one is refused before any schema walks it recursively. */
const MAX_ARGUMENT_DEPTH = 64;

/** Iterative, so a hostile depth cannot overflow the stack while it is being measured. */
function nestedDeeperThan(root: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop() as [unknown, number];
    if (value === null || typeof value !== 'object') continue;
    if (depth >= limit) return true;
    for (const child of Object.values(value as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return false;
}

function unknownToolName(name: string): string {
  return name.length > 128 ? `${name.slice(0, 128)}…(${name.length} chars)` : name;
}
