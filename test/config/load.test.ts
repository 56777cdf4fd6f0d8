import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encryptionKeyFrom, keyIdOf } from '../../src/broker/crypto.js';
import { loadConfig, resolveConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import {
  invalidConfigs,
  TEST_CLIENT_SECRET,
  TEST_ENCRYPTION_KEY,
  validConfig,
  validEnv,
} from '../fixtures/invalid-configs.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'keyward-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string, config: unknown): Promise<string> {
  const file = path.join(dir, name, 'mcp.config.json');
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return file;
}

async function configError(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

describe('loadConfig: invalid configs', () => {
  it.each(invalidConfigs.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const c = invalidConfigs[i]!;
    const file = await writeConfig(`case-${i}`, c.config);
    const err = await configError(loadConfig(file, c.env ?? validEnv));
    expect(
      err.problems.some((p) => p.includes(c.expect)),
      `${err.problems.join('\n')}\nwanted: ${c.expect}`,
    ).toBe(true);
    expect(err.message).toContain(file);
    expect(err.message).toContain(c.expect);
    // No secret value ever reaches the message.
    for (const secret of [TEST_CLIENT_SECRET, TEST_ENCRYPTION_KEY, 'inline-secret-value-never-echoed']) {
      expect(err.message).not.toContain(secret);
    }
  });

  it('has at least 12 cases', () => {
    expect(invalidConfigs.length).toBeGreaterThanOrEqual(12);
  });

  it('reports every problem in one pass', async () => {
    const c = validConfig();
    c.server.transport = 'tcp';
    c.server.port = -1;
    c.providers.notes.strategy = 'mint';
    delete c.providers.notes.resource;
    delete c.providers.notes.clientId;
    c.extra = true;
    const err = await configError(loadConfig(await writeConfig('many', c), { NOTES_CLIENT_SECRET: 'x' }));
    expect(err.problems).toEqual([
      'server.transport: must be one of "stdio", "http"',
      'server.port: must be at least 0',
      'providers.notes.clientId: required',
      'providers.notes.resource: required for strategy "mint" (the audience)',
      'extra: unknown key',
      'encryptionKey: environment variable KEYWARD_ENCRYPTION_KEY is not set (generate a key with `keyward keygen`)',
    ]);
  });

  it('names a missing file clearly', async () => {
    const file = path.join(dir, 'nope', 'mcp.config.json');
    const err = await configError(loadConfig(file, validEnv));
    expect(err.problems).toEqual([`${file}: config file not found`]);
  });

  it('does not quote the file when the JSON is broken', async () => {
    const file = await writeConfig('quoted', '{"providers": {"x": {"clientSecret": hunter2}}}');
    const err = await configError(loadConfig(file, validEnv));
    expect(err.problems).toEqual([`${file}:1:38: invalid JSON: unexpected character`]);
    expect(err.message).not.toContain('hunter2');
  });
});

