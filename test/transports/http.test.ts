// The HTTP transport in process: a foreign Origin and a wrong Host get 403 before any MCP handling; health and
// metrics answer; loopback alone may go without inbound auth.
import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stack, startStack } from '../helpers/stack.js';
import { type InProcessGateway, startInProcessGateway } from './inProcessGateway.js';

describe('HTTP transport guards', () => {
  let stack: Stack;
  let gw: InProcessGateway;
  beforeAll(async () => {
    stack = await startStack();
    gw = await startInProcessGateway(stack);
  });
  afterAll(async () => {
    await gw?.close();
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
    expect(await res.json()).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Forbidden: Origin not allowed' },
      id: null,
    });
  });

  it('refuses a wrong Host with 403', async () => {
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

  it('answers GET /mcp with 405 and Allow: POST (stateless)', async () => {
    const res = await fetch(`${stack.gatewayUrl}/mcp`);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('answers malformed JSON with a 400 parse error', async () => {
    const res = await fetch(`${stack.gatewayUrl}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: '{"jsonrpc":',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
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
    expect(await res.json()).toMatchObject({ status: 'ok', name: 'keyward-test', tools: 4 });
  });

  it('sets the security headers on every answer', async () => {
    const res = await fetch(`${stack.gatewayUrl}/healthz`);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });
});
