// The demo notes API: bearer verification against trusted JWKS, audience and scope checks, per-user notes.
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startDemoApi } from '../../src/demo/api.js';
import { startTestAuthServer, type TestAuthServer } from '../helpers/authServer.js';
import { refreshTokens } from '../helpers/consent.js';

let t: TestAuthServer;
let demoToken: string;
let aliceToken: string;
let readOnlyToken: string;

beforeAll(async () => {
  t = await startTestAuthServer();
  const [demo, alice] = await Promise.all([t.grant(), t.grant({ user: 'alice' })]);
  demoToken = demo.access_token;
  aliceToken = alice.access_token;
  readOnlyToken = (
    await refreshTokens({
      issuer: t.issuer,
      clientId: t.clientId,
      refreshToken: demo.refresh_token!,
      scope: ['notes:read'],
    })
  ).access_token;
});
afterAll(async () => {
  await t?.close();
});

function call(path: string, token: string | undefined, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  if (init.body) headers.set('content-type', 'application/json');
  return fetch(`${t.api.url}${path}`, { ...init, headers });
}

describe('notes', () => {
  test('its root says what it is (the demo banner links there) and needs no token', async () => {
    const res = await call('/', undefined);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'Keyward demo notes API', resource: t.resource.replace(/\/$/, '') });
    expect((await call('/other', undefined)).status).toBe(404);
  });

  test('create, read, list and delete', async () => {
    const created = await call('/notes', demoToken, {
      method: 'POST',
      body: JSON.stringify({ title: 'Buy milk', body: '2 litres' }),
    });
    expect(created.status).toBe(201);
    const note = (await created.json()) as { id: string; title: string; body: string };
    expect(note).toMatchObject({ title: 'Buy milk', body: '2 litres' });

    const got = await call(`/notes/${encodeURIComponent(note.id)}`, demoToken);
    expect(await got.json()).toMatchObject({ id: note.id, title: 'Buy milk' });

    const list = (await (await call('/notes', demoToken)).json()) as { notes: Array<{ id: string }> };
    expect(list.notes.map((n) => n.id)).toContain(note.id);

    const del = await call(`/notes/${note.id}`, demoToken, { method: 'DELETE' });
    expect(del.status).toBe(204);
    expect((await call(`/notes/${note.id}`, demoToken)).status).toBe(404);
  });

  test('notes are per user: another user can neither see nor delete them', async () => {
    const created = await call('/notes', demoToken, { method: 'POST', body: JSON.stringify({ title: 'mine' }) });
    const { id } = (await created.json()) as { id: string };
    const aliceList = (await (await call('/notes', aliceToken)).json()) as { notes: unknown[] };
    expect(aliceList.notes).toEqual([]);
    expect((await call(`/notes/${id}`, aliceToken)).status).toBe(404);
    expect((await call(`/notes/${id}`, aliceToken, { method: 'DELETE' })).status).toBe(404);
    expect((await call(`/notes/${id}`, demoToken)).status).toBe(200);
    expect(t.api.seen.at(-1)).toMatchObject({ sub: 'demo', method: 'GET', path: `/notes/${id}`, status: 200 });
  });

  test('bad bodies get 400', async () => {
    for (const body of ['{"title":""}', '[1]', 'nope', '{"title":"x","body":3}']) {
      const res = await call('/notes', demoToken, { method: 'POST', body });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('invalid_request');
    }
  });

  test('records the verified claims of each request', async () => {
    await call('/notes', demoToken);
    const last = t.api.seen.at(-1)!;
    expect(last).toMatchObject({ sub: 'demo', aud: t.resource, iss: t.issuer, method: 'GET', path: '/notes' });
    expect(last.scope.split(' ')).toContain('notes:read');
    expect(typeof last.jti).toBe('string');
    expect(last.exp! - last.iat!).toBe(60);
  });
});

