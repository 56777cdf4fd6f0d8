// The small pieces: cookie naming by origin, return paths, single-use state under a race, link binding.
import { describe, expect, it } from 'vitest';
import { createGrantStore, grantKey } from '../../src/broker/store.js';
import { cookiePolicy, readCookie, serializeCookie } from '../../src/onboarding/cookies.js';
import { issueLink } from '../../src/onboarding/links.js';
import { consumeState, type FlowState, keys, readLive, writeLive } from '../../src/onboarding/records.js';
import { safeReturnPath } from '../../src/onboarding/signin.js';
import { prefixedRecords } from '../../src/records.js';

describe('the session cookie', () => {
  it('is __Host- prefixed and Secure over https', () => {
    const policy = cookiePolicy('https://gateway.example.com');
    expect(policy).toMatchObject({ name: '__Host-keyward-session', signInName: '__Host-keyward-signin', secure: true });
    const header = serializeCookie(policy, 'abc', 60);
    expect(header).toBe('__Host-keyward-session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure');
    expect(header).not.toMatch(/Domain=/);
  });

  it('on http loopback is neither Secure nor prefixed, and is named per port', () => {
    expect(cookiePolicy('http://127.0.0.1:8787')).toMatchObject({ name: 'keyward-session-8787', secure: false });
    expect(cookiePolicy('http://localhost:9000').name).toBe('keyward-session-9000');
    expect(serializeCookie(cookiePolicy('http://127.0.0.1:8787'), 'x', 1)).not.toMatch(/Secure/);
  });

  it('refuses plain http anywhere but loopback', () => {
    expect(() => cookiePolicy('http://gateway.example.com')).toThrow(/needs https unless the gateway is on loopback/);
  });

  it('is read back by exact name', () => {
    expect(readCookie('a=1; keyward-session-80=xyz; b=2', 'keyward-session-80')).toBe('xyz');
    expect(readCookie('xkeyward-session-80=no', 'keyward-session-80')).toBeUndefined();
    expect(readCookie(undefined, 'a')).toBeUndefined();
  });
});

describe('return paths after sign-in', () => {
  it.each([
    ['/connect/notes/abc', '/connect/notes/abc'],
    ['/accounts?x=1', '/accounts?x=1'],
    ['//evil.example/x', '/accounts'],
    ['https://evil.example/', '/accounts'],
    ['/\\evil.example', '/accounts'],
    [undefined, '/accounts'],
    [['/a', '/b'], '/accounts'],
  ])('%j -> %s', (input, expected) => {
    expect(safeReturnPath(input)).toBe(expected);
  });
});

describe('flow state', () => {
  const clock = { now: () => 1_000_000 };
  const flow = (expiresAt: number): FlowState => ({
    provider: 'notes',
    user: 'demo',
    client: 'c',
    scopes: [],
    codeVerifier: 'v',
    nonce: 'n',
    redirectUri: 'http://127.0.0.1/callback/notes',
    sessionId: 's',
    createdAt: 0,
    expiresAt,
  });

  it('is consumed once, even by callbacks that race', async () => {
    const backing = await createGrantStore('memory:');
    const store = prefixedRecords(backing, 'onboarding:');
    await writeLive(store, keys.state('st'), flow(2_000_000), clock);
    const results = await Promise.all([1, 2, 3, 4].map(() => consumeState(store, 'st', clock)));
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.reason)).toEqual(Array(3).fill('replayed_state'));
    expect(await consumeState(store, 'st', clock)).toEqual({ ok: false, reason: 'replayed_state' });
    expect(await consumeState(store, 'never', clock)).toEqual({ ok: false, reason: 'unknown_state' });
    await backing.close();
  });

  it('past its own expiry is refused, whatever the backend TTL says', async () => {
    const backing = await createGrantStore('memory:');
    const store = prefixedRecords(backing, 'onboarding:');
    await store.set(keys.state('old'), flow(999_999), 60_000);
    expect(await consumeState(store, 'old', clock)).toEqual({ ok: false, reason: 'expired_state' });
    await backing.close();
  });
});

describe('connect links', () => {
  it('name their user, provider, scopes and call in the store, and expire', async () => {
    const backing = await createGrantStore('memory:');
    const store = prefixedRecords(backing, 'onboarding:');
    let now = 5_000;
    const clock = { now: () => now };
    const { id, link } = await issueLink(
      { records: store, clock },
      { provider: 'notes', user: 'demo', client: 'agent', scopes: ['notes:write', 'notes:write'], callId: 'call-1' },
      1_000,
    );
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(link).toMatchObject({
      provider: 'notes',
      user: 'demo',
      scopes: ['notes:write'],
      callId: 'call-1',
      expiresAt: 6_000,
    });
    expect(await readLive(store, keys.link(id), clock)).toEqual(link);
    now = 6_000;
    expect(await readLive(store, keys.link(id), clock)).toBeUndefined();
    await backing.close();
  });
});

describe("onboarding's record store", () => {
  it('keeps every key under its prefix, so it cannot name a grant or another record', async () => {
    const backing = await createGrantStore('memory:');
    const records = prefixedRecords(backing, 'onboarding:');
    await records.set('link:a', { n: 1 }, 60_000);
    expect(await backing.keys()).toEqual(['onboarding:link:a']);
    await backing.setRecord('signing-key', { secret: 'not onboarding' });
    expect(await records.get('signing-key')).toBeUndefined();
    // A grant's own key, asked of the record store, is only ever a record key under the prefix.
    await records.set(grantKey('demo', 'notes'), { forged: true });
    expect(await backing.getGrant('demo', 'notes')).toBeUndefined();
    expect(await backing.keys('onboarding:')).toEqual([`onboarding:${grantKey('demo', 'notes')}`, 'onboarding:link:a']);
    expect(() => prefixedRecords(backing, '')).toThrow(/prefix/);
    await backing.close();
  });

  it('hands a record to exactly one of several racing takers', async () => {
    const backing = await createGrantStore('memory:');
    const records = prefixedRecords(backing, 'onboarding:');
    await records.set('session:s', { user: 'demo' });
    const taken = await Promise.all([1, 2, 3, 4, 5].map(() => records.take('session:s')));
    expect(taken.filter((v) => v !== undefined)).toEqual([{ user: 'demo' }]);
    expect(await records.get('session:s')).toBeUndefined();
    expect(await records.delete('session:s')).toBe(false);
    await backing.close();
  });
});
