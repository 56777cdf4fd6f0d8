// With inbound identity: /connect signs the person in at the identity provider first, and a link made for one user refuses another.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driveAuthorization } from '../helpers/consent.js';
import { CookieJar } from '../helpers/cookieJar.js';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  // The demo AS is also the gateway's identity provider; the gateway registers its sign-in client there.
  h = await startHarness({ stack: { extra: ({ issuer }) => ({ identity: { issuer } }) } });
});
afterAll(async () => {
  await h?.close();
});

const link = (user: string) => h.gateway.links.authorizeUrl({ provider: 'notes', user, client: 'test-agent' });
const isCallback = (u: URL) => u.origin === h.url && u.pathname === '/callback/notes';

describe('signed-in onboarding', () => {
  it('sends an unknown browser to sign in, then back to the link, then to the provider', async () => {
    const url = await link('demo');
    const jar = new CookieJar();
    const first = await jar.fetch(url);
    expect(first.status).toBe(303);
    const signin = new URL(first.headers.get('location') ?? '');
    expect(signin.pathname).toBe('/signin');
    expect(signin.searchParams.get('return')).toBe(new URL(url).pathname);

    const driven = await driveAuthorization(signin.href, { user: 'demo', jar, stopAt: isCallback, follow: true });
    // Login at the identity provider, its consent for the sign-in client, then consent for notes.
    expect(driven.prompts).toEqual(['login', 'consent', 'consent']);
    expect(driven.visited.some((v) => v.startsWith(`${h.url}/signin/callback`))).toBe(true);
    expect(driven.response?.status).toBe(200);
    expect(driven.body).toContain('Connected to notes');
    expect(await h.grant('demo', 'notes')).toMatchObject({ status: 'active', user: 'demo' });
    expect(h.audit.records.find((r) => r.event === 'onboarding.signin')).toMatchObject({ user: 'demo', outcome: 'ok' });
  });

  it('refuses a link made for another user before anything is sent to the provider', async () => {
    const jar = new CookieJar();
    // Mallory signs in at the gateway, then opens the link the agent made for demo.
    await driveAuthorization(`${h.url}/signin?return=%2Faccounts`, {
      user: 'mallory',
      jar,
      stopAt: (u) => u.origin === h.url && u.pathname === '/accounts',
    });
    const accounts = await jar.fetch(`${h.url}/accounts`);
    expect(await accounts.text()).toContain('Signed in as <strong>mallory</strong>');

    const before = await h.grantsSnapshot();
    const res = await jar.fetch(await link('demo'));
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('This link is for another user');
    expect(await h.grantsSnapshot()).toBe(before);
    expect(h.audit.records.filter((r) => r.event === 'onboarding.connect').at(-1)).toMatchObject({
      outcome: 'error',
      reason: 'different_user',
      user: 'demo',
    });
  });

  it('a sign-in callback finished in another browser does not sign that browser in (login CSRF)', async () => {
    const attacker = new CookieJar();
    const driven = await driveAuthorization(`${h.url}/signin?return=%2Faccounts`, {
      user: 'mallory',
      jar: attacker,
      stopAt: (u) => u.origin === h.url && u.pathname === '/signin/callback',
    });
    const victim = new CookieJar();
    const res = await victim.fetch(driven.location);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Sign-in was not completed');
    expect(res.headers.getSetCookie().join('\n')).not.toMatch(/keyward-session-\d+=[A-Za-z0-9_-]{43}/);
  });
});
