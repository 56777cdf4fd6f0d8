// Browser sessions for onboarding pages: who is at the browser, a CSRF token, and the cookie that names them.
import { timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';
import type { Clock } from '../clock.js';
import type { RecordStore } from '../records.js';
import { type CookiePolicy, cookiePolicy, readCookie, serializeCookie } from './cookies.js';
import { type BrowserSession, isRandomId, keys, randomId, readLive, SESSION_TTL_MS, writeLive } from './records.js';

export interface ActiveSession {
  id: string;
  session: BrowserSession;
}

export interface Sessions {
  policy: CookiePolicy;
  current(req: Request): Promise<ActiveSession | undefined>;
  create(res: Response, who: { user: string; tenant?: string; via: BrowserSession['via'] }): Promise<ActiveSession>;
  destroy(req: Request, res: Response): Promise<void>;
  /** The form's CSRF token is the session's (compared in constant time). */
  csrfValid(active: ActiveSession, token: unknown): boolean;
}

export function createSessions(
  deps: { records: RecordStore; clock: Clock },
  publicUrl: string,
  ttlMs = SESSION_TTL_MS,
): Sessions {
  const policy = cookiePolicy(publicUrl);
  const idFrom = (req: Request) => {
    const id = readCookie(req.headers.cookie, policy.name);
    return isRandomId(id) ? id : undefined;
  };
  return {
    policy,
    async current(req) {
      const id = idFrom(req);
      if (!id) return undefined;
      const session = await readLive<BrowserSession>(deps.records, keys.session(id), deps.clock);
      return session ? { id, session } : undefined;
    },
    async create(res, who) {
      const now = deps.clock.now();
      const session: BrowserSession = {
        user: who.user,
        ...(who.tenant ? { tenant: who.tenant } : {}),
        via: who.via,
        csrf: randomId(),
        createdAt: now,
        expiresAt: now + ttlMs,
      };
      const id = randomId();
      await writeLive(deps.records, keys.session(id), session, deps.clock);
      res.append('Set-Cookie', serializeCookie(policy, id, ttlMs / 1000));
      return { id, session };
    },
    async destroy(req, res) {
      const id = idFrom(req);
      if (id) await deps.records.delete(keys.session(id));
      res.append('Set-Cookie', serializeCookie(policy, '', 0));
    },
    csrfValid(active, token) {
      if (typeof token !== 'string') return false;
      const a = Buffer.from(active.session.csrf);
      const b = Buffer.from(token);
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}
