// The whole onboarding flow in headless Chromium: `keyward demo`, reauth_required, login and consent at the demo AS, the same call succeeds.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { CLI, ROOT } from '../helpers/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const haveChromium = existsSync(CHROMIUM);

if (!haveChromium) {
  if (process.env.CI === 'true')
    throw new Error(`${CHROMIUM} is missing: the browser e2e test cannot be skipped under CI`);
  console.warn(
    `\n!!! SKIPPING the browser e2e test: ${CHROMIUM} is missing. Install Debian's "chromium" package to run it. !!!\n`,
  );
}

interface Demo {
  dir: string;
  gatewayUrl: string;
  issuer: string;
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Spawns the built `keyward demo` with its own ports, store and key in a temp folder. */
async function startDemo(): Promise<Demo> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyward-browser-'));
  const [gatewayPort, asPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const issuer = `http://127.0.0.1:${asPort}`;
  const config = {
    server: { name: 'keyward-browser-e2e', transport: 'http', port: gatewayPort, publicUrl: gatewayUrl, user: 'demo' },
    store: 'sqlite:.keyward/keyward.db',
    encryptionKey: { file: '.keyward/demo.key' },
    providers: {
      notes: {
        issuer,
        clientId: 'keyward-demo',
        scopes: ['openid', 'offline_access', 'notes:read', 'notes:write', 'notes:delete'],
        strategy: 'refresh',
        resource: `http://127.0.0.1:${apiPort}/`,
        apiBaseUrl: `http://127.0.0.1:${apiPort}`,
      },
    },
    tools: [path.join(ROOT, 'tools/notes.ts'), path.join(ROOT, 'tools/get_note.json')],
    audit: 'jsonl:.keyward/audit.jsonl',
  };
  const configPath = path.join(dir, 'mcp.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [CLI, 'demo', '--config', configPath], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', KEYWARD_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`keyward demo exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`keyward demo did not start:\n${out}`);
    if (out.includes('Keyward demo is running')) {
      const health = await fetch(`${gatewayUrl}/healthz`).catch(() => undefined);
      if (health?.ok) break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    dir,
    gatewayUrl,
    issuer,
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe.skipIf(!haveChromium)('onboarding in a real browser', () => {
  let demo: Demo;
  let browser: Browser;
  let client: Client;

  beforeAll(async () => {
    demo = await startDemo();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-gpu',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    client = new Client({ name: 'browser-e2e-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${demo.gatewayUrl}/mcp`)));
  });
  afterAll(async () => {
    await client?.close();
    await browser?.close();
    await demo?.stop();
  });

  it('reauth_required -> the browser logs in and consents at the demo AS -> the same call succeeds', async () => {
    const first = (await client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
    expect(first.isError).toBe(true);
    const error = (first.structuredContent as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ code: 'reauth_required', reason: 'no_grant', provider: 'notes' });
    const authorizeUrl = String(error.authorizeUrl);
    expect(authorizeUrl).toMatch(new RegExp(`^${demo.gatewayUrl}/connect/notes/[A-Za-z0-9_-]{43}$`));

    const context = await browser.newContext();
    // Loopback only: the demo AS's pages link a web font; nothing may leave the machine.
    await context.route('**/*', (route) =>
      new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
    );
    const page = await context.newPage();
    await page.goto(authorizeUrl, { waitUntil: 'domcontentloaded' });

    // The gateway sent the browser to the demo AS: log in, then consent.
    expect(new URL(page.url()).origin).toBe(demo.issuer);
    await page.fill('input[name="login"]', 'demo');
    await page.fill('input[name="password"]', 'demo');
    await Promise.all([
      page.waitForURL((u) => u.pathname.startsWith('/interaction/')),
      page.click('button[type="submit"]'),
    ]);
    await expect.poll(() => page.content()).toContain('name="prompt" value="consent"');
    await Promise.all([
      page.waitForURL((u) => u.origin === demo.gatewayUrl && u.pathname === '/callback/notes', {
        waitUntil: 'domcontentloaded',
      }),
      page.click('button[type="submit"]'),
    ]);

    expect(await page.locator('h1').textContent()).toBe('Connected to notes');
    expect(await page.locator('[role="status"]').textContent()).toContain('demo');
    const cookies = await context.cookies(demo.gatewayUrl);
    const session = cookies.find((c) => c.name.startsWith('keyward-session'));
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'onboarding-success.png'), fullPage: true });

    // The page cannot be framed.
    const framed = await context.newPage();
    await framed.setContent(`<iframe src="${demo.gatewayUrl}/accounts" id="f"></iframe>`);
    await framed.waitForTimeout(300);
    const frame = framed.frames().find((f) => f !== framed.mainFrame());
    // Chromium shows its own "127.0.0.1 is blocked" page instead of ours.
    expect(frame?.url()).toMatch(/^chrome-error:/);
    expect(await frame?.content()).not.toContain('Connected accounts');
    await framed.close();

    // The accounts page, in the same browser, shows the grant with a disconnect button.
    await page.goto(`${demo.gatewayUrl}/accounts`, { waitUntil: 'domcontentloaded' });
    expect(await page.getByRole('table').textContent()).toContain('notes:read');
    expect(await page.getByRole('button', { name: 'Disconnect notes' }).isVisible()).toBe(true);
    await context.close();

    const second = (await client.callTool({ name: 'list_notes', arguments: {} })) as CallToolResult;
    expect(second.isError).toBeFalsy();
    expect(second.structuredContent).toMatchObject({ notes: [] });
  });
});
