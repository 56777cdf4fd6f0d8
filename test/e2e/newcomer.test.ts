// The newcomer's path on the built CLI: `keyward demo`, then what its banner prints (the Claude Desktop snippet, the
// HTTP URL, the Inspector's CLI command) against it, and in Chromium a wrong-user sign-in, a switch, a working call.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { CLI, ROOT } from '../helpers/stack.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const INSPECTOR = path.join(ROOT, 'node_modules/@modelcontextprotocol/inspector/package.json');
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const inspectorInstalled = existsSync(INSPECTOR);
// The Inspector (2.x) needs Node 22.19 or newer; this project supports Node 20, so an older Node only skips.
const nodeRunsInspector = major > 22 || (major === 22 && minor >= 19);
const inspectorRuns = inspectorInstalled && nodeRunsInspector;

function loudSkip(what: string, why: string, failUnderCi = true): void {
  if (failUnderCi && process.env.CI === 'true') throw new Error(`${what} cannot be skipped under CI: ${why}`);
  console.warn(`\n!!! SKIPPING ${what}: ${why} !!!\n`);
}
if (!haveChromium) loudSkip('the newcomer browser walk', `${CHROMIUM} is missing (install Debian's "chromium")`);
// The Inspector cannot run on an older Node at all, installed or not: that is a skip, not a CI failure.
if (!nodeRunsInspector) {
  loudSkip(
    'the MCP Inspector CLI commands',
    `Node ${process.versions.node} is older than 22.19, which the Inspector needs`,
    false,
  );
} else if (!inspectorInstalled) {
  loudSkip(
    'the MCP Inspector CLI commands',
    '@modelcontextprotocol/inspector is not in node_modules (a devDependency)',
  );
}

const USER = 'alice';

