// The demo AS's own pages: sign-in that names the user a stdio grant is for, consent in words, switching user,
// sign-out, its home page, and CORS for browser-based MCP clients.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestAuthServer, TEST_REDIRECT_URI, type TestAuthServer } from '../helpers/authServer.js';
import { approveDeviceCode, openPage, pkcePair, signOutAtDemo, tokenRequest } from '../helpers/consent.js';
import { CookieJar } from '../helpers/cookieJar.js';

const WEB = 'http://127.0.0.1:48787';
let t: TestAuthServer;

beforeAll(async () => {
  t = await startTestAuthServer({
    as: {
      localUser: 'alice',
      webCallbackOrigin: WEB,
      redirectUris: [TEST_REDIRECT_URI, `${WEB}/callback/notes`],
    },
  });
});
afterAll(async () => {
  await t?.close();
});

function authorizeUrl(o: { redirectUri?: string; prompt?: string } = {}) {
  const { verifier, challenge } = pkcePair();
  const url = new URL(t.as.authorizationEndpoint);
  url.search = new URLSearchParams({
    client_id: t.clientId,
    response_type: 'code',
    redirect_uri: o.redirectUri ?? TEST_REDIRECT_URI,
    scope: 'openid offline_access notes:read notes:delete',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    prompt: o.prompt ?? 'consent',
    resource: t.resource,
    state: 'state-0123456789abcdef',
  }).toString();
  return { url: url.href, verifier };
}

async function post(jar: CookieJar, at: URL, form: Record<string, string>) {
  return jar.fetch(new URL(/<form method="post" action="([^"]+)"/.exec(await (await jar.fetch(at)).text())![1]!, at), {
    method: 'POST',
    body: new URLSearchParams(form),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
}

/** Follows a 303 from an interaction back through /auth to the next page (or the client's redirect). */
async function follow(jar: CookieJar, res: Response, from: URL) {
  expect(res.status).toBe(303);
  return openPage(new URL(res.headers.get('location')!, from).href, jar);
}

async function redeem(location: URL, verifier: string) {
  const code = location.searchParams.get('code');
  expect(code, location.href).toBeTruthy();
  return tokenRequest(
    t.as.tokenEndpoint,
    { clientId: t.clientId },
    {
      grant_type: 'authorization_code',
      code: code!,
      redirect_uri: TEST_REDIRECT_URI,
      code_verifier: verifier,
    },
  );
}

