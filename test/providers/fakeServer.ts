// A loopback HTTP server whose handler each test writes: a fake token endpoint or API.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  form: URLSearchParams;
  body: string;
}

export type FakeHandler = (req: SeenRequest, res: ServerResponse) => void | Promise<void>;

export async function startFakeServer(handler: FakeHandler) {
  const seen: SeenRequest[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const r: SeenRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      form: new URLSearchParams(req.headers['content-type']?.includes('form') ? body : ''),
      body,
    };
    seen.push(r);
    try {
      await handler(r, res);
    } catch {
      res.statusCode = 500;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export function form(res: ServerResponse, status: number, body: Record<string, string | undefined>) {
  res.writeHead(status, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
  res.end(
    new URLSearchParams(Object.entries(body).filter((e): e is [string, string] => e[1] !== undefined)).toString(),
  );
}
