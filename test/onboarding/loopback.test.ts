// The stdio loopback listener: started by the first link, one flow per link, a secret in the path, stopped when idle.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onboardingDeps } from '../../src/onboarding/deps.js';
import { createLoopbackLinks, type LoopbackLinks } from '../../src/onboarding/loopback.js';
import { driveAuthorization } from '../helpers/consent.js';
import { CookieJar } from '../helpers/cookieJar.js';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
let links: LoopbackLinks;
beforeAll(async () => {
  h = await startHarness();
  links = createLoopbackLinks(onboardingDeps(h.gateway), { idleMs: 60_000, linkTtlMs: 120_000 });
  h.gateway.links.bind(links);
});
afterAll(async () => {
  await links?.close();
  await h?.close();
});

describe('loopback onboarding links', () => {
  it('is not listening until a call needs a grant', () => {
    expect(links.origin()).toBeUndefined();
  });

  it('a reauth error points at a fresh loopback listener, with the flow secret in the path', async () => {
    const outcome = await h.gateway.callTool({ user: 'demo', client: 'claude' }, 'list_notes', {});
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    const url = outcome.error.authorizeUrl ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/connect\/notes\/[A-Za-z0-9_-]{43}$/);
    expect(new URL(url).origin).toBe(links.origin());
    expect(new URL(url).origin).not.toBe(h.url);
  });

  it('serves nothing without a live flow secret, and nothing to another Host name', async () => {
    const origin = links.origin() ?? '';
    expect((await fetch(`${origin}/connect/notes`)).status).toBe(404);
    expect((await fetch(`${origin}/connect/notes/${'x'.repeat(43)}`)).status).toBe(410);
    expect((await fetch(`${origin}/accounts`)).status).toBe(404);
    const { url } = await links.issue({ provider: 'notes', user: 'demo', client: 'claude' });
    // fetch will not send another Host; a raw request can, as a DNS-rebinding page's would.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = request(url, { headers: { host: `attacker.example:${new URL(origin).port}` } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(403);
  });

  it('completes the flow on the loopback callback and tells whoever waits', async () => {
    const { url, linkId } = await links.issue({ provider: 'notes', user: 'demo', client: 'claude' });
    const waiting = links.waitFor(linkId);
    const jar = new CookieJar();
    const first = await jar.fetch(url);
    expect(first.status).toBe(302);
    const toAs = new URL(first.headers.get('location') ?? '');
    // RFC 8252 s.7.3: the loopback redirect URI, on this listener's port.
    expect(toAs.searchParams.get('redirect_uri')).toBe(`${links.origin()}/callback/notes`);
    const driven = await driveAuthorization(toAs.href, { user: 'demo', jar, follow: true });
    expect(driven.response?.status).toBe(200);
    expect(driven.body).toContain('Connected to notes');
    expect(driven.body).toContain('keyward revoke');
    const done = await waiting;
    expect(done).toMatchObject({ ok: true, provider: 'notes', user: 'demo', linkId });
    // What the broker hands back to onboarding is the grant's summary: no ciphertext, no token.
    expect(done.grant).toMatchObject({ user: 'demo', provider: 'notes', status: 'active', hasRefreshToken: true });
    expect(Object.keys(done.grant ?? {}).filter((k) => /Enc$|^(access|refresh|id)Token$/.test(k))).toEqual([]);
    expect((await h.gateway.callTool({ user: 'demo', client: 'claude' }, 'list_notes', {})).ok).toBe(true);
  });

  it('stops when idle once no link is outstanding, and starts again on the next link', async () => {
    const before = links.origin();
    expect(before).toBeDefined();
    // Links from the earlier tests are still outstanding: not idle yet.
    h.clock.advance(61_000);
    expect(await links.checkIdle()).toBe(false);
    h.clock.advance(120_000);
    expect(await links.checkIdle()).toBe(true);
    expect(links.origin()).toBeUndefined();
    await expect(fetch(`${before}/connect/notes`)).rejects.toThrow();

    const { url } = await links.issue({ provider: 'notes', user: 'demo', client: 'claude' });
    expect(new URL(url).origin).toBe(links.origin());
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(302);
  });
});
