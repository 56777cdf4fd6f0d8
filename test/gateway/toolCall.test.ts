// The tool-call path on its own: a real pipeline, a recording fetch standing in for the API, and a broker
// that counts renewals. What is checked is the gateway's own share: retry rules, redaction, error shapes, audit.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createMemoryAuditSink, type MemoryAuditSink } from '../../src/audit/sink.js';
import { CallCredential, type CredentialBroker } from '../../src/broker/types.js';
import { resolveConfig } from '../../src/config/load.js';
import { ReauthRequiredError } from '../../src/errors.js';
import { connectRouteLinks } from '../../src/gateway/gateway.js';
import { runToolCall, type ToolCallDeps } from '../../src/gateway/toolCall.js';
import { createMetrics } from '../../src/metrics.js';
import { TokenEndpointError } from '../../src/providers/errors.js';
import { defineTool } from '../../src/tools/define.js';
import type { ToolDefinition } from '../../src/tools/types.js';
import { TEST_ENCRYPTION_KEY } from '../fixtures/invalid-configs.js';

const API = 'http://127.0.0.1:9/api';
const TOKEN_1 = 'canary-access-token-one-0123456789abcdef';
const TOKEN_2 = 'canary-access-token-two-0123456789abcdef';

const config = resolveConfig(
  {
    store: 'memory:',
    audit: 'memory:',
    server: { publicUrl: 'http://127.0.0.1:8787', timeoutMs: 500, maxResponseBytes: 2048 },
    providers: {
      notes: { issuer: 'http://127.0.0.1:9', clientId: 'c', scopes: ['notes:read', 'notes:write'], apiBaseUrl: API },
    },
  },
  { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, KEYWARD_USER: 'alice' } },
);

const readNote = defineTool({
  name: 'read_note',
  title: 'Read',
  description: 'Read a note.',
  provider: 'notes',
  scopes: ['notes:read'],
  input: z.object({ id: z.string() }),
  annotations: { readOnly: true, idempotent: true },
  request: ({ id }) => ({ method: 'GET', path: ['notes', id] }),
});
const adminNote = defineTool({
  name: 'purge_notes',
  title: 'Purge',
  description: 'Purge notes.',
  provider: 'notes',
  scopes: ['notes:write'],
  gatewayScopes: ['notes:admin'],
  input: z.object({}),
  annotations: { destructive: true },
  request: () => ({ method: 'DELETE', path: ['notes'] }),
});
const writeNote = defineTool({
  name: 'write_note',
  title: 'Write',
  description: 'Write a note.',
  provider: 'notes',
  scopes: ['notes:write'],
  input: z.object({ title: z.string() }),
  annotations: {},
  request: ({ title }) => ({ method: 'POST', path: ['notes'], json: { title } }),
});

function credential(token: string, generation: number): CallCredential {
  return new CallCredential(token, {
    id: `cred-${generation}`,
    strategy: 'refresh',
    narrowed: true,
    scopes: ['notes:read'],
    grantId: 'grant-1',
    generation,
    expiresAt: Date.now() + 60_000,
  });
}

/** A broker that hands out TOKEN_1, and TOKEN_2 after a renewal; it can also refuse. */
function countingBroker(opts: { refuse?: boolean } = {}) {
  const counts = { credentialFor: 0, afterUnauthorized: 0 };
  const broker: CredentialBroker = {
    async credentialFor() {
      counts.credentialFor++;
      if (opts.refuse)
        throw new ReauthRequiredError('No notes grant for this user.', { provider: 'notes', reason: 'no_grant' });
      return credential(TOKEN_1, 1);
    },
    async afterUnauthorized() {
      counts.afterUnauthorized++;
      return credential(TOKEN_2, 2);
    },
    async close() {},
  };
  return { broker, counts };
}

interface Seen {
  url: string;
  method: string;
  authorization: string | null;
}

