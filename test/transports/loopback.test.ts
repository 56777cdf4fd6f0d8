// Without inbound auth the HTTP transport serves the local user, so it may only listen on loopback: the one
// definition in src/config/schema.ts (all of 127.0.0.0/8, ::1, localhost).
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';
import { createGateway, type Gateway } from '../../src/gateway/gateway.js';
import { createHttpApp } from '../../src/transports/http.js';
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
