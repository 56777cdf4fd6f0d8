// /connect and /callback against the demo AS: the good flow, and each bad callback gets a clear page, an audit record, and no change.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/types.js';
import { expectNoCanary } from '../helpers/canary.js';
import { driveAuthorization } from '../helpers/consent.js';
import { CookieJar } from '../helpers/cookieJar.js';
import { authorizeUrlFromCall, type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

const callbacks = (): AuditRecord[] => h.audit.records.filter((r) => r.event === 'onboarding.callback');

/** A link for `user`, driven through the AS up to (not into) the gateway's callback. */
async function flowUpToCallback(user: string, opts: { loginAs?: string; deny?: boolean; jar?: CookieJar } = {}) {
  const url = await h.gateway.links.authorizeUrl({ provider: 'notes', user, client: 'test-agent' });
  const jar = opts.jar ?? new CookieJar();
  const driven = await driveAuthorization(url, {
    user: opts.loginAs ?? user,
    jar,
    ...(opts.deny ? { deny: true } : {}),
  });
  const callback = new URL(driven.location);
  expect(callback.origin + callback.pathname).toBe(`${h.url}/callback/notes`);
  return { callback, jar, linkUrl: url };
}

async function open(jar: CookieJar, url: string | URL) {
  const res = await jar.fetch(url);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

describe('a good flow', () => {
  it('turns a reauth_required link into a grant, and the same call then succeeds', async () => {
    const before = await h.gateway.callTool({ user: 'demo', client: 'test-agent' }, 'list_notes', {});
    expect(before.ok).toBe(false);
    const { url, error } = await authorizeUrlFromCall(h.gateway, 'list_notes');
    expect(error).toMatchObject({ code: 'reauth_required', reason: 'no_grant', provider: 'notes' });
    // A bound link on the gateway's own origin: no code, no token, no state in it.
    expect(url).toMatch(new RegExp(`^${h.url}/connect/notes/[A-Za-z0-9_-]{43}$`));

    const jar = new CookieJar();
    const first = await jar.fetch(url);
    expect(first.status).toBe(302);
    const toAs = new URL(first.headers.get('location') ?? '');
    expect(toAs.origin).toBe(h.stack.authServer.issuer);
    const p = toAs.searchParams;
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('nonce')).toBeTruthy();
    expect(p.get('redirect_uri')).toBe(`${h.url}/callback/notes`);
    expect(p.get('resource')).toBe(h.gateway.config.providers.notes?.resource);
    expect(p.get('prompt')).toBe('consent');
    expect(p.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['openid', 'offline_access', 'notes:read']));
    // The session cookie: HttpOnly, SameSite=Lax, Path=/ (loopback http: no Secure, see cookies.ts).
    const cookie = first.headers.getSetCookie().join('\n');
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\//);

    const driven = await driveAuthorization(toAs.href, { user: 'demo', jar, follow: true });
    expect(driven.response?.status).toBe(200);
    expect(driven.body).toContain('Connected to notes');
    expect(driven.response?.headers.get('x-frame-options')).toBe('DENY');
    expect(driven.response?.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(driven.response?.headers.get('cache-control')).toBe('no-store');

    const after = await h.gateway.callTool({ user: 'demo', client: 'test-agent' }, 'list_notes', {});
    expect(after.ok).toBe(true);
    const ok = callbacks().filter((r) => r.outcome === 'ok');
    expect(ok).toHaveLength(1);
    expect(ok[0]).toMatchObject({ user: 'demo', client: 'test-agent', provider: 'notes', callId: error.callId });
    expectNoCanary(JSON.stringify(h.audit.records), 'audit records');
  });

  it('a link works once: after it is used, opening it again says it expired', async () => {
    const { callback, jar, linkUrl } = await flowUpToCallback('demo');
    expect((await open(jar, callback)).status).toBe(200);
    const again = await open(new CookieJar(), linkUrl);
    expect(again.status).toBe(410);
    expect(again.body).toContain('This link has expired');
  });
});

describe('bad callbacks: a clear page, an audit record, and grants unchanged', () => {
  type Case = {
    name: string;
    reason: string;
    status: number;
    title: RegExp;
    run: () => Promise<{ status: number; body: string }>;
  };

  const cases: Case[] = [
    {
      name: 'a missing state',
      reason: 'missing_state',
      status: 400,
      title: /has no state/,
      run: () => open(new CookieJar(), `${h.url}/callback/notes?code=abc`),
    },
    {
      name: 'a forged state',
      reason: 'unknown_state',
      status: 400,
      title: /does not belong to any sign-in/,
      run: () =>
        open(new CookieJar(), `${h.url}/callback/notes?code=abc&state=${randomBytes(32).toString('base64url')}`),
    },
    {
      name: 'a replayed state',
      reason: 'replayed_state',
      status: 400,
      title: /already finished/,
      run: async () => {
        const { callback, jar } = await flowUpToCallback('erin');
        expect((await open(jar, callback)).status).toBe(200);
        return open(jar, callback);
      },
    },
    {
      name: 'a different user at the authorization server',
      reason: 'different_user',
      status: 403,
      title: /Signed in as a different user/,
      run: async () => {
        const { callback, jar } = await flowUpToCallback('demo', { loginAs: 'mallory' });
        return open(jar, callback);
      },
    },
    {
      name: 'error=access_denied',
      reason: 'access_denied',
      status: 403,
      title: /Access was not granted/,
      run: async () => {
        const { callback, jar } = await flowUpToCallback('demo', { deny: true });
        expect(callback.searchParams.get('error')).toBe('access_denied');
        return open(jar, callback);
      },
    },
    {
      name: 'a code used twice',
      reason: 'invalid_grant',
      status: 400,
      title: /already used, or it expired/,
      run: async () => {
        // Carol's first flow completes; her code then comes back inside a second, valid flow.
        const first = await flowUpToCallback('carol');
        expect((await open(first.jar, first.callback)).status).toBe(200);
        const second = await flowUpToCallback('carol', { jar: first.jar });
        second.callback.searchParams.set('code', first.callback.searchParams.get('code') ?? '');
        return open(second.jar, second.callback);
      },
    },
    {
      name: 'a callback for an unknown provider',
      reason: 'unknown_provider',
      status: 404,
      title: /Unknown service/,
      run: async () => {
        const { callback, jar } = await flowUpToCallback('demo');
        return open(jar, `${h.url}/callback/nope${callback.search}`);
      },
    },
    {
      name: 'a callback in another browser',
      reason: 'session_mismatch',
      status: 403,
      title: /Finish in the browser you started in/,
      run: async () => {
        const { callback } = await flowUpToCallback('demo');
        return open(new CookieJar(), callback);
      },
    },
    {
      name: 'an expired state',
      reason: 'expired_state',
      status: 400,
      title: /took too long/,
      run: async () => {
        const { callback, jar } = await flowUpToCallback('demo');
        h.clock.advance(11 * 60_000);
        return open(jar, callback);
      },
    },
  ];

  it.each(cases)('$name', async ({ reason, status, title, run }) => {
    // Cases that finish a good flow first (replay, code reuse) change grants before the bad callback;
    // the snapshot is taken right before that bad callback, inside run(), via the audit count.
    const seen = callbacks().length;
    let snapshot = await h.grantsSnapshot();
    const original = h.audit.write;
    const res = await (async () => {
      // Refresh the snapshot whenever a good flow in the setup has stored a grant (its audit record comes after).
      h.audit.write = async (record) => {
        await original(record);
        if (record.event === 'onboarding.callback' && record.outcome === 'ok') snapshot = await h.grantsSnapshot();
      };
      try {
        return await run();
      } finally {
        h.audit.write = original;
      }
    })();

    expect(res.status).toBe(status);
    expect(res.body).toMatch(/<!DOCTYPE html>/);
    expect(res.body).toMatch(title);
    expect(res.body).toContain('Nothing was changed');
    const records = callbacks().slice(seen);
    const last = records.at(-1);
    expect(last).toMatchObject({ event: 'onboarding.callback', outcome: 'error', provider: expect.any(String) });
    expect(last?.reason?.split(':')[0]).toBe(reason);
    expect(await h.grantsSnapshot()).toBe(snapshot);
    expectNoCanary(JSON.stringify(h.audit.records), 'audit records');
    expectNoCanary(res.body, 'the page');
  });
});

describe('when the store fails', () => {
  it('a callback gets a page that says so, not a stack trace', async () => {
    const { records } = h.gateway.onboarding;
    const original = records.get;
    records.get = async () => {
      throw new Error('store is down');
    };
    try {
      const res = await open(
        new CookieJar(),
        `${h.url}/callback/notes?code=abc&state=${randomBytes(32).toString('base64url')}`,
      );
      expect(res.status).toBe(503);
      expect(res.body).toContain('Something went wrong');
      expect(res.body).not.toContain('store is down');
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    } finally {
      records.get = original;
    }
  });
});