/** Answers each request with the next scripted response; records what it was sent. */
function scriptedFetch(script: Array<(req: Request) => Response>) {
  const seen: Seen[] = [];
  const fetchImpl = (async (input: URL | RequestInfo, init?: RequestInit) => {
    const req = new Request(input, init);
    seen.push({ url: req.url, method: req.method, authorization: req.headers.get('authorization') });
    const next = script.shift();
    if (!next) throw new Error(`unexpected request ${req.method} ${req.url}`);
    return next(req);
  }) as typeof fetch;
  return { fetchImpl, seen };
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });

describe('runToolCall', () => {
  let audit: MemoryAuditSink;
  let logLines: string[];
  let deps: (broker: CredentialBroker, fetchImpl: typeof fetch) => ToolCallDeps;

  beforeEach(() => {
    audit = createMemoryAuditSink();
    logLines = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => logLines.push(line) });
    const tools = new Map<string, ToolDefinition>([
      [readNote.name, readNote],
      [writeNote.name, writeNote],
      [adminNote.name, adminNote],
    ]);
    deps = (broker, fetchImpl) => ({
      config,
      tools,
      broker,
      links: connectRouteLinks(config.server.publicUrl),
      audit,
      logger,
      metrics: createMetrics(),
      clock: { now: () => Date.now() },
      fetch: fetchImpl,
    });
  });

  afterEach(() => {
    // Whatever the case, no token reaches the audit log or the logs.
    const everything = JSON.stringify(audit.records) + logLines.join('\n');
    expect(everything).not.toContain(TOKEN_1);
    expect(everything).not.toContain(TOKEN_2);
  });

  const caller = { user: 'alice', client: 'test-agent' };

  it('sends the credential, returns JSON as structuredContent, and audits without the token', async () => {
    const { broker } = countingBroker();
    const { fetchImpl, seen } = scriptedFetch([() => json(200, { id: 'n1', title: 'hi' })]);
    const out = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(out).toMatchObject({ ok: true, structured: { id: 'n1', title: 'hi' } });
    expect(seen).toEqual([{ url: `${API}/notes/n1`, method: 'GET', authorization: `Bearer ${TOKEN_1}` }]);
    expect(audit.records).toHaveLength(1);
    expect(audit.records[0]).toMatchObject({
      user: 'alice',
      client: 'test-agent',
      tool: 'read_note',
      outcome: 'ok',
      credentialId: 'cred-1',
      grantId: 'grant-1',
      narrowed: true,
      status: 200,
    });
  });

  it('removes a token that the API echoes back, from a result and from an error', async () => {
    const { broker } = countingBroker();
    const { fetchImpl } = scriptedFetch([
      (req) => json(200, { echoed: req.headers.get('authorization') }),
      (req) => json(400, { message: `bad request from ${req.headers.get('authorization')?.slice(7)}` }),
    ]);
    const ok = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(JSON.stringify(ok)).not.toContain(TOKEN_1);
    expect(ok).toMatchObject({ ok: true, structured: { echoed: 'Bearer [redacted]' } });
    const failed = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(failed).toMatchObject({ ok: false, error: { code: 'downstream_error', status: 400 } });
    expect(JSON.stringify(failed)).not.toContain(TOKEN_1);
  });

  it('after a 401 on an idempotent call renews once and retries once', async () => {
    const { broker, counts } = countingBroker();
    const { fetchImpl, seen } = scriptedFetch([() => json(401, {}), () => json(200, { id: 'n1' })]);
    const out = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(out.ok).toBe(true);
    expect(counts.afterUnauthorized).toBe(1);
    expect(seen.map((s) => s.authorization)).toEqual([`Bearer ${TOKEN_1}`, `Bearer ${TOKEN_2}`]);
  });

  it('after a 401 on a non-idempotent call renews but does not repeat it, and says it may be retried', async () => {
    const { broker, counts } = countingBroker();
    const { fetchImpl, seen } = scriptedFetch([() => json(401, {})]);
    const out = await runToolCall(deps(broker, fetchImpl), caller, 'write_note', { title: 't' });
    expect(out).toMatchObject({
      ok: false,
      error: { code: 'downstream_error', status: 401, reason: 'credential_renewed', retryable: true },
    });
    expect(counts.afterUnauthorized).toBe(1);
    expect(seen).toHaveLength(1);
  });

  it('a second 401 with a renewed credential is reauth_required with a link, never a bare 401', async () => {
    const { broker } = countingBroker();
    const { fetchImpl } = scriptedFetch([() => json(401, {}), () => json(401, {})]);
    const out = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(out).toMatchObject({
      ok: false,
      error: { code: 'reauth_required', provider: 'notes', authorizeUrl: 'http://127.0.0.1:8787/connect/notes' },
    });
  });

  it('a 403 insufficient_scope names the missing scope and links to incremental consent', async () => {
    const { broker } = countingBroker();
    const { fetchImpl } = scriptedFetch([
      () =>
        json(
          403,
          { error: 'insufficient_scope' },
          { 'www-authenticate': 'Bearer error="insufficient_scope", scope="notes:write"' },
        ),
    ]);
    const out = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(out).toMatchObject({
      ok: false,
      error: {
        code: 'insufficient_scope',
        missingScopes: ['notes:write'],
        authorizeUrl: 'http://127.0.0.1:8787/connect/notes?scope=notes%3Awrite',
      },
    });
  });

  it('does not follow a redirect to another origin with the credential', async () => {
    const { broker } = countingBroker();
    const { fetchImpl, seen } = scriptedFetch([
      () => new Response(null, { status: 302, headers: { location: 'http://127.0.0.2:9/steal' } }),
    ]);
    const out = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(out).toMatchObject({ ok: false, error: { code: 'downstream_error', reason: 'cross_origin_redirect' } });
    expect(seen).toHaveLength(1);
  });

  it('caps the response size', async () => {
    const { broker } = countingBroker();
    const { fetchImpl } = scriptedFetch([() => json(200, { big: 'x'.repeat(4096) })]);
    const out = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(out).toMatchObject({ ok: false, error: { code: 'downstream_error', reason: 'response_too_large' } });
  });

  it('rejects bad arguments before asking for a credential, and audits the denial', async () => {
    const { broker, counts } = countingBroker();
    const { fetchImpl, seen } = scriptedFetch([]);
    const out = await runToolCall(deps(broker, fetchImpl), caller, 'read_note', { id: 7 });
    expect(out).toMatchObject({
      ok: false,
      error: { code: 'invalid_arguments', issues: [expect.stringMatching(/^id: /)] },
    });
    expect(counts.credentialFor).toBe(0);
    expect(seen).toHaveLength(0);
    expect(audit.records[0]).toMatchObject({ outcome: 'error', errorCode: 'invalid_arguments' });
  });

  it('turns a missing grant into reauth_required with the gateway link, and counts it once', async () => {
    const { broker } = countingBroker({ refuse: true });
    const d = deps(broker, scriptedFetch([]).fetchImpl);
    const out = await runToolCall(d, caller, 'read_note', { id: 'n1' });
    expect(out).toMatchObject({
      ok: false,
      error: {
        code: 'reauth_required',
        reason: 'no_grant',
        authorizeUrl: 'http://127.0.0.1:8787/connect/notes',
        scopes: ['notes:read'],
      },
    });
    const metrics = await d.metrics.registry.getSingleMetricAsString('keyward_reauth_errors_total');
    expect(metrics).toContain('keyward_reauth_errors_total{provider="notes",reason="no_grant"} 1');
  });

  it("refuses a caller whose token lacks the tool's gateway scopes, before asking for a credential", async () => {
    const { broker, counts } = countingBroker();
    const { fetchImpl, seen } = scriptedFetch([]);
    const d = deps(broker, fetchImpl);
    const out = await runToolCall(d, { ...caller, gatewayScopes: ['mcp'] }, 'purge_notes', {});
    expect(out).toEqual({
      ok: false,
      callId: out.callId,
      error: {
        code: 'insufficient_scope',
        message: "The caller's token lacks gateway scopes this tool needs.",
        provider: 'notes',
        scopes: ['notes:admin'],
        missingScopes: ['notes:admin'],
        reason: 'gateway_scope',
        retryable: false,
        callId: out.callId,
      },
    });
    expect(counts.credentialFor).toBe(0);
    expect(seen).toHaveLength(0);
    expect(audit.records[0]).toMatchObject({
      outcome: 'error',
      errorCode: 'insufficient_scope',
      reason: 'gateway_scope',
    });
  });

  it('lets a caller through who holds the gateway scopes, and a stdio caller who has none to show', async () => {
    const { broker } = countingBroker();
    const { fetchImpl } = scriptedFetch([
      () => new Response(null, { status: 204 }),
      () => new Response(null, { status: 204 }),
    ]);
    const d = deps(broker, fetchImpl);
    expect(await runToolCall(d, { ...caller, gatewayScopes: ['mcp', 'notes:admin'] }, 'purge_notes', {})).toMatchObject(
      {
        ok: true,
      },
    );
    expect(await runToolCall(d, caller, 'purge_notes', {})).toMatchObject({ ok: true });
  });

  it('never edits an error the broker threw: two calls sharing one error each get their own link', async () => {
    // Single-flight hands one rejection to every waiting call; filling in a link must not leak across them.
    const shared = new ReauthRequiredError('No notes grant for this user.', { provider: 'notes', reason: 'no_grant' });
    const broker: CredentialBroker = {
      credentialFor: async () => {
        throw shared;
      },
      afterUnauthorized: async () => {
        throw shared;
      },
      async close() {},
    };
    const d = deps(broker, scriptedFetch([]).fetchImpl);
    const [a, b] = await Promise.all([
      runToolCall(d, caller, 'read_note', { id: 'n1' }),
      runToolCall(d, { user: 'bob', client: 'other-agent' }, 'write_note', { title: 't' }),
    ]);
    expect(a).toMatchObject({
      ok: false,
      error: { authorizeUrl: 'http://127.0.0.1:8787/connect/notes', scopes: ['notes:read'] },
    });
    expect(b).toMatchObject({
      ok: false,
      error: { authorizeUrl: 'http://127.0.0.1:8787/connect/notes', scopes: ['notes:write'] },
    });
    expect(shared.details).toEqual({ provider: 'notes', reason: 'no_grant' });
  });

  it('an unexpected failure is downstream_error "internal", its text kept out of the answer', async () => {
    const broker: CredentialBroker = {
      credentialFor: async () => {
        throw new TypeError("Cannot read properties of undefined (reading 'grantId')");
      },
      afterUnauthorized: async () => credential(TOKEN_2, 2),
      async close() {},
    };
    const out = await runToolCall(deps(broker, scriptedFetch([]).fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(out).toMatchObject({
      ok: false,
      error: { code: 'downstream_error', message: 'The gateway failed while handling this call.', reason: 'internal' },
    });
    expect(JSON.stringify(out)).not.toContain('grantId');
    // The operator still learns what happened.
    expect(logLines.join('\n')).toContain('tool call failed unexpectedly');
  });

  it('a token failure that escaped the broker is translated as the broker would', async () => {
    const broker: CredentialBroker = {
      credentialFor: async () => {
        throw new TokenEndpointError('notes', 'transient', { status: 503, retryAfterSeconds: 7 });
      },
      afterUnauthorized: async () => credential(TOKEN_2, 2),
      async close() {},
    };
    const out = await runToolCall(deps(broker, scriptedFetch([]).fetchImpl), caller, 'read_note', { id: 'n1' });
    expect(out).toMatchObject({
      ok: false,
      error: { code: 'provider_unavailable', provider: 'notes', retryAfterSeconds: 7, retryable: true },
    });
  });
});
