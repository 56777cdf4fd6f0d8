// The tool-call path against a hostile client and a hostile API: deep arguments, huge unknown names, encoded echoes.
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createMemoryAuditSink } from '../../src/audit/sink.js';
import { CallCredential, type CredentialBroker } from '../../src/broker/types.js';
import { resolveConfig } from '../../src/config/load.js';
import { connectRouteLinks } from '../../src/gateway/gateway.js';
import { runToolCall, type ToolCallDeps } from '../../src/gateway/toolCall.js';
import { createMetrics } from '../../src/metrics.js';
import { defineTool } from '../../src/tools/define.js';
import type { ToolDefinition } from '../../src/tools/types.js';
import { TEST_ENCRYPTION_KEY } from '../fixtures/invalid-configs.js';

const API = 'http://127.0.0.1:9/api';
const TOKEN = 'canary-hostile-echo-token-0123456789abcdef';

const config = resolveConfig(
  {
    store: 'memory:',
    audit: 'memory:',
    server: { publicUrl: 'http://127.0.0.1:8787', timeoutMs: 2000 },
    providers: { notes: { issuer: 'http://127.0.0.1:9', clientId: 'c', scopes: ['notes:read'], apiBaseUrl: API } },
  },
  { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, KEYWARD_USER: 'alice' } },
);

const search = defineTool({
  name: 'search_notes',
  title: 'Search',
  description: 'Search notes with a free-form filter.',
  provider: 'notes',
  scopes: ['notes:read'],
  input: z.object({ filter: z.unknown().optional() }),
  annotations: { readOnly: true, idempotent: true },
  request: () => ({ method: 'GET', path: ['notes'] }),
});

function harness(respond: () => Response) {
  const audit = createMemoryAuditSink();
  const logLines: string[] = [];
  const metrics = createMetrics();
  let credentialsAsked = 0;
  const broker: CredentialBroker = {
    async credentialFor() {
      credentialsAsked++;
      return new CallCredential(TOKEN, {
        id: 'cred-1',
        strategy: 'refresh',
        narrowed: true,
        scopes: ['notes:read'],
        grantId: 'grant-1',
        generation: 1,
        expiresAt: Date.now() + 60_000,
      });
    },
    async afterUnauthorized() {
      throw new Error('not expected');
    },
    async close() {},
  };
  const deps: ToolCallDeps = {
    config,
    tools: new Map<string, ToolDefinition>([[search.name, search]]),
    broker,
    links: connectRouteLinks(config.server.publicUrl),
    audit,
    logger: pino({ level: 'debug' }, { write: (l: string) => logLines.push(l) }),
    metrics,
    clock: { now: () => Date.now() },
    fetch: (async () => respond()) as typeof fetch,
  };
  return { deps, audit, metrics, logLines, asked: () => credentialsAsked };
}

const caller = { user: 'alice', client: 'test-agent' };

describe('hostile clients', () => {
  it('arguments nested 5,000 levels deep get invalid_arguments and an audit record, and cost no credential', async () => {
    const h = harness(() => new Response('{}'));
    let deep: unknown = 'x';
    for (let i = 0; i < 5000; i++) deep = { d: deep };
    const out = await runToolCall(h.deps, caller, 'search_notes', { filter: deep });
    expect(out.ok).toBe(false);
    expect(!out.ok && out.error).toMatchObject({ code: 'invalid_arguments', retryable: false });
    expect(h.audit.records).toHaveLength(1);
    expect(h.audit.records[0]).toMatchObject({ outcome: 'error', errorCode: 'invalid_arguments' });
    expect(h.asked()).toBe(0);
  });

  it('unknown tool names of 1 MiB neither become metric labels nor fill the audit log', async () => {
    const h = harness(() => new Response('{}'));
    for (let i = 0; i < 40; i++) {
      const out = await runToolCall(h.deps, caller, `${String(i).padStart(3, '0')}${'n'.repeat(1 << 20)}`, {});
      expect(!out.ok && out.error.code).toBe('invalid_arguments');
    }
    const exposition = await h.metrics.registry.metrics();
    expect(exposition.length).toBeLessThan(64 * 1024);
    expect(exposition).toContain('tool="(unknown)"');
    expect(h.audit.records).toHaveLength(40);
    for (const r of h.audit.records) expect(r.tool.length).toBeLessThan(200);
  });
});

describe('hostile APIs', () => {
  it('a token echoed with JSON \\u escapes reaches neither structuredContent nor the text', async () => {
    const escaped = [...TOKEN].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const h = harness(
      () =>
        new Response(`{"you_sent":"Bearer ${escaped}","ok":true}`, {
          status: 200,
          headers: { 'content-type': 'application/json' },
        }),
    );
    const out = await runToolCall(h.deps, caller, 'search_notes', {});
    expect(out.ok).toBe(true);
    const everything = JSON.stringify(out) + JSON.stringify(h.audit.records) + h.logLines.join('\n');
    expect(everything).not.toContain(TOKEN);
    expect(out.ok && out.structured).toMatchObject({ ok: true, you_sent: 'Bearer [redacted]' });
  });

  it('a token echoed in a failed answer reaches no error text', async () => {
    const h = harness(
      () =>
        new Response(`{"message":"bad token ${TOKEN.replaceAll('-', '\\u002d')}"}`, {
          status: 400,
          headers: { 'content-type': 'application/json' },
        }),
    );
    const out = await runToolCall(h.deps, caller, 'search_notes', {});
    expect(!out.ok && out.error.code).toBe('downstream_error');
    expect(JSON.stringify(out)).not.toContain(TOKEN);
  });
});
