// Stateful Streamable HTTP sessions (server.stateful): each bound to the user who opened it.
import { randomUUID } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Request, Response } from 'express';
import type { Clock } from '../clock.js';
import { attachCaller, type RequestAuth } from './auth.js';
import { rpcError } from './http.js';

interface Session {
  transport: StreamableHTTPServerTransport;
  mcp: McpServer;
  /** Who initialized it (tenant and user); every later request must be the same. */
  owner: string;
  lastSeen: number;
}

export interface SessionOptions {
  newServer: () => McpServer;
  clock: Clock;
  /** A session unused this long is closed. Default 30 minutes. */
  idleMs?: number;
  /** More live sessions than this and new ones are refused with 503. Default 1000. */
  maxSessions?: number;
  /**
   * One user's share: a user opening more than this closes their own least recently used session, so no
   * user can fill the table and lock everyone else out. Default 16.
   */
  maxSessionsPerUser?: number;
}

export interface SessionEndpoint {
  size(): number;
  /** `owner` names who is asking; `auth` is the verified caller, where inbound auth is on. */
  handle(req: Request, res: Response, owner: string, auth?: RequestAuth): Promise<void>;
  close(): Promise<void>;
}

export function createSessionEndpoint(opts: SessionOptions): SessionEndpoint {
  const sessions = new Map<string, Session>();
  const idleMs = opts.idleMs ?? 30 * 60_000;
  const maxSessions = opts.maxSessions ?? 1000;
  const maxPerUser = opts.maxSessionsPerUser ?? 16;

  function closeSession(id: string, s: Session): void {
    sessions.delete(id);
    void s.transport.close();
    void s.mcp.close();
  }

  /** Closes `owner`'s least recently used sessions until one more fits in their share. */
  function makeRoomFor(owner: string): void {
    const own = [...sessions].filter(([, s]) => s.owner === owner).sort(([, a], [, b]) => a.lastSeen - b.lastSeen);
    for (const [id, s] of own.slice(0, Math.max(0, own.length - maxPerUser + 1))) closeSession(id, s);
  }

  function sweep(now: number): void {
    for (const [id, s] of sessions) {
      if (now - s.lastSeen > idleMs) closeSession(id, s);
    }
  }

  return {
    size: () => sessions.size,
    async handle(req, res, owner, auth) {
      const now = opts.clock.now();
      attachCaller(req, auth);
      const id = req.header('mcp-session-id');
      if (id) {
        const session = sessions.get(id);
        // Another user's session answers exactly like an unknown one: its id reveals nothing.
        if (!session || session.owner !== owner) {
          rpcError(res, 404, -32001, 'Session not found');
          return;
        }
        session.lastSeen = now;
        await session.transport.handleRequest(req, res, req.body);
        return;
      }
      if (req.method !== 'POST' || !isInitializeRequest(req.body)) {
        rpcError(res, 400, -32000, 'Bad Request: no Mcp-Session-Id header; send initialize first');
        return;
      }
      sweep(now);
      makeRoomFor(owner);
      if (sessions.size >= maxSessions) {
        res.setHeader('Retry-After', '60');
        rpcError(res, 503, -32000, 'Too many open sessions; retry later');
        return;
      }
      const mcp = opts.newServer();
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => {
          sessions.set(sid, { transport, mcp, owner, lastSeen: now });
        },
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await mcp.connect(transport);
      await transport.handleRequest(req, res, req.body);
    },
    async close() {
      for (const s of sessions.values()) {
        await s.transport.close();
        await s.mcp.close();
      }
      sessions.clear();
    },
  };
}
