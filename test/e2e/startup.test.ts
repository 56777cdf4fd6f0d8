// Every start-up failure of the built CLI is one line that names the fix, and a non-zero exit.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateEncryptionKey } from '../../src/broker/crypto.js';
import { freePort } from '../helpers/ports.js';
import { CLI, ROOT } from '../helpers/stack.js';

let dir: string;
const busy: net.Server[] = [];

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'keyward-startup-'));
});
afterEach(async () => {
  await Promise.all(busy.splice(0).map((s) => new Promise((r) => s.close(r))));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeConfig(name: string, overrides: Record<string, unknown> = {}): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    JSON.stringify({
      server: { transport: 'http', port: 8787, user: 'demo' },
      store: 'memory:',
      encryptionKey: { env: 'KEYWARD_ENCRYPTION_KEY' },
      providers: {
        notes: {
          issuer: 'http://127.0.0.1:9',
          clientId: 'keyward-demo',
          scopes: ['notes:read'],
          resource: 'http://127.0.0.1:9/',
          apiBaseUrl: 'http://127.0.0.1:9',
        },
      },
      tools: [path.join(ROOT, 'tools/get_note.json')],
      audit: 'memory:',
      ...overrides,
    }),
  );
  return file;
}

async function occupy(): Promise<number> {
  const port = await freePort();
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  busy.push(server);
  return port;
}

/** Runs the built CLI; stderr without the JSON log lines is what a person reads. */
function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: dir,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        KEYWARD_ENCRYPTION_KEY: generateEncryptionKey(),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdout.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const lines = err.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{'));
      resolve({ code, lines });
    });
  });
}

describe('start-up failures', () => {
  it('a port in use names the port and --port', async () => {
    const port = await occupy();
    const { code, lines } = await run(['serve', '--config', writeConfig('busy.json'), '--port', String(port)]);
    expect(code).toBe(1);
    expect(lines).toEqual([
      `keyward: port ${port} on 127.0.0.1 is already in use (server.port): stop what runs there (another \`keyward demo\` or \`keyward serve\`?) or choose another port with --port`,
    ]);
  });

  it('the demo on a busy authorization server port says which port', async () => {
    const port = await occupy();
    const [gw, api] = [await freePort(), await freePort()];
    const config = writeConfig('demo-busy.json', {
      server: { transport: 'http', port: gw, user: 'demo' },
      providers: {
        notes: {
          issuer: `http://127.0.0.1:${port}`,
          clientId: 'keyward-demo',
          scopes: ['notes:read'],
          resource: `http://127.0.0.1:${api}/`,
          apiBaseUrl: `http://127.0.0.1:${api}`,
        },
      },
    });
    const { code, lines } = await run(['demo', '--config', config]);
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^keyward: port ${port} on 127\\.0\\.0\\.1 is already in use .*--port$`));
  });

  it.each(['99999', '-1', 'abc', '80.5'])('--port %s is refused in one line', async (bad) => {
    const { code, lines } = await run(['serve', '--config', writeConfig('port.json'), '--port', bad]);
    expect(code).toBe(2);
    expect(lines).toEqual([
      `keyward: --port ${bad} is not a port: give a whole number from 1 to 65535 (or 0 for any free port)`,
    ]);
  });

  it('a missing key file says to run npm start or keyward keygen', async () => {
    const config = writeConfig('nokey.json', { encryptionKey: { file: '.keyward/demo.key' } });
    const { code, lines } = await run(['serve', '--config', config]);
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${config}: invalid configuration: encryptionKey: secret file not found`);
    expect(lines[0]).toContain(
      'run `npm start` once (it makes the demo key in .keyward/), or put a key from `keyward keygen` there',
    );
  });

  it('a missing key variable says the same', async () => {
    const config = writeConfig('noenv.json', { encryptionKey: { env: 'KEYWARD_TEST_NO_SUCH_KEY' } });
    const { code, lines } = await run(['serve', '--config', config]);
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /encryptionKey: environment variable KEYWARD_TEST_NO_SUCH_KEY is not set: run `npm start` once/,
    );
  });

  it('a TypeScript tool without a build says to compile it', async () => {
    const tool = path.join(dir, 'my_tool.ts');
    writeFileSync(tool, 'export {};\n');
    const { code, lines } = await run(['serve', '--config', writeConfig('nobuild.json', { tools: [tool] })]);
    expect(code).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/my_tool\.ts.*compile it to a \.js file next to it/);
  });

  it('an unreachable identity issuer names it and the fix', async () => {
    const issuer = `http://127.0.0.1:${await freePort()}`;
    const config = writeConfig('identity.json', {
      server: { transport: 'http', port: await freePort(), user: 'demo' },
      identity: { issuer, requiredScopes: ['mcp:tools'] },
    });
    const { code, lines } = await run(['serve', '--config', config]);
    expect(code).toBe(1);
    expect(lines).toEqual([
      `keyward: the identity issuer ${issuer} could not be reached: start it (\`npm start\` runs the demo one) or fix identity.issuer in ${config}`,
    ]);
  });
});
