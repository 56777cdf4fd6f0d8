// `keyward connect`, `grants`, `revoke` and `audit` against the demo AS, through a loopback callback and the device grant.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/cli/audit.js';
import { type CliIo, runConnect } from '../../src/cli/connect.js';
import { formatTable, runGrants } from '../../src/cli/grants.js';
import { runRevoke } from '../../src/cli/revoke.js';
import { expectNoCanary } from '../helpers/canary.js';
import { approveDeviceCode, driveAuthorization } from '../helpers/consent.js';
import { CLI, childEnv, type Stack, startStack } from '../helpers/stack.js';

let stack: Stack;
const saved: Record<string, string | undefined> = {};
beforeAll(async () => {
  stack = await startStack();
  // The commands read the config (and its env references) the way the real CLI does.
  for (const [k, v] of Object.entries(stack.env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  process.env.KEYWARD_LOG_LEVEL = 'silent';
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await stack?.close();
});

function captureIo(onLine?: (line: string) => void): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return {
    lines,
    errors,
    env: { KEYWARD_LOG_LEVEL: 'silent' },
    out: (line) => {
      lines.push(line);
      onLine?.(line);
    },
    err: (line) => errors.push(line),
  };
}

/** The command's output, and the verification URI (with the code) it shows for the device grant. */
function deviceIo() {
  let resolveUri: (url: string) => void = () => {};
  const shown = new Promise<string>((r) => {
    resolveUri = r;
  });
  const io = captureIo((line) => {
    const m = /^\(or open (\S+)\)$/.exec(line);
    if (m?.[1]) resolveUri(m[1]);
  });
  return { io, shown };
}

describe('keyward connect', () => {
  it('prints a loopback URL, opens the browser, completes on its callback, and stores the grant', async () => {
    let resolveUrl: (url: string) => void = () => {};
    const opened = new Promise<string>((r) => {
      resolveUrl = r;
    });
    // A desktop: the command opens the URL in "the browser" (here, the test's scripted one).
    const io = { ...captureIo(), openUrl: (url: string) => resolveUrl(url) };
    const running = runConnect('notes', { config: stack.configPath, user: 'demo', timeout: 60 }, io);
    const url = await opened;
    expect(io.lines).toContain(`  ${url}`);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/connect\/notes\/[A-Za-z0-9_-]{43}$/);
    const driven = await driveAuthorization(url, { user: 'demo', follow: true });
    expect(driven.response?.status).toBe(200);
    expect(await running).toBe(0);
    expect(io.lines.at(-1)).toMatch(/^Connected notes for demo: .*notes:read/);
    expectNoCanary(io.lines.join('\n'), 'CLI output');
  });

  it('uses the device authorization grant with --device', async () => {
    const { io, shown } = deviceIo();
    const running = runConnect('notes', { config: stack.configPath, user: 'dora', device: true, timeout: 60 }, io);
    const approval = await approveDeviceCode(await shown, { user: 'dora' });
    expect(approval.prompts).toContain('consent');
    expect(await running).toBe(0);
    expect(io.lines[0]).toMatch(/open http:\/\/127\.0\.0\.1:\d+\/device and enter the code \S+/);
    expect(io.lines.at(-1)).toMatch(/^Connected notes for dora: /);
  });

  it('refuses a device login by another user and stores nothing', async () => {
    const { io, shown } = deviceIo();
    const running = runConnect('notes', { config: stack.configPath, user: 'frank', device: true, timeout: 60 }, io);
    await approveDeviceCode(await shown, { user: 'mallory' });
    expect(await running).toBe(1);
    expect(io.errors.join('\n')).toMatch(/not connected: the account that signed in is not frank/);
  });

  it('names the configured providers when given an unknown one', async () => {
    const io = captureIo();
    expect(await runConnect('nope', { config: stack.configPath }, io)).toBe(2);
    expect(io.errors[0]).toMatch(/no provider "nope".*configured: notes/);
  });

  it('takes no name on Object.prototype for a provider', async () => {
    for (const name of ['constructor', 'toString']) {
      const io = captureIo();
      expect(await runConnect(name, { config: stack.configPath, timeout: 1 }, io), name).toBe(2);
      expect(io.errors[0]).toMatch(new RegExp(`no provider "${name}"`));
      const revoke = captureIo();
      expect(await runRevoke(name, { config: stack.configPath }, revoke), name).toBe(2);
    }
  });
});