describe('401 and 403', () => {
  async function expect401(res: Response): Promise<void> {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
  }

  test('a missing token', async () => {
    await expect401(await call('/notes', undefined));
  });

  test('garbage, expired, wrong audience, wrong issuer, untrusted key', async () => {
    const now = Math.floor(Date.now() / 1000);
    const base = { sub: 'demo', aud: t.resource, scope: 'notes:read' };
    const cases = {
      garbage: 'abc.def.ghi',
      expired: await t.as.signJwt({ ...base, iat: now - 600, exp: now - 300 }),
      wrongAud: await t.as.signJwt({ ...base, aud: 'http://127.0.0.1:9/elsewhere' }),
      wrongIss: await t.as.signJwt({ ...base, iss: 'http://127.0.0.1:9' }),
      untrusted: await (async () => {
        const { privateKey } = await generateKeyPair('RS256');
        return new SignJWT({ ...base })
          .setProtectedHeader({ alg: 'RS256', kid: 'x' })
          .setIssuer(t.issuer)
          .setExpirationTime('1m')
          .sign(privateKey);
      })(),
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await call('/notes', token);
      expect(res.status, name).toBe(401);
      expect(res.headers.get('www-authenticate'), name).toMatch(/error="invalid_token"/);
    }
  });

  test('insufficient scope is a 403 naming the scope', async () => {
    const res = await call('/notes', readOnlyToken, { method: 'POST', body: JSON.stringify({ title: 'x' }) });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope", scope="notes:write"');
    expect(await res.json()).toEqual({ error: 'insufficient_scope', scope: 'notes:write' });
    const del = await call('/notes/whatever', readOnlyToken, { method: 'DELETE' });
    expect(del.status).toBe(403);
    expect(((await del.json()) as { scope: string }).scope).toBe('notes:delete');
    expect((await call('/notes', readOnlyToken)).status).toBe(200);
  });

  test('failNext answers good tokens with 401, then recovers', async () => {
    t.api.failNext(2);
    await expect401(await call('/notes', demoToken));
    await expect401(await call('/notes', demoToken));
    expect((await call('/notes', demoToken)).status).toBe(200);
    t.api.failNext(1, 503);
    expect((await call('/notes', demoToken)).status).toBe(503);
    expect((await call('/notes', demoToken)).status).toBe(200);
  });
});

test('trusts several issuers by JWKS URL: the AS and a gateway that mints its own tokens', async () => {
  const gw = await generateKeyPair('ES256', { extractable: true });
  const gwJwks = { keys: [{ ...(await exportJWK(gw.publicKey)), kid: 'gw1', alg: 'ES256', use: 'sig' }] };
  const { createServer } = await import('node:http');
  const jwksServer = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(gwJwks));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  const gwUrl = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}`;
  const api = await startDemoApi({
    resource: 'http://127.0.0.1:9/notes-api',
    trusted: [
      { issuer: t.issuer, jwksUri: t.as.jwksUri },
      { issuer: gwUrl, jwksUri: `${gwUrl}/.well-known/jwks.json` },
    ],
  });
  try {
    const minted = await new SignJWT({ scope: 'notes:read', act: { sub: 'claude-desktop' } })
      .setProtectedHeader({ alg: 'ES256', kid: 'gw1', typ: 'at+jwt' })
      .setIssuer(gwUrl)
      .setSubject('demo')
      .setAudience('http://127.0.0.1:9/notes-api')
      .setIssuedAt()
      .setJti('call-1')
      .setExpirationTime('60s')
      .sign(gw.privateKey);
    const r1 = await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${minted}` } });
    expect(r1.status).toBe(200);
    expect(api.seen[0]).toMatchObject({ sub: 'demo', jti: 'call-1', act: { sub: 'claude-desktop' }, iss: gwUrl });

    const fromAs = await t.as.signJwt({ sub: 'demo', aud: 'http://127.0.0.1:9/notes-api', scope: 'notes:read' });
    const r2 = await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${fromAs}` } });
    expect(r2.status).toBe(200);

    // The gateway's key cannot speak for the AS's issuer.
    const spoof = await new SignJWT({ scope: 'notes:read' })
      .setProtectedHeader({ alg: 'ES256', kid: 'gw1' })
      .setIssuer(t.issuer)
      .setSubject('demo')
      .setAudience('http://127.0.0.1:9/notes-api')
      .setExpirationTime('60s')
      .sign(gw.privateKey);
    expect((await fetch(`${api.url}/notes`, { headers: { authorization: `Bearer ${spoof}` } })).status).toBe(401);
  } finally {
    await api.close();
    await new Promise((r) => jwksServer.close(r));
  }
});

test('revokeUser: old tokens get 401, refresh fails, a fresh consent works at once', async () => {
  const first = await t.grant({ user: 'dave' });
  expect((await call('/notes', first.access_token)).status).toBe(200);
  expect(await t.revokeUser('dave')).toBe(1);
  const res = await call('/notes', first.access_token);
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  await expect(
    refreshTokens({ issuer: t.issuer, clientId: t.clientId, refreshToken: first.refresh_token! }),
  ).rejects.toMatchObject({ error: 'invalid_grant' });
  const again = await t.grant({ user: 'dave' });
  expect((await call('/notes', again.access_token)).status).toBe(200);
  expect((await call('/notes', demoToken)).status).toBe(200);
});
