// Downstream sending against a real loopback server: a body that trickles or breaks is a timeout or network error.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendDownstream } from '../../src/downstream/send.js';
import { DownstreamError } from '../../src/errors.js';

let server: http.Server;
let base: string;
const timers = new Set<NodeJS.Timeout>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"items":[');
    if (req.url === '/trickle') {
      // One byte every 50 ms, for far longer than the deadline.
      const t = setInterval(() => res.write(' '), 50);
      timers.add(t);
      res.on('close', () => clearInterval(t));
    } else if (req.url === '/cut') {
      setTimeout(() => req.socket.destroy(), 20);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  for (const t of timers) clearInterval(t);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function failure(path: string, timeoutMs: number): Promise<DownstreamError> {
  const err = await sendDownstream(
    { url: new URL(path, base), method: 'GET', headers: {} },
    { authorization: 'Bearer canary-not-a-token', timeoutMs, maxResponseBytes: 1 << 20 },
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DownstreamError);
  return err as DownstreamError;
}

describe('sendDownstream: a response body that does not arrive whole', () => {
  it('a body trickling past the deadline is a retryable timeout', async () => {
    const err = await failure('/trickle', 250);
    expect(err.toPayload()).toMatchObject({ code: 'downstream_error', reason: 'timeout', retryable: true });
  });

  it('a connection cut mid-body is a retryable network error', async () => {
    // A deadline far beyond the cut, so a busy machine cannot turn it into a timeout.
    const err = await failure('/cut', 10_000);
    expect(err.toPayload()).toMatchObject({ code: 'downstream_error', reason: 'network', retryable: true });
  });
});