describe('sign-in and consent pages', () => {
  test('the sign-in page is clean and, for a stdio grant, names the user and offers to sign in as that user', async () => {
    const jar = new CookieJar();
    const page = await openPage(authorizeUrl().url, jar);
    expect(page.url.pathname).toMatch(/^\/interaction\//);
    expect(page.html).toContain('<title>Sign in');
    expect(page.html).not.toMatch(/DEBUG|Sign-in<|fonts\.googleapis/);
    expect(page.html).toContain('This grant is for <strong>alice</strong>');
    expect(page.html).toContain('name="login" required autofocus value="alice"');
    expect(page.html).toContain('Keyward demo gateway');
  });

  test('a sign-in that returns to the gateway web callback names no user: any HTTP user may grant', async () => {
    const page = await openPage(authorizeUrl({ redirectUri: `${WEB}/callback/notes` }).url, new CookieJar());
    expect(page.html).toContain('<title>Sign in');
    expect(page.html).not.toContain('This grant is for');
    expect(page.html).toContain('value=""');
  });

  test('consent names the client, the resource and each scope in words, and the code is for who signed in', async () => {
    const jar = new CookieJar();
    const { url, verifier } = authorizeUrl();
    const login = await openPage(url, jar);
    const consent = await follow(jar, await post(jar, login.url, { prompt: 'login', login: 'alice' }), login.url);
    expect(consent.html).toContain('<title>Allow Keyward demo gateway?');
    expect(consent.html).toContain(`<code>${t.resource}</code>`);
    for (const words of [
      'Read your notes',
      'Delete your notes',
      'Keep access while you are away',
      'Confirm who you are',
    ]) {
      expect(consent.html).toContain(words);
    }
    expect(consent.html).toContain('Signed in as <strong>alice</strong>');
    expect(consent.html).not.toContain('role="alert"');
    const back = await follow(jar, await post(jar, consent.url, { prompt: 'consent' }), consent.url);
    expect(back.url.origin + back.url.pathname).toBe(TEST_REDIRECT_URI);
    expect(decodeJwt((await redeem(back.url, verifier)).access_token).sub).toBe('alice');
  });

  test('signed in as the wrong user, consent says so and switching to the right user gives a grant for them', async () => {
    const jar = new CookieJar();
    const first = authorizeUrl();
    const login = await openPage(first.url, jar);
    const consent = await follow(jar, await post(jar, login.url, { prompt: 'login', login: 'demo' }), login.url);
    expect(consent.html).toContain('role="alert"');
    expect(consent.html).toContain(
      'You are signed in as <strong>demo</strong>, but this grant is for <strong>alice</strong>',
    );

    // Reopening a link keeps the session: the same warning, with the way out.
    const again = authorizeUrl();
    const reopened = await openPage(again.url, jar);
    expect(reopened.html).toContain('this grant is for <strong>alice</strong>');
    const switchHref = /href="([^"]+\/switch\?as=alice)"/.exec(reopened.html)?.[1];
    expect(switchHref).toBeTruthy();
    const switchPage = await openPage(new URL(switchHref!.replace(/&amp;/g, '&'), reopened.url).href, jar);
    expect(switchPage.html).toContain('You were signed in as <strong>demo</strong>');
    expect(switchPage.html).toContain('value="alice"');
    const res = await jar.fetch(new URL(/action="([^"]+)"/.exec(switchPage.html)![1]!, switchPage.url), {
      method: 'POST',
      body: new URLSearchParams({ prompt: 'login', login: 'alice' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const consentAlice = await follow(jar, res, switchPage.url);
    expect(consentAlice.html, consentAlice.html.slice(0, 3000)).toContain('Signed in as <strong>alice</strong>');
    const back = await follow(jar, await post(jar, consentAlice.url, { prompt: 'consent' }), consentAlice.url);
    expect(decodeJwt((await redeem(back.url, again.verifier)).access_token).sub).toBe('alice');
  });

  test('sign-out at /session/end ends the session; the next sign-in asks for a name again', async () => {
    const jar = new CookieJar();
    const login = await openPage(authorizeUrl().url, jar);
    await follow(jar, await post(jar, login.url, { prompt: 'login', login: 'demo' }), login.url);
    const home = await openPage(`${t.issuer}/`, jar);
    expect(home.status).toBe(200);
    expect(home.html).toContain('signed in as <strong>demo</strong>');
    expect(home.html).toContain('href="/session/end"');

    const out = await signOutAtDemo(t.issuer, jar);
    expect(out).toContain('<title>Signed out');
    expect(out).not.toContain('fonts.googleapis');
    expect((await openPage(`${t.issuer}/`, jar)).html).toContain('You are not signed in');
    expect((await openPage(authorizeUrl().url, jar)).html).toContain('<title>Sign in');
  });

  test('the device flow: the code page names the user; the last page sends you back to the terminal, warning of a wrong user', async () => {
    const start = async () => {
      const res = await fetch(t.as.deviceAuthorizationEndpoint, {
        method: 'POST',
        body: new URLSearchParams({
          client_id: t.clientId,
          scope: 'openid offline_access notes:read',
          resource: t.resource,
        }),
      });
      return ((await res.json()) as { verification_uri_complete: string }).verification_uri_complete;
    };
    const wrong = await approveDeviceCode(await start(), { user: 'demo' });
    expect(wrong.html).toContain('<title>Code accepted');
    expect(wrong.html).toContain('You signed in as <strong>demo</strong>');
    expect(wrong.html).toContain(
      'Keyward acts for <strong>alice</strong> on this computer, so it will refuse this sign-in',
    );
    expect(wrong.html).toContain('href="/session/end"');
    const right = await approveDeviceCode(await start(), { user: 'alice' });
    expect(right.html).toContain('You signed in as <strong>alice</strong>');
    expect(right.html).not.toContain('will refuse');
  });

  test('an expired or foreign sign-in page, or a bad name, gets a page that says what to do', async () => {
    const stale = await fetch(`${t.issuer}/interaction/not-a-live-one`);
    expect(stale.status).toBe(400);
    const html = await stale.text();
    expect(html).toContain('<title>This sign-in cannot continue');
    expect(html).toContain('Start again from the link your agent gave you');

    const jar = new CookieJar();
    const login = await openPage(authorizeUrl().url, jar);
    const bad = await post(jar, login.url, { prompt: 'login', login: 'no spaces allowed' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('a name is 1-64 letters, digits or . _ @ + -.');
  });

  test('the home page answers instead of 404', async () => {
    const res = await fetch(`${t.issuer}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Demo authorization server');
  });
});

describe('CORS for browser-based MCP clients', () => {
  const origin = 'http://localhost:6274';

  test.each([
    ['/reg', 'POST'],
    ['/token', 'POST'],
    ['/.well-known/oauth-authorization-server', 'GET'],
    ['/.well-known/openid-configuration', 'GET'],
  ])('a preflight to %s is answered for a loopback origin', async (path, method) => {
    const res = await fetch(`${t.issuer}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'content-type' },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get('access-control-allow-origin')).toMatch(/^(\*|http:\/\/localhost:6274)$/);
  });

  test('registration and metadata answers carry the CORS header; a foreign origin gets none on /reg', async () => {
    const reg = await fetch(t.as.registrationEndpoint, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'Browser client',
        redirect_uris: ['http://localhost:6274/oauth/callback'],
        token_endpoint_auth_method: 'none',
        scope: 'mcp:tools',
      }),
    });
    expect(reg.status).toBe(201);
    expect(reg.headers.get('access-control-allow-origin')).toBe(origin);
    const meta = await fetch(`${t.issuer}/.well-known/oauth-authorization-server`, { headers: { origin } });
    expect(meta.headers.get('access-control-allow-origin')).toMatch(/^(\*|http:\/\/localhost:6274)$/);

    const foreign = await fetch(t.as.registrationEndpoint, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });
});
