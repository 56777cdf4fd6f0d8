// The HTTP transport refuses a foreign Origin and a wrong Host with 403, before any MCP handling.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnHttpGateway } from '../helpers/gatewayProcess.js';
import { type Stack, startStack } from '../helpers/stack.js';

describe('HTTP transport guards', () => {
  let stack: Stack;
  let gw: Awaited<ReturnType<typeof spawnHttpGateway>>;
  beforeAll(async () => {
    stack = await startStack();
    gw = await spawnHttpGateway(stack);
  });
  afterAll(async () => {
    await gw?.stop();
    await stack?.close();
  });

  const initialize = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } },
  };
  const post = (headers: Record<string, string>) =>
    fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(initialize),
    });

  it('answers a same-origin request', async () => {
    const res = await post({ origin: stack.gatewayUrl });
    expect(res.status).toBe(200);
  });

  it('answers a request without Origin (a non-browser client)', async () => {
    expect((await post({})).status).toBe(200);
  });

  it('refuses a foreign Origin with 403', async () => {
    const res = await post({ origin: 'http://evil.example' });
    expect(res.status).toBe(403);
  });

  it('refuses a wrong Host with 403', async () => {
    const { request } = await import('node:http');
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: stack.gatewayPort,
          path: '/mcp',
          method: 'POST',
          headers: { host: 'evil.example', 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(initialize));
    });
    expect(status).toBe(403);
  });

  it('counts a reauth error returned to the agent once at /metrics', async () => {
    const client = new Client({ name: 'metrics-test', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${stack.gatewayUrl}/mcp`)));
    await client.callTool({ name: 'list_notes', arguments: {} });
    await client.close();
    const metrics = await (await fetch(`${stack.gatewayUrl}/metrics`)).text();
    expect(metrics).toContain('keyward_reauth_errors_total{provider="notes",reason="no_grant"} 1\n');
    expect(metrics).toContain('keyward_tool_call_seconds_count{tool="list_notes",outcome="error"} 1\n');
  });

  it('serves /healthz', async () => {
    const res = await fetch(`${stack.gatewayUrl}/healthz`);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });
});
