// `keyward demo` (what `npm start` runs): generate a demo key once, start everything, say how to connect.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateEncryptionKey } from '../broker/crypto.js';
import { loadConfig } from '../config/load.js';
import { SecretRef } from '../config/schema.js';
import { startDemo } from '../demo/run.js';
import { createLogger } from '../log.js';
import { applyOverrides } from './serve.js';
import { listenFailure, portBusy, portInUse } from './startup.js';
import { httpExtras } from './wiring.js';

/**
 * The demo's key lives in a file under .keyward/ next to the config, made on first run and only
 * there; a config that names an env var or another place is left alone.
 */
function ensureDemoKey(configPath: string, rawEncryptionKey: unknown): void {
  const ref = SecretRef.safeParse(rawEncryptionKey);
  if (!ref.success || !('file' in ref.data)) return;
  const keyPath = path.resolve(path.dirname(configPath), ref.data.file);
  if (!keyPath.split(path.sep).includes('.keyward') || existsSync(keyPath)) return;
  mkdirSync(path.dirname(keyPath), { recursive: true, mode: 0o700 });
  writeFileSync(keyPath, `${generateEncryptionKey()}\n`, { mode: 0o600, flag: 'wx' });
}

/** A path as a shell word: quoted only when it needs to be, so the printed commands paste as they are. */
function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export async function runDemo(opts: { config: string }): Promise<void> {
  const configPath = path.resolve(opts.config);
  try {
    const raw = JSON.parse(await readFile(configPath, 'utf8')) as { encryptionKey?: unknown };
    ensureDemoKey(configPath, raw.encryptionKey);
  } catch {
    // loadConfig below reports a missing or malformed file with its path.
  }
  const config = applyOverrides(await loadConfig(configPath), { transport: 'http' });
  const logger = createLogger();
  const demo = await startDemo(config, { logger, httpExtras }).catch(async (err: unknown) => {
    const { host, port } = config.server;
    if (!listenFailure(err) && (await portInUse(host, port))) throw portBusy(host, port, 'the gateway, server.port');
    throw err;
  });

  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
  const provider = Object.keys(config.providers)[0] ?? 'notes';
  const desktop = {
    mcpServers: { keyward: { command: process.execPath, args: [cli, 'serve', '--config', configPath] } },
  };
  const user = config.server.user;
  const serveArgs = `${quoteArg(process.execPath)} ${quoteArg(cli)} serve --config ${quoteArg(configPath)}`;
  console.log(`
Keyward demo is running.

  Demo authorization server  ${demo.authServer.issuer}   (sign in as any name; for stdio clients, as "${user}")
  Demo notes API             ${demo.api.url}
  Gateway (Streamable HTTP)  ${demo.http.url}/mcp
  Connected accounts         ${config.server.publicUrl}/accounts
  Grant access to notes      ${config.server.publicUrl}/connect/${provider}

Claude Desktop: add this to claude_desktop_config.json (stdio; keep this demo running):

${JSON.stringify(desktop, null, 2)}

Over stdio Keyward acts for "${user}" (server.user, else KEYWARD_USER, else your OS user name), so sign in
at the demo authorization server as "${user}": a grant signed in as anyone else is refused.

MCP Inspector (it needs Node 22.19 or newer), stdio:

  npx @modelcontextprotocol/inspector -- ${serveArgs}

  or its CLI mode: npx @modelcontextprotocol/inspector --cli ${serveArgs} -- --method tools/list

Over HTTP, connect the Inspector (or any MCP client) to ${demo.http.url}/mcp with the "Streamable HTTP"
transport; it signs in at the demo authorization server as any name.

The first tool call answers reauth_required with a link: open it, sign in, allow, and call again.
Press Ctrl+C to stop.
`);
  const stop = () => {
    void demo.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
