#!/usr/bin/env node
// The `keyward` command line: serve, demo, check, keygen, jwks, rotate-key.
import { Command, Option } from 'commander';
import { ConfigError, ToolDefinitionError } from '../errors.js';
import { VERSION } from '../gateway/gateway.js';
import { runCheck } from './check.js';
import { runDemo } from './demo.js';
import { runJwks, runKeygen, runRotateKey } from './keys.js';
import { runServe } from './serve.js';

const program = new Command();

const configOption = () =>
  new Option('-c, --config <path>', 'path to mcp.config.json').env('KEYWARD_CONFIG').default('mcp.config.json');

program
  .name('keyward')
  .description('An authorization-aware MCP tool gateway: agents get tools, never keys.')
  .version(VERSION)
  .showHelpAfterError();

program
  .command('serve')
  .description('run the gateway as an MCP server (stdio, or Streamable HTTP at /mcp)')
  .addOption(configOption())
  .addOption(new Option('-t, --transport <transport>', 'override server.transport').choices(['stdio', 'http']))
  .option('-p, --port <port>', 'override server.port (HTTP)', (v) => Number.parseInt(v, 10))
  .action(async (opts) => runServe(opts));

program
  .command('demo')
  .description('run the embedded demo: a demo authorization server, a demo notes API and the gateway')
  .addOption(configOption())
  .action(async (opts) => runDemo(opts));

program
  .command('check')
  .description("validate the config, load the tools and reach each provider's metadata")
  .addOption(configOption())
  .action(async (opts) => runCheck(opts));

program.command('keygen').description('print a new 32-byte encryption key (base64url)').action(() => runKeygen());

program
  .command('jwks')
  .description("print the JWKS that APIs use to verify the gateway's minted credentials")
  .addOption(configOption())
  .action(async (opts) => runJwks(opts));

program
  .command('rotate-key')
  .description('re-encrypt every stored secret with the current encryptionKey (old keys in previousEncryptionKeys)')
  .addOption(configOption())
  .action(async (opts) => runRotateKey(opts));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError || err instanceof ToolDefinitionError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(`keyward: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