interface Demo {
  dir: string;
  banner: string;
  gatewayUrl: string;
  issuer: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `keyward demo` as a newcomer runs it, in its own folder and ports; KEYWARD_USER stands for the OS user. */
async function startDemo(): Promise<Demo> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyward-newcomer-'));
  const [gatewayPort, asPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const issuer = `http://127.0.0.1:${asPort}`;
  const config = {
    server: { name: 'keyward-newcomer', transport: 'stdio', port: gatewayPort, publicUrl: gatewayUrl },
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
  writeFileSync(path.join(dir, 'mcp.config.json'), JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [CLI, 'demo', '--config', path.join(dir, 'mcp.config.json')], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', KEYWARD_USER: USER, KEYWARD_LOG_LEVEL: 'warn' },
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
  while (!out.includes('Press Ctrl+C to stop.')) {
    if (child.exitCode !== null) throw new Error(`keyward demo exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`keyward demo did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    dir,
    banner: out,
    gatewayUrl,
    issuer,
    child,
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

/** The Claude Desktop snippet, exactly as the banner prints it. */
function desktopSnippet(banner: string): { command: string; args: string[] } {
  const start = banner.indexOf('{\n  "mcpServers"');
  const end = banner.indexOf('\n}\n', start);
  const parsed = JSON.parse(banner.slice(start, end + 2)) as {
    mcpServers: { keyward: { command: string; args: string[] } };
  };
  return parsed.mcpServers.keyward;
}

/** A printed command line as words (the banner quotes only paths that need it, with single quotes). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

async function callTool(client: Client, name: string): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: {} })) as CallToolResult;
}

function linkOf(result: CallToolResult): string {
  const error = (result.structuredContent as { error: { code: string; authorizeUrl: string } }).error;
  expect(error.code).toBe('reauth_required');
  return error.authorizeUrl;
}

describe('the newcomer path', () => {
  let demo: Demo;
  let stdio: Client;
  let browser: Browser;

  beforeAll(async () => {
    if (haveChromium) {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run'],
      });
    }
    demo = await startDemo();
    const snippet = desktopSnippet(demo.banner);
    stdio = new Client({ name: 'claude-desktop-like', version: '1.0.0' });
    await stdio.connect(
      new StdioClientTransport({
        command: snippet.command,
        args: snippet.args,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', KEYWARD_USER: USER },
        stderr: 'ignore',
      }),
    );
  });
  afterAll(async () => {
    await stdio?.close();
    await browser?.close();
    await demo?.stop();
  });

  it('the banner names the stdio user and prints commands that paste', () => {
    expect(demo.banner).toContain(`for stdio clients, as "${USER}"`);
    expect(demo.banner).toMatch(/npx @modelcontextprotocol\/inspector -- \S+ \S+main\.js serve --config \S+/);
    expect(demo.banner).toMatch(
      /npx @modelcontextprotocol\/inspector --cli \S+ \S+main\.js serve --config \S+ -- --method tools\/list/,
    );
  });

  it('the HTTP URL serves MCP, and the banner links answer', async () => {
    const url = /Gateway \(Streamable HTTP\)\s+(\S+)/.exec(demo.banner)?.[1];
    expect(url).toBe(`${demo.gatewayUrl}/mcp`);
    const http = new Client({ name: 'http-client', version: '1.0.0' });
    await http.connect(new StreamableHTTPClientTransport(new URL(url!)));
    expect((await http.listTools()).tools.map((t) => t.name)).toContain('list_notes');
    await http.close();
    for (const label of ['Demo authorization server', 'Demo notes API', 'Connected accounts']) {
      const link = new RegExp(`${label}\\s+(\\S+)`).exec(demo.banner)?.[1];
      expect((await fetch(link!, { redirect: 'manual' })).status, label).toBeLessThan(400);
    }
  });

  it.skipIf(!inspectorRuns)(
    'the Inspector CLI command from the banner lists the tools over stdio and HTTP',
    async () => {
      const line = /npx (@modelcontextprotocol\/inspector --cli .+)$/m.exec(demo.banner)?.[1];
      const bin = path.join(ROOT, 'node_modules/.bin/mcp-inspector');
      const run = (args: string[]) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(bin, args, {
            env: { PATH: process.env.PATH ?? '', HOME: demo.dir, KEYWARD_USER: USER },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
          });
          child.once('exit', (code) => resolve({ code, out }));
        });
      const stdioRun = await run(words(line!).slice(1));
      expect(stdioRun.code).toBe(0);
      expect(stdioRun.out).toContain('list_notes');
      const httpRun = await run(['--cli', `${demo.gatewayUrl}/mcp`, '--method', 'tools/list']);
      expect(httpRun.code).toBe(0);
      expect(httpRun.out).toContain('list_notes');
    },
  );

  describe.skipIf(!haveChromium)('in Chromium', () => {
    async function submitAndLand(page: Page, selector: string, landed: (u: URL) => boolean): Promise<void> {
      await Promise.all([page.waitForURL(landed, { waitUntil: 'domcontentloaded' }), page.click(selector)]);
    }

    it('a wrong-user sign-in is refused with a way out; switching to the right user ends in a working call', async () => {
      const context = await browser.newContext();
      await context.route('**/*', (route) =>
        new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort(),
      );
      const page = await context.newPage();
      const isCallback = (u: URL) => u.origin !== demo.issuer && u.pathname === '/callback/notes';

      // The sign-in page says whom the grant is for; the newcomer types the name the old banner suggested.
      await page.goto(linkOf(await callTool(stdio, 'list_notes')), { waitUntil: 'domcontentloaded' });
      expect(new URL(page.url()).origin).toBe(demo.issuer);
      expect(await page.locator('[role="note"]').textContent()).toContain(`This grant is for ${USER}`);
      expect(await page.inputValue('input[name="login"]')).toBe(USER);
      await page.fill('input[name="login"]', 'demo');
      await submitAndLand(page, 'button[type="submit"]', (u) => u.pathname.startsWith('/interaction/'));
      expect(await page.locator('[role="alert"]').textContent()).toContain(
        `You are signed in as demo, but this grant is for ${USER}`,
      );
      await submitAndLand(page, 'button[type="submit"]', isCallback);
      expect(await page.locator('h1').textContent()).toBe('Signed in as a different user');
      expect(await page.content()).toContain('Sign in as someone else');
      expect((await callTool(stdio, 'list_notes')).isError).toBe(true);

      // A new link: the session at the demo AS is still "demo", and the page offers the switch.
      await page.goto(linkOf(await callTool(stdio, 'list_notes')), { waitUntil: 'domcontentloaded' });
      expect(await page.locator('[role="alert"]').textContent()).toContain(`this grant is for ${USER}`);
      await submitAndLand(page, `a:has-text("Sign in as ${USER}")`, (u) => u.pathname.endsWith('/switch'));
      expect(await page.inputValue('input[name="login"]')).toBe(USER);
      await Promise.all([
        page.waitForFunction(() => document.body.innerHTML.includes('name="prompt" value="consent"')),
        page.click('button[type="submit"]'),
      ]);
      expect(await page.locator('main').textContent()).toContain(`Signed in as ${USER}`);
      await submitAndLand(page, 'button[type="submit"]', isCallback);
      expect(await page.locator('h1').textContent()).toBe('Connected to notes');
      expect(await page.locator('[role="status"]').textContent()).toMatch(
        /if your agent gave you the link, ask it to retry; if you ran keyward connect, the terminal says it is done/,
      );
      await context.close();

      const listed = await callTool(stdio, 'list_notes');
      expect(listed.isError).toBeFalsy();
      expect(listed.structuredContent).toMatchObject({ notes: [] });
    });
  });
});
