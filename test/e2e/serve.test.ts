// The built `keyward serve`, spawned as a real process and driven by the MCP SDK's Client over stdio and HTTP.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNoCanary } from '../helpers/canary.js';
import { spawnHttpGateway } from '../helpers/gatewayProcess.js';
import { CLI, childEnv, type Stack, startStack } from '../helpers/stack.js';

type Connect = (stack: Stack) => Promise<{ client: Client; stderr: () => string; stop: () => Promise<void> }>;

const overStdio: Connect = async (stack) => {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'serve', '--config', stack.configPath],
    env: childEnv(stack),
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const client = new Client({ name: 'e2e-stdio-client', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr, stop: () => client.close() };
};

const overHttp: Connect = async (stack) => {
  const gw = await spawnHttpGateway(stack);
  const client = new Client({ name: 'e2e-http-client', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${stack.gatewayUrl}/mcp`)));
  return {
    client,
    stderr: gw.stderr,
    stop: async () => {
      await client.close();
      await gw.stop();
    },
  };
};

describe.each([
  ['stdio', overStdio],
  ['Streamable HTTP', overHttp],
] as const)('keyward serve over %s', (_name, connect) => {
  let stack: Stack;
  let session: Awaited<ReturnType<Connect>>;

  beforeAll(async () => {
    stack = await startStack();
    session = await connect(stack);
  });
  afterAll(async () => {
    await session?.stop();
    const audit = (() => {
      try {
        return readFileSync(path.join(stack.dir, 'audit.jsonl'), 'utf8');
      } catch {
        return '';
      }
    })();
    expectNoCanary(session?.stderr() ?? '', 'gateway stderr');
    expectNoCanary(audit, 'audit log');
    await stack?.close();
  });

  it('lists the demo tools with their schemas and annotations', async () => {
    const { tools } = await session.client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual(['create_note', 'delete_note', 'get_note', 'list_notes']);
    const create = byName.get('create_note');
    expect(create?.inputSchema.properties).toHaveProperty('title');
    expect(create?.inputSchema.required).toContain('title');
    expect(byName.get('delete_note')?.annotations).toMatchObject({ destructiveHint: true });
    expect(byName.get('list_notes')?.annotations).toMatchObject({ readOnlyHint: true });
    expect(byName.get('get_note')?.inputSchema.properties).toHaveProperty('id');
  });

  it('answers a call before any grant with reauth_required, no_grant and an authorizeUrl', async () => {
    const result = (await session.client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
    expect(result.isError).toBe(true);
    const error = (result.structuredContent as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ code: 'reauth_required', reason: 'no_grant', provider: 'notes', retryable: false });
    expect(error.scopes).toEqual(['notes:read']);
    expect(String(error.authorizeUrl)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/connect\/notes/);
    expect(typeof error.callId).toBe('string');
    expect((result.content[0] as { text: string }).text).toContain(String(error.authorizeUrl));
    expectNoCanary(JSON.stringify(result), 'tool result');
  });

  it('answers bad arguments with invalid_arguments that say what was wrong', async () => {
    const result = (await session.client.callTool({ name: 'create_note', arguments: { title: 42 } })) as CallToolResult;
    expect(result.isError).toBe(true);
    const error = (result.structuredContent as { error: { code: string; issues: string[] } }).error;
    expect(error.code).toBe('invalid_arguments');
    expect(error.issues.join('\n')).toMatch(/^title: /m);
  });

  it.each([
    ['an absolute URL', 'https://evil.example/x'],
    ['a protocol-relative host', '//evil.example/x'],
    ['a parent segment', '..'],
    ['an encoded parent segment', '%2e%2e'],
    ['a slash that escapes the path', '../../admin'],
  ])('never lets an argument change the host or path: %s', async (_label, id) => {
    const result = (await session.client.callTool({ name: 'get_note', arguments: { id } })) as CallToolResult;
    expect(result.isError).toBe(true);
    const error = (result.structuredContent as { error: { code: string } }).error;
    // Rejected outright, or encoded into one segment that then needs a grant like any other call.
    expect(['invalid_arguments', 'reauth_required']).toContain(error.code);
    expect(stack.api.seen.length).toBe(0);
  });
});
