// Stateful sessions on an advanced clock, with no sleep: an idle session is closed, and a full table refuses new ones.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionEndpoint, type SessionEndpoint } from '../../src/mcp/sessions.js';

let now = 1_750_000_000_000;

/** A session endpoint behind express on loopback; the caller is named by the x-test-user header. */
async function startEndpoint(opts: { maxSessions: number; maxSessionsPerUser?: number; idleMs?: number }) {
  const endpoint = createSessionEndpoint({
    newServer: () => new McpServer({ name: 'sessions-test', version: '0.0.0' }),
    clock: { now: () => now },
    ...opts,
  });
  const app = express();
  app.all('/mcp', express.json(), (req, res) => {
    void endpoint.handle(req, res, JSON.stringify([null, req.header('x-test-user') ?? 'alice']));
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`,
    async close() {
      await endpoint.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let capped: Awaited<ReturnType<typeof startEndpoint>>;
let endpoint: SessionEndpoint;
let url: string;

beforeAll(async () => {
  capped = await startEndpoint({ idleMs: 60_000, maxSessions: 1 });
  endpoint = capped.endpoint;
  url = capped.url;
});
afterAll(async () => {
  await capped?.close();
});

const post = async (body: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    sessionId: res.headers.get('mcp-session-id'),
    retryAfter: res.headers.get('retry-after'),
    text: await res.text(),
  };
};
const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } },
};
const ping = { jsonrpc: '2.0', id: 2, method: 'ping' };

describe('session lifetime', () => {
  it('refuses a session past the cap, and makes room once the idle one has timed out', async () => {
    const first = await post(initialize);
    expect(first.status).toBe(200);
    expect(first.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const sid = { 'mcp-session-id': String(first.sessionId), 'mcp-protocol-version': '2025-06-18' };
    expect((await post(ping, sid)).status).toBe(200);

    const full = await post(initialize);
    expect(full.status).toBe(503);
    expect(full.retryAfter).toBe('60');
    expect(JSON.parse(full.text)).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Too many open sessions; retry later' },
      id: null,
    });

    // Used just now, so not idle yet: still full.
    now += 59_000;
    expect((await post(ping, sid)).status).toBe(200);
    now += 59_000;
    expect((await post(initialize)).status).toBe(503);

    now += 2_000;
    const second = await post(initialize);
    expect(second.status).toBe(200);
    expect(second.sessionId).not.toBe(first.sessionId);
    expect(endpoint.size()).toBe(1);
    expect((await post(ping, sid)).status).toBe(404);
  });
});

describe('one user cannot take every session', () => {
  let perUser: Awaited<ReturnType<typeof startEndpoint>>;
  let perUserUrl: string;

  beforeAll(async () => {
    perUser = await startEndpoint({ maxSessions: 4, maxSessionsPerUser: 2 });
    perUserUrl = perUser.url;
  });
  afterAll(async () => {
    await perUser?.close();
  });

  const open = async (user: string) => {
    now += 1;
    const res = await fetch(perUserUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'x-test-user': user,
      },
      body: JSON.stringify(initialize),
    });
    await res.text();
    return { status: res.status, sessionId: res.headers.get('mcp-session-id') };
  };
  const pingAs = async (user: string, sessionId: string | null) => {
    const res = await fetch(perUserUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'x-test-user': user,
        'mcp-session-id': String(sessionId),
        'mcp-protocol-version': '2025-06-18',
      },
      body: JSON.stringify(ping),
    });
    await res.text();
    return res.status;
  };

  it('a user opening sessions beyond their share closes their own oldest, and others still get in', async () => {
    const bob = await open('bob');
    expect(bob.status).toBe(200);
    const mallory = [];
    for (let i = 0; i < 10; i++) mallory.push(await open('mallory'));
    expect(mallory.every((m) => m.status === 200)).toBe(true);
    // Mallory holds her share and no more: her oldest sessions are gone, her newest two live.
    expect(perUser.endpoint.size()).toBe(3);
    expect(await pingAs('mallory', mallory[0]?.sessionId ?? null)).toBe(404);
    expect(await pingAs('mallory', mallory[9]?.sessionId ?? null)).toBe(200);
    // Bob's session was never touched, and a third user still gets one.
    expect(await pingAs('bob', bob.sessionId)).toBe(200);
    expect((await open('carol')).status).toBe(200);
  });
});
