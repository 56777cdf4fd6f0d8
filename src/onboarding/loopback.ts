// stdio and CLI onboarding: a loopback listener started on demand, serving one flow per link, stopped when idle.
//
// The provider sends the browser back to `http://127.0.0.1:<port>/callback/<provider>`. A native
// client may register a loopback redirect URI once and use any port (RFC 8252 s.7.3), which is
// what lets this listener take a free port each time it starts.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import express from 'express';
import type { Clock } from '../clock.js';
import { memoiseUnlessRejected } from '../memo.js';
import type { OnboardingDeps } from './deps.js';
import { connectUrl, issueLink } from './links.js';
import { createOnboardingRouter, type FlowDone, type OnboardingRouterOptions } from './router.js';
import type { AuthorizeLinkRequest, AuthorizeLinks } from './types.js';

export interface LoopbackLinksOptions {
  /** Stop after this long without a request or a new link, once no link is outstanding. Default 5 min. */
  idleMs?: number;
  /** How long a link works. Default 10 min. */
  linkTtlMs?: number;
  /** How often the idle check runs. Default 30 s. */
  checkEveryMs?: number;
  clock?: Clock;
  /** Passed to the router (tests: the subject check). */
  router?: Pick<OnboardingRouterOptions, 'subjectMustMatch' | 'localUser'>;
}

export interface LoopbackLinks extends AuthorizeLinks {
  /** A link and its id, so a caller can wait for that flow. */
  issue(req: AuthorizeLinkRequest): Promise<{ url: string; linkId: string }>;
  /** Resolves when the callback for this link finishes, well or not. */
  waitFor(linkId: string, signal?: AbortSignal): Promise<FlowDone>;
  /** The listener's origin while it runs. */
  origin(): string | undefined;
  /** Stops the listener if it is idle; returns whether it is now stopped. (The timer calls it.) */
  checkIdle(): Promise<boolean>;
}

interface Listener {
  origin: string;
  server: http.Server;
  sockets: Set<Socket>;
}

export function createLoopbackLinks(deps: OnboardingDeps, opts: LoopbackLinksOptions = {}): LoopbackLinks {
  const clock = opts.clock ?? deps.clock;
  const idleMs = opts.idleMs ?? 5 * 60_000;
  const linkTtlMs = opts.linkTtlMs ?? 10 * 60_000;
  let listener: Promise<Listener> | undefined;
  let lastActivity = clock.now();
  /** Links this process issued and that are not finished: link id -> expiry. */
  const outstanding = new Map<string, number>();
  const waiters = new Map<string, Array<(done: FlowDone) => void>>();
  let timer: NodeJS.Timeout | undefined;
  let currentOrigin: string | undefined;

  const onFlowDone = (done: FlowDone) => {
    lastActivity = clock.now();
    if (!done.linkId) return;
    // A refused callback (access denied, another user) ends the flow for whoever waits on it,
    // but the link stays usable until it expires so the user can try again.
    if (done.ok) outstanding.delete(done.linkId);
    for (const resolve of waiters.get(done.linkId) ?? []) resolve(done);
    waiters.delete(done.linkId);
  };

  async function start(): Promise<Listener> {
    let origin = '';
    let app: express.Express | undefined;
    const server = http.createServer((req, res) => {
      if (!app) {
        res.statusCode = 503;
        res.end();
        return;
      }
      app(req, res);
    });
    const sockets = new Set<Socket>();
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    origin = `http://127.0.0.1:${port}`;
    const allowedHosts = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
    const a = express();
    a.disable('x-powered-by');
    a.set('trust proxy', false);
    // DNS rebinding: a page on another name that resolves to 127.0.0.1 gets nothing.
    a.use((req, res, next) => {
      if (!allowedHosts.has(String(req.headers.host).toLowerCase())) {
        res.status(403).end();
        return;
      }
      next();
    });
    a.use(
      createOnboardingRouter(deps, {
        ...opts.router,
        publicUrl: origin,
        mode: 'local',
        accounts: false,
        requireLink: true,
        onFlowDone,
        onRequest: () => {
          lastActivity = clock.now();
        },
      }),
    );
    a.use((_req, res) => {
      res.status(404).set({ 'Content-Type': 'text/plain; charset=utf-8', 'X-Frame-Options': 'DENY' }).send('Not found');
    });
    app = a;
    currentOrigin = origin;
    timer ??= setInterval(() => void checkIdle(), opts.checkEveryMs ?? 30_000);
    timer.unref();
    deps.logger.info({ url: origin }, 'onboarding listener started');
    return { origin, server, sockets };
  }

  // A listener that failed to start is forgotten, so the next link tries again.
  const starting = memoiseUnlessRejected(start);
  function ensure(): Promise<Listener> {
    listener = starting.get();
    return listener;
  }

  async function stop(): Promise<void> {
    const current = listener;
    listener = undefined;
    starting.reset();
    currentOrigin = undefined;
    if (timer) {
      clearInterval(timer);
      timer = undefined;
    }
    if (!current) return;
    const l = await current.catch(() => undefined);
    if (!l) return;
    await new Promise<void>((resolve) => {
      l.server.close(() => resolve());
      for (const s of l.sockets) s.destroy();
    });
    deps.logger.info({ url: l.origin }, 'onboarding listener stopped');
  }

  async function checkIdle(): Promise<boolean> {
    if (!listener) return true;
    const now = clock.now();
    for (const [id, expiresAt] of outstanding) if (expiresAt <= now) outstanding.delete(id);
    if (outstanding.size > 0 || now - lastActivity < idleMs) return false;
    await stop();
    return true;
  }

  async function issue(req: AuthorizeLinkRequest): Promise<{ url: string; linkId: string }> {
    const l = await ensure();
    const { id, link } = await issueLink({ records: deps.records, clock }, req, linkTtlMs);
    outstanding.set(id, link.expiresAt);
    lastActivity = clock.now();
    return { url: connectUrl(l.origin, req.provider, id), linkId: id };
  }

  return {
    issue,
    async authorizeUrl(req) {
      return (await issue(req)).url;
    },
    waitFor(linkId, signal) {
      return new Promise<FlowDone>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        const list = waiters.get(linkId) ?? [];
        list.push(resolve);
        waiters.set(linkId, list);
        signal?.addEventListener(
          'abort',
          () => {
            waiters.set(
              linkId,
              (waiters.get(linkId) ?? []).filter((r) => r !== resolve),
            );
            reject(signal.reason);
          },
          { once: true },
        );
      });
    },
    origin: () => currentOrigin,
    checkIdle,
    close: stop,
  };
}
