// Start-up failures as one line that names the fix: a busy or bad port, a missing key, an unreachable issuer.
import net from 'node:net';
import { ConfigError, ToolDefinitionError } from '../errors.js';

/** A failure the person starting keyward can fix; `message` is the whole line, fix included. */
export class StartupError extends Error {
  override readonly name = 'StartupError';
  constructor(
    message: string,
    readonly exitCode = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** commander's parser for --port: a whole number up to 65535 (0 lets the system pick), or an error that says so. */
export function portOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new StartupError(
      `--port ${value} is not a port: give a whole number from 1 to 65535 (or 0 for any free port)`,
      2,
    );
  }
  return n;
}

/**
 * Whether something already listens on host:port. Asked only after a listen failed, so that a busy port is named as
 * such whatever shape the listener's own error took.
 */
export async function portInUse(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE'));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(false)));
  });
}

export function portBusy(host: string, port: number, what: string): StartupError {
  return new StartupError(
    `port ${port} on ${host} is already in use (${what}): stop what runs there (another \`keyward demo\` or \`keyward serve\`?) or choose another port with --port`,
  );
}

/** A listen error from Node (EADDRINUSE, EACCES) as a start-up error, or undefined for anything else. */
export function listenFailure(err: unknown): StartupError | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.code === 'EADDRINUSE' && e.port !== undefined) return portBusy(e.address ?? '127.0.0.1', e.port, 'needed');
  if (e?.code === 'EACCES' && e.port !== undefined) {
    return new StartupError(`port ${e.port} needs privileges to listen on: choose a port above 1023 with --port`);
  }
  return undefined;
}

/** What to do about a config problem that a newcomer meets first. */
function hintFor(problem: string): string | undefined {
  if (/^encryptionKey: .*(not found|is not set|is empty)/.test(problem)) {
    return 'run `npm start` once (it makes the demo key in .keyward/), or put a key from `keyward keygen` there';
  }
  return undefined;
}

/**
 * The lines to print for an error that stops start-up, and the exit code. A config or tool error with one problem is
 * one line; several problems keep one line each under the file's name.
 */
export function describeStartupFailure(err: unknown): { lines: string[]; exitCode: number } {
  if (err instanceof StartupError) return { lines: [`keyward: ${err.message}`], exitCode: err.exitCode };
  const listen = listenFailure(err);
  if (listen) return { lines: [`keyward: ${listen.message}`], exitCode: listen.exitCode };
  if (err instanceof ConfigError || err instanceof ToolDefinitionError) {
    const head = err.message.split('\n')[0] ?? '';
    const problems = err.problems.map((p) => {
      const hint = hintFor(p);
      return hint ? `${p}: ${hint}` : p;
    });
    if (problems.length === 1) return { lines: [`${head} ${problems[0]}`], exitCode: 2 };
    return { lines: [head, ...problems.map((p) => `  - ${p}`)], exitCode: 2 };
  }
  return { lines: [`keyward: ${err instanceof Error ? err.message : String(err)}`], exitCode: 1 };
}
