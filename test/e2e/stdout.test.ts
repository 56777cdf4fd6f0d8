// In stdio mode stdout belongs to JSON-RPC: every byte the built gateway writes there is a JSON-RPC message.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, childEnv, type Stack, startStack } from '../helpers/stack.js';

describe('stdout in stdio mode', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('carries only JSON-RPC, while logs go to stderr as JSON', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--config', stack.configPath], {
      env: childEnv(stack, { KEYWARD_LOG_LEVEL: 'debug' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const send = (msg: object) => child.stdin.write(`${JSON.stringify(msg)}\n`);
    const waitFor = async (id: number) => {
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        if (stdout.split('\n').some((l) => l.includes(`"id":${id}`))) return;
        if (child.exitCode !== null) throw new Error(`exited: ${stderr}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no answer to ${id}: ${stderr}`);
    };

    send({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '0' } },
    });
    await waitFor(1);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    send({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    await waitFor(2);
    send({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'list_notes', arguments: {} } });
    await waitFor(3);
    send({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'create_note', arguments: { title: 7 } } });
    await waitFor(4);
    child.stdin.end();
    await new Promise((r) => child.once('exit', r));

    const lines = stdout.split('\n').filter((l) => l.length > 0);
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      const msg = JSON.parse(line) as Record<string, unknown>;
      expect(msg.jsonrpc).toBe('2.0');
      expect('result' in msg || 'error' in msg || 'method' in msg).toBe(true);
    }
    // The gateway did log something, and all of it is JSON on stderr.
    const logLines = stderr.split('\n').filter((l) => l.length > 0);
    expect(logLines.length).toBeGreaterThan(0);
    for (const line of logLines) expect(() => JSON.parse(line)).not.toThrow();
  });
});
