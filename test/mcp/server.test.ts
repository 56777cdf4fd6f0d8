// The MCP adapter with the SDK's own Client over an in-memory pair: the error contract and URL elicitation.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { type CallToolResult, ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ToolErrorPayload } from '../../src/errors.js';
import type { Caller, ToolOutcome } from '../../src/gateway/toolCall.js';
import { createMcpServer } from '../../src/mcp/server.js';
import { defineTool } from '../../src/tools/define.js';

const getNote = defineTool({
  name: 'get_note',
  title: 'Get a note',
  description: 'Read one note.',
  provider: 'notes',
  scopes: ['notes:read'],
  input: z.object({ id: z.string() }),
  output: z.object({ id: z.string(), title: z.string() }),
  annotations: { readOnly: true, idempotent: true },
  request: ({ id }) => ({ method: 'GET', path: ['notes', id] }),
});

const reauthError: ToolErrorPayload = {
  code: 'reauth_required',
  message: 'No notes grant for this user.',
  provider: 'notes',
  reason: 'no_grant',
  scopes: ['notes:read'],
  authorizeUrl: 'http://127.0.0.1:8787/connect/notes/abc',
  retryable: false,
  callId: 'call-1',
};
const reauth: ToolOutcome = { ok: false, callId: 'call-1', error: reauthError };

const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
});

async function connect(outcome: ToolOutcome, capabilities: Record<string, unknown> = {}) {
  const calls: Array<{ caller: Caller; name: string; args: unknown }> = [];
  const server = createMcpServer({
    name: 'keyward-test',
    version: '0.0.0',
    tools: [getNote],
    call: async (caller, name, args) => {
      calls.push({ caller, name, args });
      return outcome;
    },
    callerFor: (_verified, clientName) => ({ user: 'alice', client: clientName ?? 'unknown' }),
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'adapter-test-agent', version: '1.0.0' }, { capabilities });
  await client.connect(clientSide);
  clients.push(client);
  return { client, calls };
}

describe('MCP adapter', () => {
  it('gives a client without URL elicitation the isError result, valid against the advertised output schema', async () => {
    const { client, calls } = await connect(reauth);
    await client.listTools();
    const result = (await client.callTool({ name: 'get_note', arguments: { id: 'n1' } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toEqual({ error: reauthError });
    expect((result.content[0] as { text: string }).text).toContain('http://127.0.0.1:8787/connect/notes/abc');
    expect(calls).toEqual([
      { caller: { user: 'alice', client: 'adapter-test-agent' }, name: 'get_note', args: { id: 'n1' } },
    ]);
  });

  it('raises URLElicitationRequiredError (-32042) with the same URL for a client that declared elicitation.url', async () => {
    const { client } = await connect(reauth, { elicitation: { url: {} } });
    const err = await client.callTool({ name: 'get_note', arguments: { id: 'n1' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(McpError);
    expect((err as McpError).code).toBe(ErrorCode.UrlElicitationRequired);
    expect((err as McpError).data).toMatchObject({
      elicitations: [{ mode: 'url', url: 'http://127.0.0.1:8787/connect/notes/abc', elicitationId: 'call-1' }],
    });
  });

  it('passes arguments through unvalidated by the SDK, so the pipeline answers invalid_arguments itself', async () => {
    const invalid: ToolOutcome = {
      ok: false,
      callId: 'call-2',
      error: { code: 'invalid_arguments', message: 'bad', issues: ['id: expected string'], retryable: false },
    };
    const { client, calls } = await connect(invalid);
    const result = (await client.callTool({ name: 'get_note', arguments: { id: 5 } })) as CallToolResult;
    expect(result.structuredContent).toMatchObject({
      error: { code: 'invalid_arguments', issues: ['id: expected string'] },
    });
    expect(calls[0]?.args).toEqual({ id: 5 });
  });

  it('lists tools with their annotations and the strict output fields', async () => {
    const { client } = await connect(reauth);
    const { tools } = await client.listTools();
    expect(tools[0]).toMatchObject({
      name: 'get_note',
      annotations: { readOnlyHint: true, idempotentHint: true, destructiveHint: false },
    });
    expect(Object.keys(tools[0]?.outputSchema?.properties ?? {}).sort()).toEqual(['error', 'id', 'title']);
  });
});
