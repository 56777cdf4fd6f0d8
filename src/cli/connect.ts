// `keyward connect <provider>`: grant access from a terminal, through a loopback callback or the device grant.
import { spawn } from 'node:child_process';
import { loadConfig } from '../config/load.js';
import { createGateway } from '../gateway/gateway.js';
import { createLogger } from '../log.js';
import { onboardingDeps } from '../onboarding/deps.js';
import { connectWithDevice, DeviceFlowError, supportsDeviceFlow } from '../onboarding/device.js';
import { createLoopbackLinks } from '../onboarding/loopback.js';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  env: Record<string, string | undefined>;
  /** Opens a URL in the user's browser; absent where there is none. */
  openUrl?(url: string): void;
}

/** A desktop session that can show a browser: a display on Linux, always on macOS and Windows. */
export function browserOpener(env: Record<string, string | undefined>): ((url: string) => void) | undefined {
  const launch = (command: string, args: string[]) => (url: string) => {
    try {
      const child = spawn(command, [...args, url], { detached: true, stdio: 'ignore' });
      child.on('error', () => {});
      child.unref();
    } catch {
      // Printing the URL is enough; opening it is a convenience.
    }
  };
  if (process.platform === 'darwin') return launch('open', []);
  if (process.platform === 'win32') return launch('cmd', ['/c', 'start', '""']);
  if (env.DISPLAY || env.WAYLAND_DISPLAY) return launch('xdg-open', []);
  return undefined;
}

export const defaultIo = (): CliIo => {
  const opener = browserOpener(process.env);
  return {
    out: (line) => console.log(line),
    err: (line) => console.error(line),
    env: process.env,
    ...(opener ? { openUrl: opener } : {}),
  };
};

export interface ConnectCommandOptions {
  config: string;
  user?: string;
  /** Use the device authorization grant (RFC 8628). */
  device?: boolean;
  /** commander's --no-open sets this to false. */
  open?: boolean;
  /** Seconds to wait for the user. */
  timeout?: number;
}

export async function runConnect(
  provider: string,
  opts: ConnectCommandOptions,
  io: CliIo = defaultIo(),
): Promise<number> {
  const config = await loadConfig(opts.config);
  if (!Object.hasOwn(config.providers, provider)) {
    const known = Object.keys(config.providers);
    io.err(
      `keyward: no provider "${provider}" in ${config.configPath}${known.length ? ` (configured: ${known.join(', ')})` : ''}`,
    );
    return 2;
  }
  const user = opts.user ?? config.server.user;
  const logger = createLogger({ level: io.env.KEYWARD_LOG_LEVEL ?? 'warn' });
  const gateway = await createGateway(config, { logger });
  const deps = onboardingDeps(gateway);
  const signal = AbortSignal.timeout((opts.timeout ?? 600) * 1000);
  const opener = opts.open === false ? undefined : io.openUrl;
  try {
    // No browser here (a server, an SSH session): a code typed on any other device is the way in.
    const device = opts.device || (!io.openUrl && (await supportsDeviceFlow(deps, provider)));
    if (device) {
      const grant = await connectWithDevice(deps, {
        provider,
        user,
        client: 'keyward-cli',
        signal,
        onPrompt: (p) => {
          io.out(`To grant ${provider} access for ${user}, open ${p.verificationUri} and enter the code ${p.userCode}`);
          if (p.verificationUriComplete) io.out(`(or open ${p.verificationUriComplete})`);
          io.out(`The code works for ${Math.round(p.expiresInSeconds / 60)} minutes. Waiting…`);
        },
      });
      io.out(`Connected ${provider} for ${user}: ${grant.scopes.join(' ')}`);
      return 0;
    }

    const links = createLoopbackLinks(deps, { linkTtlMs: (opts.timeout ?? 600) * 1000 });
    try {
      const { url, linkId } = await links.issue({ provider, user, client: 'keyward-cli' });
      const done = links.waitFor(linkId, signal);
      io.out(`To grant ${provider} access for ${user}, open this URL in a browser on this computer:`);
      io.out(`  ${url}`);
      opener?.(url);
      io.out('Waiting for you to finish in the browser…');
      const result = await done;
      if (!result.ok) {
        io.err(`keyward: ${provider} was not connected (${result.reason})`);
        return 1;
      }
      io.out(`Connected ${provider} for ${user}: ${result.grant?.scopes.join(' ') ?? ''}`);
      return 0;
    } finally {
      await links.close();
    }
  } catch (err) {
    if (signal.aborted) {
      io.err(`keyward: gave up waiting after ${opts.timeout ?? 600} s; nothing was stored`);
      return 1;
    }
    if (err instanceof DeviceFlowError) {
      io.err(`keyward: ${provider} was not connected: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await gateway.close();
  }
}