describe('keyward grants, revoke and audit', () => {
  it('grants lists who granted what, without secrets', async () => {
    const io = captureIo();
    expect(await runGrants({ config: stack.configPath, json: true }, io)).toBe(0);
    const grants = JSON.parse(io.lines.join('\n')) as Array<Record<string, unknown>>;
    expect(grants.map((g) => `${g.user}/${g.provider}/${g.status}`)).toEqual([
      'demo/notes/active',
      'dora/notes/active',
    ]);
    expect(grants[0]).toMatchObject({ client: 'keyward-cli', hasRefreshToken: true });
    expect(Object.keys(grants[0] ?? {}).filter((k) => /Enc$|^(access|refresh|id)_?token$/i.test(k))).toEqual([]);
    expectNoCanary(io.lines.join('\n'), 'grants --json');

    const table = captureIo();
    await runGrants({ config: stack.configPath, user: 'demo' }, table);
    expect(table.lines[0]).toMatch(/^PROVIDER\s+USER\s+STATUS\s+CONSENTED\s+EXPIRES\s+LAST USED\s+SCOPES$/);
    expect(table.lines).toHaveLength(2);
    expect(table.lines[1]).toMatch(/^notes\s+demo\s+active\s+/);
  });

  it('revoke reaches the AS revocation endpoint and marks the grant revoked', async () => {
    const before = stack.authServer.stats.revocations;
    const io = captureIo();
    expect(await runRevoke('notes', { config: stack.configPath, user: 'demo' }, io)).toBe(0);
    expect(stack.authServer.stats.revocations).toBe(before + 1);
    expect(io.lines[0]).toMatch(/^Revoked demo's notes grant: revoked at http:\/\/127\.0\.0\.1:\d+ \(RFC 7009\)/);

    const listed = captureIo();
    await runGrants({ config: stack.configPath, user: 'demo', json: true }, listed);
    expect(JSON.parse(listed.lines.join('\n'))[0]).toMatchObject({ status: 'revoked', hasRefreshToken: false });

    const again = captureIo();
    expect(await runRevoke('notes', { config: stack.configPath, user: 'nobody' }, again)).toBe(1);
    expect(again.errors[0]).toMatch(/nobody has no notes grant/);
  });

  it('audit prints the latest records, also as JSON lines', async () => {
    const io = captureIo();
    expect(await runAudit({ config: stack.configPath, tail: 3 }, io)).toBe(0);
    expect(io.lines[0]).toMatch(/^TIME\s+OUTCOME\s+USER\s+CLIENT\s+TOOL\/EVENT\s+PROVIDER\s+DETAIL\s+CALL$/);
    expect(io.lines).toHaveLength(4);
    expect(io.lines.join('\n')).toMatch(/onboarding\.revoke/);

    const json = captureIo();
    await runAudit({ config: stack.configPath, tail: 100, json: true }, json);
    const records = json.lines.map((l) => JSON.parse(l) as { event?: string; outcome: string });
    expect(records.map((r) => r.event)).toEqual(
      expect.arrayContaining(['onboarding.connect', 'onboarding.callback', 'onboarding.device', 'onboarding.revoke']),
    );
    expectNoCanary(json.lines.join('\n'), 'audit log');
  });

  it('a table of many rows (a long audit tail) is laid out, not a stack overflow', () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [String(i), 'x']);
    const lines = formatTable(['N', 'V'], rows);
    expect(lines).toHaveLength(200_001);
    expect(lines.at(-1)).toBe('199999  x');
  });

  it('the built CLI has the commands', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [CLI, 'grants', '--config', stack.configPath, '--json'],
      {
        env: childEnv(stack, { KEYWARD_LOG_LEVEL: 'silent' }),
      },
    );
    expect((JSON.parse(stdout) as unknown[]).length).toBe(2);
  });
});