describe('loadConfig: a good config', () => {
  it('resolves secrets, paths and defaults', async () => {
    const c = validConfig();
    c.store = 'sqlite:.keyward/keyward.db';
    c.audit = 'jsonl:logs/audit.jsonl';
    c.tools = ['tools', '/opt/keyward/tools'];
    c.previousEncryptionKeys = [{ file: 'old.key' }];
    delete c.server.port;
    const file = await writeConfig('good', c);
    const old = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    await writeFile(path.join(dir, 'good', 'old.key'), `${old}\n`);
    const cfg = await loadConfig(file, validEnv);
    const base = path.join(dir, 'good');

    expect(cfg.configPath).toBe(file);
    expect(cfg.configDir).toBe(base);
    expect(cfg.server).toMatchObject({
      name: 'keyward-test',
      transport: 'stdio',
      host: '127.0.0.1',
      port: 8787,
      publicUrl: 'http://127.0.0.1:8787',
      user: 'alice',
      stateful: false,
    });
    expect(cfg.store).toBe(`sqlite:${path.join(base, '.keyward/keyward.db')}`);
    expect(cfg.audit).toBe(`jsonl:${path.join(base, 'logs/audit.jsonl')}`);
    expect(cfg.tools).toEqual([path.join(base, 'tools'), '/opt/keyward/tools']);
    expect(cfg.providers.notes).toEqual({
      name: 'notes',
      issuer: 'http://127.0.0.1:4455',
      clientId: 'keyward',
      clientSecret: TEST_CLIENT_SECRET,
      scopes: ['notes:read', 'notes:write', 'notes:delete'],
      strategy: 'refresh',
      resource: 'http://127.0.0.1:4456',
      apiBaseUrl: 'http://127.0.0.1:4456',
    });
    const key = Buffer.from(TEST_ENCRYPTION_KEY, 'base64url');
    expect(Buffer.from(cfg.encryption.current.key)).toEqual(key);
    expect(cfg.encryption.current.kid).toBe(keyIdOf(key));
    expect(cfg.encryption.current.kid).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(cfg.encryption.previous).toHaveLength(1);
    expect(Buffer.from(cfg.encryption.previous[0]!.key)).toEqual(Buffer.alloc(32));
    expect(cfg.identity).toBeUndefined();
  });

  it('reads a key in standard base64 as the same key, with the same kid, as the cipher does', () => {
    // One decoder for the config and the cipher: `openssl rand -base64 32` output is a good key.
    let raw = Buffer.alloc(32);
    for (let i = 0; raw.toString('base64').search(/[+/]/) < 0; i++) raw = Buffer.alloc(32, i * 37 + 251);
    const standard = raw.toString('base64');
    expect(standard).toMatch(/[+/]/);
    const cfg = resolveConfig(validConfig(), {
      configPath: '/etc/keyward/mcp.config.json',
      env: { ...validEnv, KEYWARD_ENCRYPTION_KEY: standard },
    });
    expect(Buffer.from(cfg.encryption.current.key)).toEqual(raw);
    expect(cfg.encryption.current).toEqual(encryptionKeyFrom(standard));
    expect(cfg.encryption.current).toEqual(encryptionKeyFrom(raw.toString('base64url')));
    // A mix of both alphabets is a damaged copy, refused by both.
    const mixed = `-${standard.slice(1)}`;
    expect(mixed).toMatch(/[+/]/);
    expect(() =>
      resolveConfig(validConfig(), {
        configPath: '/x/mcp.config.json',
        env: { ...validEnv, KEYWARD_ENCRYPTION_KEY: mixed },
      }),
    ).toThrow(/32-byte key/);
    expect(() => encryptionKeyFrom(mixed)).toThrow(/32 bytes/);
  });

  it('takes the user from KEYWARD_USER, else the OS', () => {
    const c = validConfig();
    const env = { ...validEnv };
    expect(resolveConfig(c, { configPath: '/etc/keyward/mcp.config.json', env }).server.user).toBe('alice');
    delete (env as Record<string, string | undefined>).KEYWARD_USER;
    expect(resolveConfig(c, { configPath: '/etc/keyward/mcp.config.json', env }).server.user).toBe(
      os.userInfo().username,
    );
    c.server.user = 'bob';
    expect(resolveConfig(c, { configPath: '/etc/keyward/mcp.config.json', env: validEnv }).server.user).toBe('bob');
  });

  it('applies defaults to a minimal config', () => {
    const cfg = resolveConfig({}, { configPath: '/srv/kw/mcp.config.json', env: validEnv });
    expect(cfg.store).toBe('sqlite:/srv/kw/.keyward/keyward.db');
    expect(cfg.audit).toBe('jsonl:/srv/kw/.keyward/audit.jsonl');
    expect(cfg.tools).toEqual(['/srv/kw/tools']);
    expect(cfg.providers).toEqual({});
    expect(cfg.server.publicUrl).toBe('http://127.0.0.1:8787');
    expect(cfg.server.transport).toBe('stdio');
  });

  it('reads a store URL that carries a password from its reference, and never quotes it', () => {
    const url = 'postgres://keyward:s3cret-store-password@db.internal:5432/keyward';
    const cfg = resolveConfig(
      { store: { env: 'KEYWARD_STORE_URL' } },
      {
        configPath: '/x/c.json',
        env: { ...validEnv, KEYWARD_STORE_URL: url },
      },
    );
    expect(cfg.store).toBe(url);
    const bad = (() => {
      try {
        resolveConfig(
          { store: { env: 'KEYWARD_STORE_URL' } },
          {
            configPath: '/x/c.json',
            env: { ...validEnv, KEYWARD_STORE_URL: 'mysql://u:s3cret-store-password@h/db' },
          },
        );
      } catch (err) {
        return err as ConfigError;
      }
    })();
    expect(bad?.problems).toEqual([
      'store: the referenced URL must be sqlite:<path>, redis://…, postgres://… or memory:',
    ]);
    expect(bad?.message).not.toContain('s3cret');
  });

  it('allows plain http to loopback hosts only, for endpoints that credentials travel to', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '[::1]']) {
      const c = validConfig();
      c.providers.notes.apiBaseUrl = `http://${host}:4456`;
      expect(() => resolveConfig(c, { configPath: '/x/c.json', env: validEnv }), host).not.toThrow();
    }
    const c = validConfig();
    c.providers.notes.apiBaseUrl = 'https://api.example.com';
    expect(() => resolveConfig(c, { configPath: '/x/c.json', env: validEnv })).not.toThrow();
  });

  it('keeps an explicit publicUrl (without a trailing slash) and brackets IPv6 hosts', () => {
    const a = resolveConfig(
      { server: { publicUrl: 'https://gw.example.com/' } },
      { configPath: '/x/c.json', env: validEnv },
    );
    expect(a.server.publicUrl).toBe('https://gw.example.com');
    const b = resolveConfig({ server: { host: '::1', port: 9000 } }, { configPath: '/x/c.json', env: validEnv });
    expect(b.server.publicUrl).toBe('http://[::1]:9000');
  });

  it('resolves identity introspection secrets and the default audience', () => {
    const cfg = resolveConfig(
      {
        server: { publicUrl: 'https://gw.example.com' },
        identity: {
          issuer: 'https://idp.example.com',
          introspection: { endpoint: 'https://idp.example.com/introspect', clientId: 'gw', clientSecret: { env: 'I' } },
        },
      },
      { configPath: '/x/c.json', env: { ...validEnv, I: 'introspection-secret' } },
    );
    expect(cfg.identity?.audience).toBe('https://gw.example.com/mcp');
    expect(cfg.identity?.introspection).toEqual({
      endpoint: 'https://idp.example.com/introspect',
      clientId: 'gw',
      clientSecret: 'introspection-secret',
    });
  });
});
