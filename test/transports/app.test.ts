// createHttpApp as the seam: without inbound auth it serves the local user, so only on loopback (the one definition
// in src/config/schema.ts: all of 127.0.0.0/8, ::1, localhost); with inbound auth it never falls back to that user.
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express from 'express';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createHttpApp, type InboundAuth } from '../../src/transports/http.js';
import { TEST_ENCRYPTION_KEY } from '../fixtures/invalid-configs.js';
import { ROOT } from '../helpers/stack.js';

let gateway: Gateway;

beforeAll(async () => {
  const config = resolveConfig(
    {
      server: { transport: 'http', port: 8787 },
      store: 'memory:',
      audit: 'memory:',
      providers: {
        notes: {
          issuer: 'http://127.0.0.1:9',
          clientId: 'keyward-demo',
          scopes: ['notes:read', 'notes:write', 'notes:delete'],
          resource: 'http://127.0.0.1:9/',
          apiBaseUrl: 'http://127.0.0.1:9',
        },
      },
      tools: [path.join(ROOT, 'tools/notes.ts')],
    },
    { configPath: '<inline>', env: { KEYWARD_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY, KEYWARD_USER: 'local' } },
  );
  gateway = await createGateway(config, { logger: pino({ level: 'silent' }) });
});
afterAll(async () => {
  await gateway?.close();
});

const on = (host: string): Gateway => ({
  ...gateway,
  config: { ...gateway.config, server: { ...gateway.config.server, host, publicUrl: 'https://gw.example' } },
});

describe('the HTTP transport without inbound auth', () => {
  it.each(['127.0.0.1', '127.0.0.2', '127.255.255.254', 'localhost', '::1'])('serves on loopback %s', async (host) => {
    const { close } = createHttpApp(on(host));
    await close();
  });

  it.each(['0.0.0.0', '192.168.1.5', '::', '127.0.0.1.evil.example', '128.0.0.1'])('refuses to serve on %s', (host) => {
    expect(() => createHttpApp(on(host))).toThrow(
      `server.host is ${host} but no identity is configured: without inbound auth the HTTP transport only listens on loopback`,
    );
  });
});

describe('the HTTP transport with inbound auth', () => {
  it('answers 500 and runs no tool when a request reaches /mcp without a verified caller (fail closed)', async () => {
    let calls = 0;
    const counted: Gateway = {
      ...gateway,
      callTool: async (...args) => {
        calls++;
        return gateway.callTool(...args);
      },
    };
    // A broken inbound auth that lets the request through but verified no one.
    const broken: InboundAuth = {
      metadataRouter: express.Router(),
      requireCaller: (_req, _res, next) => next(),
      resource: 'http://127.0.0.1:8787/mcp',
      callerOf: () => undefined,
    };
    const { app, close } = createHttpApp(counted, { inbound: broken });
    const server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_notes' } });
      const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: (server.address() as AddressInfo).port,
            path: '/mcp',
            method: 'POST',
            // The Host the gateway answers to is its configured port's, whatever port this test listens on.
            headers: {
              host: '127.0.0.1:8787',
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
            },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => {
              text += d.toString();
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      expect(answer.status).toBe(500);
      expect(JSON.parse(answer.text)).toEqual({
        jsonrpc: '2.0',
        error: { code: -32603, message: 'Internal error' },
        id: null,
      });
      expect(calls).toBe(0);
    } finally {
      await close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
