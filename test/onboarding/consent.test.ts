// Consent lifetime (consentTtl, with an injected clock) and incremental consent (insufficient_scope leads to the union).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CLIENT_ID } from '../../src/demo/authServer.js';
import { driveAuthorization, obtainTokens } from '../helpers/consent.js';
import { CookieJar } from '../helpers/cookieJar.js';
import { authorizeUrlFromCall, type Harness, startHarness } from './harness.js';

const caller = { user: 'demo', client: 'test-agent' };

describe('consent lifetime', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ notes: { consentTtl: '1h' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('stores consentExpiresAt from consentTtl, and after it passes calls get consent_expired', async () => {
    const { url } = await authorizeUrlFromCall(h.gateway, 'list_notes');
    const driven = await driveAuthorization(url, { user: 'demo', follow: true });
    expect(driven.response?.status).toBe(200);
    // The success page says how long the access lasts.
    expect(driven.body).toMatch(/This access lasts until/);

    const grant = await h.grant('demo', 'notes');
    expect(grant?.consentExpiresAt).toBe((grant?.consentedAt ?? 0) + 3_600_000);
    expect((await h.gateway.callTool(caller, 'list_notes', {})).ok).toBe(true);

    h.clock.advance(59 * 60_000);
    expect((await h.gateway.callTool(caller, 'list_notes', {})).ok).toBe(true);

    h.clock.advance(2 * 60_000);
    const expired = await h.gateway.callTool(caller, 'list_notes', {});
    expect(expired.ok).toBe(false);
    if (expired.ok) return;
    expect(expired.error).toMatchObject({ code: 'reauth_required', reason: 'consent_expired', provider: 'notes' });
    expect(expired.error.authorizeUrl).toMatch(new RegExp(`^${h.url}/connect/notes/`));

    // Consenting again starts a new lifetime. (The clock goes back first: the demo AS keeps real time,
    // and its ID token would look expired to a gateway that lives an hour ahead.)
    h.clock.advance(-61 * 60_000);
    const again = await driveAuthorization(expired.error.authorizeUrl ?? '', { user: 'demo', follow: true });
    expect(again.response?.status).toBe(200);
    expect((await h.gateway.callTool(caller, 'list_notes', {})).ok).toBe(true);
    const renewed = await h.grant('demo', 'notes');
    expect(renewed?.consentExpiresAt).toBeGreaterThan(grant?.consentExpiresAt ?? 0);
  });
});

describe('incremental consent', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('insufficient_scope links to /connect with the added scopes, and the new grant covers the union', async () => {
    // A grant from before create_note existed: the user consented to reading only.
    const tokens = await obtainTokens({
      issuer: h.stack.authServer.issuer,
      clientId: DEMO_CLIENT_ID,
      redirectUri: `${h.url}/callback/notes`,
      scopes: ['openid', 'offline_access', 'notes:read'],
      resource: h.gateway.config.providers.notes?.resource,
      user: 'demo',
    });
    const first = await h.gateway.grants.saveGrantFromTokens({
      user: 'demo',
      provider: 'notes',
      client: 'older-agent',
      tokens,
    });
    expect(first.scopes).toContain('notes:read');
    expect(first.scopes).not.toContain('notes:write');
    expect((await h.gateway.callTool(caller, 'list_notes', {})).ok).toBe(true);

    const denied = await authorizeUrlFromCall(h.gateway, 'create_note', 'demo', { title: 'hello', body: 'world' });
    expect(denied.error).toMatchObject({ code: 'insufficient_scope', missingScopes: ['notes:write'] });
    expect(denied.url).toMatch(new RegExp(`^${h.url}/connect/notes/`));

    // The link asks the AS for what the user already granted plus the missing scope.
    const jar = new CookieJar();
    const toAs = await jar.fetch(denied.url);
    const scope = new URL(toAs.headers.get('location') ?? '').searchParams.get('scope')?.split(' ');
    expect(scope).toEqual(expect.arrayContaining(['notes:read', 'notes:write', 'offline_access']));
    const driven = await driveAuthorization(toAs.headers.get('location') ?? '', { user: 'demo', jar, follow: true });
    expect(driven.response?.status).toBe(200);

    const second = await h.grant('demo', 'notes');
    expect(second?.id).toBe(first.id);
    expect(second?.scopes).toEqual(expect.arrayContaining(['notes:read', 'notes:write']));
    expect((await h.gateway.callTool(caller, 'create_note', { title: 'hello', body: 'world' })).ok).toBe(true);
    expect((await h.gateway.callTool(caller, 'list_notes', {})).ok).toBe(true);
  });

  it('a crafted scope the provider and its tools do not know is not asked for', async () => {
    const res = await new CookieJar().fetch(
      `${h.url}/connect/notes?scope=${encodeURIComponent('notes:read admin:all')}`,
    );
    expect(res.status).toBe(302);
    const scope = new URL(res.headers.get('location') ?? '').searchParams.get('scope')?.split(' ');
    expect(scope).toContain('notes:read');
    expect(scope).not.toContain('admin:all');
  });
});
