// Puts a demo server on a loopback port, and closes it without waiting for keep-alive clients to leave.
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  /** The port actually bound (the one asked for, or a free one for 0). */
  port: number;
  /** `http://host:port`, without a trailing slash. */
  url: string;
  close(): Promise<void>;
}

/** Listens on `host:port` (0 picks a free port); a port already taken rejects instead of throwing later. */
export async function listenOnLoopback(server: http.Server, host: string, port = 0): Promise<Listening> {
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
