// Spawns the built gateway over HTTP and waits until /healthz answers.
import { type ChildProcess, spawn } from 'node:child_process';
import { collect } from './canary.js';
import { CLI, childEnv, type Stack } from './stack.js';

async function waitForHealth(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`gateway exited early: ${output()}`);
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gateway did not become healthy: ${output()}`);
}

export async function spawnHttpGateway(
  stack: Stack,
  extraArgs: string[] = [],
): Promise<{ child: ChildProcess; stderr: () => string; stop: () => Promise<void> }> {
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--config', stack.configPath, '--transport', 'http', ...extraArgs],
    {
      env: childEnv(stack),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await waitForHealth(stack.gatewayUrl, child, () => out);
  return {
    child,
    stderr: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      collect('gateway process output', out);
    },
  };
}
