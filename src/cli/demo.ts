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
  const demo = await startDemo(config, { logger, httpExtras });

  const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');
  const provider = Object.keys(config.providers)[0] ?? 'notes';
  const desktop = {
    mcpServers: { keyward: { command: process.execPath, args: [cli, 'serve', '--config', configPath] } },
  };
  console.log(`
Keyward demo is running.

  Demo authorization server  ${demo.authServer.issuer}   (log in as any name, e.g. "demo")
  Demo notes API             ${demo.api.url}
  Gateway (Streamable HTTP)  ${demo.http.url}/mcp
  Connected accounts         ${config.server.publicUrl}/accounts
  Grant access to notes      ${config.server.publicUrl}/connect/${provider}

Claude Desktop: add this to claude_desktop_config.json (stdio; keep this demo running):

${JSON.stringify(desktop, null, 2)}

MCP Inspector (stdio):

  npx @modelcontextprotocol/inspector ${process.execPath} ${cli} serve --config ${configPath}

or connect the Inspector (or any MCP client) to ${demo.http.url}/mcp with the "Streamable HTTP" transport.

The first tool call answers reauth_required with a link: open it, log in, consent, and call again.
Press Ctrl+C to stop.
`);
  const stop = () => {
    void demo.close().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
