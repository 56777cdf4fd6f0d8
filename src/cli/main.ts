#!/usr/bin/env node
// The `keyward` command line: serve, demo, check, connect, grants, revoke, audit, keygen, jwks, rotate-key.
import { Command, Option } from 'commander';
import { VERSION } from '../version.js';
import { describeStartupFailure, portOption } from './startup.js';

// Each command loads its own modules: `serve` over stdio should not pay for the demo server or HTTP.
const program = new Command();

// `keyward check | head -2`: a reader that stops early is not a failure of the command. (Not for serve, whose stdout
// belongs to JSON-RPC and its transport.)
if (!['serve', 'demo'].includes(process.argv[2] ?? '')) {
  // The command still runs to the end, so its exit code still says whether everything was fine.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  });
}

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
  .option(
    '-p, --port <port>',
    'override server.port (HTTP); server.publicUrl follows it when it is the default',
    portOption,
  )
  .action(async (opts) => (await import('./serve.js')).runServe(opts));

program
  .command('demo')
  .description('run the embedded demo: a demo authorization server, a demo notes API and the gateway')
  .addOption(configOption())
  .action(async (opts) => (await import('./demo.js')).runDemo(opts));

program
  .command('check')
  .description(
    "check what a tool call touches: the config, the tools, the store, the identity issuer, each provider's metadata and API",
  )
  .addOption(configOption())
  .action(async (opts) => (await import('./check.js')).runCheck(opts));

const positiveInt = (v: string) => {
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < 1) throw new Error(`not a positive number: ${v}`);
  return n;
};

program
  .command('connect')
  .description('grant the gateway access to a provider: opens a browser (loopback callback) or uses the device grant')
  .argument('<provider>', 'a provider name from the config')
  .addOption(configOption())
  .option('-u, --user <user>', 'whose grant (default: server.user, KEYWARD_USER, or the OS user)')
  .option('--device', 'use the device authorization grant (RFC 8628): enter a code on any device')
  .option('--no-open', 'print the URL without opening a browser')
  .option('--timeout <seconds>', 'how long to wait for the user', positiveInt, 600)
  .action(async (provider: string, opts) => {
    process.exitCode = await (await import('./connect.js')).runConnect(provider, opts);
  });

program
  .command('grants')
  .description('list stored grants: provider, user, status, scopes, consent and expiry, last use (never a secret)')
  .addOption(configOption())
  .option('-u, --user <user>', "only this user's grants (default: every user)")
  .option('--json', 'print JSON')
  .action(async (opts) => {
    process.exitCode = await (await import('./grants.js')).runGrants(opts);
  });

program
  .command('revoke')
  .description("revoke a user's grant at the provider (RFC 7009 where it has one) and mark it revoked")
  .argument('<provider>', 'a provider name from the config')
  .addOption(configOption())
  .option('-u, --user <user>', 'whose grant (default: server.user, KEYWARD_USER, or the OS user)')
  .option('--tenant <tenant>', 'the tenant of the grant, where grants are per tenant')
  .action(async (provider: string, opts) => {
    process.exitCode = await (await import('./revoke.js')).runRevoke(provider, opts);
  });

program
  .command('audit')
  .description('print the latest audit records from the jsonl audit log; `audit verify` checks its hash chains')
  .argument('[action]', '"verify": check that no record was edited, deleted or reordered')
  .addOption(configOption())
  .option('-n, --tail <n>', 'how many records', positiveInt, 20)
  .option('-u, --user <user>', "only this user's records")
  .option('--tool <tool>', 'only calls of this tool')
  .option('--grant <id>', 'only calls made with this grant')
  .option('--call <id>', 'only this call')
  .option('--since <when>', 'only records since an ISO time or a duration back from now (90m, 24h, 7d)')
  .option('--json', 'print the records as JSON lines')
  .action(async (action: string | undefined, opts) => {
    if (action === undefined) {
      process.exitCode = await (await import('./audit.js')).runAudit(opts);
    } else if (action === 'verify') {
      process.exitCode = await (await import('./auditVerify.js')).runAuditVerify(opts);
    } else {
      process.stderr.write(`keyward audit: unknown action "${action}" (the one action is "verify")\n`);
      process.exitCode = 2;
    }
  });

program
  .command('keygen')
  .description('print a new 32-byte encryption key (base64url)')
  .action(async () => (await import('./keys.js')).runKeygen());

program
  .command('jwks')
  .description("print the JWKS that APIs use to verify the gateway's minted credentials")
  .addOption(configOption())
  .action(async (opts) => (await import('./keys.js')).runJwks(opts));

program
  .command('rotate-key')
  .description('re-encrypt every stored secret with the current encryptionKey (old keys in previousEncryptionKeys)')
  .addOption(configOption())
  .action(async (opts) => (await import('./keys.js')).runRotateKey(opts));

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const { lines, exitCode } = describeStartupFailure(err);
  for (const line of lines) console.error(line);
  process.exit(exitCode);
}
