// The accounts page: what is connected, connect and disconnect as CSRF-protected forms, and disconnect = revoke at the AS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CLIENT_ID } from '../../src/demo/authServer.js';
import { driveAuthorization, obtainTokens } from '../helpers/consent.js';
import { CookieJar } from '../helpers/cookieJar.js';
import { type Harness, startHarness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    config: (c) => {
      const providers = c.providers as Record<string, Record<string, unknown>>;
      const notes = providers.notes as Record<string, unknown>;
      // The same AS without discovery, so without a revocation endpoint: "revoked here only".
      providers.plain = {
        authorizationEndpoint: `${notes.issuer}/auth`,
        tokenEndpoint: `${notes.issuer}/token`,
        clientId: DEMO_CLIENT_ID,
        scopes: ['offline_access', 'notes:read'],
        resource: notes.resource,
        apiBaseUrl: notes.apiBaseUrl,
      };
    },
  });
});
afterAll(async () => {
  await h?.close();
});

const caller = { user: 'demo', client: 'test-agent' };

function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error('no CSRF token on the page');
  return m[1];
}

async function post(jar: CookieJar, path: string, form: Record<string, string>, headers: Record<string, string> = {}) {
  return jar.fetch(`${h.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: h.url, ...headers },
    body: new URLSearchParams(form),
  });
}

describe('accounts page', () => {
  const jar = new CookieJar();

  it('is a plain, accessible page: headings, a captioned table, labelled buttons, no script, not frameable', async () => {
    const res = await jar.fetch(`${h.url}/accounts`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*frame-ancestors 'none'/);
    const html = await res.text();
    expect(html).toMatch(/<html lang="en">/);
    expect(html).toMatch(/<h1>Connected accounts<\/h1>/);
    expect(html).toMatch(/<table>\s*<caption>/);
    expect(html.match(/<th scope="col">/g)?.length).toBe(7);
    expect(html).toMatch(/<th scope="row">notes<\/th>\s*<td>Not connected<\/td>/);
    expect(html).toMatch(/<form method="post" action="\/accounts\/connect">/);
    expect(html).toMatch(/aria-label="Connect notes"/);
    expect(html).not.toMatch(/<script/i);
  });

  it('ignores a notice it does not know, including names on Object.prototype', async () => {
    for (const notice of ['valueOf', 'constructor', '__proto__', 'toString', 'nonsense']) {
      const res = await jar.fetch(`${h.url}/accounts?notice=${notice}&provider=notes`);
      expect(res.status, notice).toBe(200);
      const html = await res.text();
      expect(html, notice).not.toContain('class="notice"');
    }
  });

  it('connect is a POST with the CSRF token that leads into the provider flow', async () => {
    const page = await (await jar.fetch(`${h.url}/accounts`)).text();
    const res = await post(jar, '/accounts/connect', { provider: 'notes', csrf: csrfOf(page) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${h.url}/connect/notes`);
    const driven = await driveAuthorization(res.headers.get('location') ?? '', { user: 'demo', jar, follow: true });
    expect(driven.response?.status).toBe(200);
    expect(driven.body).toContain(`${h.url}/accounts`);
    expect((await h.gateway.callTool(caller, 'list_notes', {})).ok).toBe(true);

    const after = await (await jar.fetch(`${h.url}/accounts`)).text();
    expect(after).toMatch(/<th scope="row">notes<\/th>\s*<td>Connected<\/td>/);
    expect(after).toContain('<code>notes:read</code>');
    // consent given and last used are times; expiry is "no limit" without consentTtl.
    expect(after.match(/<time datetime=/g)?.length).toBeGreaterThanOrEqual(2);
    expect(after).toContain('no limit');
    expect(after).toMatch(/aria-label="Disconnect notes"/);
  });

  it('refuses a form without the CSRF token, or from another origin, and changes nothing', async () => {
    const before = await h.grantsSnapshot();
    const page = await (await jar.fetch(`${h.url}/accounts`)).text();
    const noToken = await post(jar, '/accounts/disconnect', { provider: 'notes' });
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toContain('This form has expired');
    const crossSite = await post(
      jar,
      '/accounts/disconnect',
      { provider: 'notes', csrf: csrfOf(page) },
      { origin: 'https://evil.example' },
    );
    expect(crossSite.status).toBe(403);
    const otherBrowser = await post(new CookieJar(), '/accounts/disconnect', { provider: 'notes', csrf: csrfOf(page) });
    expect(otherBrowser.status).toBe(403);
    expect(await h.grantsSnapshot()).toBe(before);
  });

  it('a form with too many fields, or too large, is refused as the client error it is (4xx), and changes nothing', async () => {
    const before = await h.grantsSnapshot();
    const page = await (await jar.fetch(`${h.url}/accounts`)).text();
    const many = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, 'x']));
    const tooMany = await post(jar, '/accounts/disconnect', { provider: 'notes', csrf: csrfOf(page), ...many });
    expect(tooMany.status).toBeGreaterThanOrEqual(400);
    expect(tooMany.status).toBeLessThan(500);
    expect(await tooMany.text()).toContain('Request refused');
    const tooLarge = await post(jar, '/accounts/disconnect', {
      provider: 'notes',
      csrf: csrfOf(page),
      pad: 'x'.repeat(8192),
    });
    expect(tooLarge.status).toBe(413);
    expect(await h.grantsSnapshot()).toBe(before);
  });

  it('disconnect revokes at the AS revocation endpoint, marks the grant revoked, and the next call needs reauth', async () => {
    const revocations = h.stack.authServer.stats.revocations;
    const page = await (await jar.fetch(`${h.url}/accounts`)).text();
    const res = await post(jar, '/accounts/disconnect', { provider: 'notes', csrf: csrfOf(page) });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`${h.url}/accounts?notice=revoked&provider=notes`);
    expect(h.stack.authServer.stats.revocations).toBe(revocations + 1);
    expect(h.stack.authServer.grants().filter((g) => g.accountId === 'demo')).toHaveLength(0);

    const grant = await h.grant('demo', 'notes');
    expect(grant).toMatchObject({ status: 'revoked' });
    expect(grant?.refreshTokenEnc).toBeUndefined();
    const next = await h.gateway.callTool(caller, 'list_notes', {});
    expect(next.ok).toBe(false);
    if (!next.ok) expect(next.error).toMatchObject({ code: 'reauth_required', reason: 'revoked' });

    const shown = await (await jar.fetch(res.headers.get('location') ?? '')).text();
    expect(shown).toContain('revoked at the service and here');
    expect(shown).toMatch(/<th scope="row">notes<\/th>\s*<td>Revoked<\/td>/);
    const audit = h.audit.records.filter((r) => r.event === 'onboarding.revoke');
    expect(audit.at(-1)).toMatchObject({ user: 'demo', provider: 'notes', outcome: 'ok', grantId: grant?.id });
  });

  it('says so where the provider has no revocation endpoint, and still marks the grant revoked', async () => {
    const tokens = await obtainTokens({
      issuer: h.stack.authServer.issuer,
      clientId: DEMO_CLIENT_ID,
      redirectUri: `${h.url}/callback/notes`,
      scopes: ['offline_access', 'notes:read'],
      resource: h.gateway.config.providers.notes?.resource,
      user: 'demo',
      prompt: 'consent',
    });
    await h.gateway.grants.saveGrantFromTokens({ user: 'demo', provider: 'plain', client: 'test-agent', tokens });
    const revocations = h.stack.authServer.stats.revocations;
    const page = await (await jar.fetch(`${h.url}/accounts`)).text();
    const res = await post(jar, '/accounts/disconnect', { provider: 'plain', csrf: csrfOf(page) });
    expect(res.headers.get('location')).toBe(`${h.url}/accounts?notice=revoked-here&provider=plain`);
    expect(h.stack.authServer.stats.revocations).toBe(revocations);
    expect((await h.grant('demo', 'plain'))?.status).toBe('revoked');
    const shown = await (await jar.fetch(res.headers.get('location') ?? '')).text();
    expect(shown).toContain('offers no way to revoke access remotely');
  });

  it('sign out ends this browser session: its CSRF token stops working, and the grants stay', async () => {
    const signedIn = new CookieJar();
    const page = await (await signedIn.fetch(`${h.url}/accounts`)).text();
    const csrf = csrfOf(page);
    expect(page).toMatch(/<form method="post" action="\/signout">/);
    const before = await h.store.listGrants();
    const out = await post(signedIn, '/signout', { csrf });
    expect(out.status).toBe(200);
    expect(await out.text()).toContain('<h1>Signed out</h1>');
    expect(out.headers.get('set-cookie')).toMatch(/Max-Age=0/i);
    const stale = await post(signedIn, '/accounts/disconnect', { provider: 'notes', csrf });
    expect(stale.status).toBe(403);
    expect(await h.store.listGrants()).toEqual(before);
    // A forged sign-out (no token) is refused like any other form.
    expect((await post(new CookieJar(), '/signout', { csrf: 'x' })).status).toBe(403);
  });
});
