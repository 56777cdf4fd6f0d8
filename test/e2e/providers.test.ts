// The shipped GitHub and Google Calendar packs through the whole gateway, against loopback fakes of both providers.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
// Compiled code, as a running gateway uses it: the tool packs are loaded from dist/tools/ too.
import { createMemoryAuditSink, type MemoryAuditSink } from '../../dist/src/audit/sink.js';
import { generateEncryptionKey } from '../../dist/src/broker/crypto.js';
import { resolveConfig } from '../../dist/src/config/load.js';
import { createGateway, type Gateway } from '../../dist/src/gateway/gateway.js';
import type { ToolOutcome } from '../../dist/src/gateway/toolCall.js';
import { createLogger } from '../../dist/src/log.js';
import { type FakeGithub, startFakeGithub } from '../fakes/github.js';
import { CALENDAR_EVENTS, CALENDAR_READONLY, type FakeGoogle, startFakeGoogle } from '../fakes/google.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const caller = { user: 'ana', client: 'e2e-agent' };
const PUBLIC_URL = 'http://127.0.0.1:9';
// One instant for the gateway and the fakes, so that rate-limit resets give exact seconds.
const NOW_MS = Date.now();
const NOW_S = Math.floor(NOW_MS / 1000);

/** Every outbound request must stay on loopback: a slip towards github.com or googleapis.com fails the test. */
const loopbackOnly: typeof fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (url.hostname !== '127.0.0.1')
    return Promise.reject(new Error(`test refused a non-loopback request to ${url.origin}`));
  return fetch(input, init);
};

interface Harness {
  gateway: Gateway;
  audit: MemoryAuditSink;
  logs: string[];
  plant(tokens: Record<string, unknown>, requestedScopes?: string[]): Promise<void>;
  revoke(): Promise<{ supported: boolean; revoked: boolean } | undefined>;
  call(name: string, args: unknown): Promise<ToolOutcome>;
}

async function harness(provider: 'github' | 'google', providerConfig: Record<string, unknown>, tool: string) {
  const config = resolveConfig(
    {
      server: { name: 'keyward-e2e', publicUrl: PUBLIC_URL, user: caller.user },
      store: 'memory:',
      providers: { [provider]: providerConfig },
      tools: [path.join(ROOT, 'tools', tool)],
      audit: 'memory:',
    },
    {
      configPath: '<inline>',
      env: {
        KEYWARD_ENCRYPTION_KEY: generateEncryptionKey(),
        GITHUB_CLIENT_SECRET: 'gh-client-secret',
        GOOGLE_CLIENT_SECRET: 'google-client-secret',
      },
    },
  );
  const audit = createMemoryAuditSink();
  const logs: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void logs.push(s) } });
  const clock = { now: () => NOW_MS };
  const gateway = await createGateway(config, { fetch: loopbackOnly, logger, audit, clock });
  const grants = gateway.grants;
  const h: Harness = {
    gateway,
    audit,
    logs,
    async plant(tokens, requestedScopes) {
      await grants.saveGrantFromTokens({
        user: caller.user,
        provider,
        client: caller.client,
        tokens: tokens as never,
        ...(requestedScopes ? { requestedScopes } : {}),
      });
    },
    async revoke() {
      return (await grants.revokeGrant(caller.user, provider)).provider;
    },
    call: (name, args) => gateway.callTool(caller, name, args),
  };
  return h;
}

/** Promise 1 of DESIGN.md: nothing token-shaped that a fake issued reaches an outcome, an audit record or a log. */
function expectNoCredentials(h: Harness, outcomes: ToolOutcome[], planted: string[]) {
  const text = JSON.stringify(outcomes) + JSON.stringify(h.audit.records) + h.logs.join('\n');
  for (const t of planted) expect(text).not.toContain(t);
  expect(text).not.toMatch(/gh[ur]_[A-Za-z0-9_-]{20,}/);
  expect(text).not.toMatch(/ya29_[A-Za-z0-9_-]{20,}/);
  expect(text).not.toContain('client-secret');
}

function failure(outcome: ToolOutcome) {
  expect(outcome.ok).toBe(false);
  return (outcome as Extract<ToolOutcome, { ok: false }>).error;
}

function success(outcome: ToolOutcome) {
  if (!outcome.ok) throw new Error(`expected success, got ${JSON.stringify(outcome.error)}`);
  return outcome.structured as Record<string, unknown>;
}

describe('GitHub (App user tokens: unscoped, rotated without grace)', () => {
  let gh: FakeGithub;
  let h: Harness;
  let planted: string[];
  const outcomes: ToolOutcome[] = [];
  const call = async (name: string, args: unknown) => {
    const o = await h.call(name, args);
    outcomes.push(o);
    return o;
  };

  const githubConfig = () => ({
    preset: 'github',
    clientId: 'Iv1.keyward',
    clientSecret: { env: 'GITHUB_CLIENT_SECRET' },
    apiBaseUrl: gh.apiBaseUrl,
    authorizationEndpoint: `${gh.url}/login/oauth/authorize`,
    tokenEndpoint: gh.tokenEndpoint,
  });

  /** A fresh gateway with a grant whose token pair the fake issued for `opts` (GitHub tokens carry no scopes). */
  async function start(opts: Parameters<FakeGithub['createGrant']>[0]) {
    h = await harness('github', githubConfig(), 'github.ts');
    const pair = gh.createGrant(opts);
    planted.push(pair.accessToken, pair.refreshToken);
    await h.plant({ access_token: pair.accessToken, refresh_token: pair.refreshToken, expires_in: 28800, scope: '' });
  }

  beforeAll(async () => {
    gh = await startFakeGithub({ clientId: 'Iv1.keyward', clientSecret: 'gh-client-secret', now: () => NOW_S });
  });
  afterAll(() => gh.close());

  beforeEach(async () => {
    gh.requests.length = 0;
    gh.tokenRequests.length = 0;
    gh.revocations.length = 0;
    gh.rateLimit.remaining = 5000;
    if (!gh.issues('octo-org', 'hello-world')) {
      gh.seedIssues('octo-org', 'hello-world', [{ title: 'first' }, { title: 'a PR', pullRequest: true }]);
    }
    planted = [];
    await start({ label: 'ana', login: 'ana' });
  });
  afterEach(async () => {
    if (!h) return;
    expectNoCredentials(h, outcomes, planted);
    outcomes.length = 0;
    await h.gateway.close();
  });

  test('lists issues with the grant token, unnarrowed, and the audit says so', async () => {
    const out = success(await call('github_list_issues', { owner: 'octo-org', repo: 'hello-world', per_page: 50 }));
    expect((out.items as { title: string }[]).map((i) => i.title)).toEqual(['a PR', 'first']);
    expect(gh.requests).toHaveLength(1);
    expect(gh.requests[0]).toMatchObject({
      rawPath: '/repos/octo-org/hello-world/issues',
      query: { per_page: '50' },
      headers: { accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28', 'user-agent': 'keyward' },
      tokenLabel: 'ana',
    });
    expect(gh.tokenRequests).toHaveLength(0);
    expect(h.audit.records).toEqual([
      expect.objectContaining({
        tool: 'github_list_issues',
        provider: 'github',
        scopes: [],
        outcome: 'ok',
        status: 200,
        strategy: 'refresh',
        narrowed: false,
        grantId: expect.any(String),
        credentialId: expect.any(String),
      }),
    ]);
  });

  test('creates an issue and comments on it (201)', async () => {
    const issue = success(
      await call('github_create_issue', { owner: 'octo-org', repo: 'hello-world', title: 'From the agent' }),
    );
    expect(issue).toMatchObject({ title: 'From the agent', user: { login: 'ana' } });
    const comment = success(
      await call('github_comment_issue', {
        owner: 'octo-org',
        repo: 'hello-world',
        issue_number: issue.number,
        body: 'Done.',
      }),
    );
    expect(comment).toMatchObject({ body: 'Done.' });
    expect(gh.requests.map((r) => [r.method, r.rawPath, r.body])).toEqual([
      ['POST', '/repos/octo-org/hello-world/issues', { title: 'From the agent' }],
      ['POST', `/repos/octo-org/hello-world/issues/${issue.number}/comments`, { body: 'Done.' }],
    ]);
    expect(h.audit.records.map((r) => [r.tool, r.outcome, r.status])).toEqual([
      ['github_create_issue', 'ok', 201],
      ['github_comment_issue', 'ok', 201],
    ]);
  });

  test('a 401 on a list: one refresh (form post, rotation), one retry, and the rotated pair is kept', async () => {
    gh.expireAccessTokens();
    success(await call('github_list_issues', { owner: 'octo-org', repo: 'hello-world' }));
    expect(gh.requests.map((r) => r.tokenLabel ?? 401)).toEqual([401, 'ana']);
    expect(gh.tokenRequests).toHaveLength(1);
    expect(gh.tokenRequests[0]).toMatchObject({
      method: 'POST',
      headers: {
        accept: 'application/json',
        'content-type': expect.stringContaining('application/x-www-form-urlencoded'),
      },
      body: {
        grant_type: 'refresh_token',
        refresh_token: 'present',
        client_id: 'Iv1.keyward',
        client_secret: 'present',
      },
    });
    // The old refresh token died with the rotation; a second expiry works only if the new one was stored.
    gh.expireAccessTokens();
    success(await call('github_list_issues', { owner: 'octo-org', repo: 'hello-world' }));
    expect(gh.tokenRequests).toHaveLength(2);
  });

  test('parallel calls after an expiry share one refresh: a second would kill the grant', async () => {
    gh.expireAccessTokens();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => call('github_list_issues', { owner: 'octo-org', repo: 'hello-world' })),
    );
    for (const r of results) success(r);
    expect(gh.tokenRequests).toHaveLength(1);
  });

  test('a 401 on a create is renewed but not repeated', async () => {
    gh.expireAccessTokens();
    const before = gh.issues('octo-org', 'hello-world')?.length;
    const err = failure(await call('github_create_issue', { owner: 'octo-org', repo: 'hello-world', title: 'once' }));
    expect(err).toMatchObject({ code: 'downstream_error', status: 401, reason: 'credential_renewed' });
    expect(gh.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(gh.issues('octo-org', 'hello-world')?.length).toBe(before);
    // The renewed credential serves the agent's retry without another refresh.
    success(await call('github_create_issue', { owner: 'octo-org', repo: 'hello-world', title: 'once' }));
    expect(gh.tokenRequests).toHaveLength(1);
  });

  test('a dead refresh token (bad_refresh_token) is reauth_required with a link, and the grant stops refreshing', async () => {
    gh.expireAccessTokens();
    gh.expireRefreshTokens();
    const err = failure(await call('github_list_issues', { owner: 'octo-org', repo: 'hello-world' }));
    expect(err).toMatchObject({
      code: 'reauth_required',
      provider: 'github',
      reason: 'invalid_grant',
      retryable: false,
      authorizeUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:9\/connect\/github/),
    });
    expect(gh.tokenRequests).toHaveLength(1);
    const again = failure(await call('github_list_issues', { owner: 'octo-org', repo: 'hello-world' }));
    expect(again.code).toBe('reauth_required');
    expect(gh.tokenRequests).toHaveLength(1);
  });

  test('a rate limit (403, x-ratelimit-remaining: 0) is retryable with the seconds until the reset', async () => {
    gh.rateLimit.remaining = 0;
    gh.rateLimit.reset = NOW_S + 90;
    const err = failure(await call('github_list_issues', { owner: 'octo-org', repo: 'hello-world' }));
    expect(err).toMatchObject({
      code: 'downstream_error',
      retryable: true,
      retryAfterSeconds: 90,
      reason: 'rate_limited',
    });
  });

  test('422 Validation Failed is downstream_error with status 422', async () => {
    const err = failure(
      await call('github_create_issue', { owner: 'octo-org', repo: 'hello-world', title: 't', milestone: 99 }),
    );
    expect(err).toMatchObject({ code: 'downstream_error', status: 422, retryable: false });
    expect(err.message).toContain('Validation Failed');
  });

  test('403 without the issues permission is a plain downstream_error (no scope to ask for)', async () => {
    await h.gateway.close();
    await start({ label: 'reader', issues: 'read' });
    const err = failure(await call('github_create_issue', { owner: 'octo-org', repo: 'hello-world', title: 't' }));
    expect(err).toMatchObject({ code: 'downstream_error', status: 403, retryable: false });
  });

  test('revoking deletes the grant at GitHub (DELETE /applications/{client_id}/grant), then calls need reauth', async () => {
    success(await call('github_list_issues', { owner: 'octo-org', repo: 'hello-world' }));
    expect(await h.revoke()).toMatchObject({ supported: true, revoked: true });
    expect(gh.revocations).toEqual([{ kind: 'grant', tokenLabel: 'ana' }]);
    const err = failure(await call('github_list_issues', { owner: 'octo-org', repo: 'hello-world' }));
    expect(err).toMatchObject({ code: 'reauth_required', reason: 'revoked' });
  });

  test.each(['../../admin', 'evil.com/x', '%2e%2e', '..'])('owner %j is refused before any request', async (owner) => {
    const err = failure(await call('github_list_issues', { owner, repo: 'hello-world' }));
    expect(err.code).toBe('invalid_arguments');
    expect(gh.requests).toHaveLength(0);
    expect(gh.tokenRequests).toHaveLength(0);
    expect(h.audit.records[0]).toMatchObject({ outcome: 'error', errorCode: 'invalid_arguments' });
  });
});

describe('Google Calendar (narrowed refresh, no rotation)', () => {
  let g: FakeGoogle;
  let h: Harness;
  let planted: string[];
  const outcomes: ToolOutcome[] = [];
  const call = async (name: string, args: unknown) => {
    const o = await h.call(name, args);
    outcomes.push(o);
    return o;
  };
  const googleConfig = () => ({
    preset: 'google',
    clientId: 'keyward.apps.googleusercontent.com',
    clientSecret: { env: 'GOOGLE_CLIENT_SECRET' },
    scopes: [CALENDAR_READONLY, CALENDAR_EVENTS],
    apiBaseUrl: g.apiBaseUrl,
    authorizationEndpoint: `${g.url}/o/oauth2/v2/auth`,
    tokenEndpoint: g.tokenEndpoint,
    revocationEndpoint: g.revocationEndpoint,
  });
  const event = { summary: 'Standup', start: { date: '2030-01-07' }, end: { date: '2030-01-08' } };

  /** Plants a grant whose refresh token holds `actual`; the store records `recorded` (default: the same). */
  async function grant(actual: string[], recorded = actual) {
    const pair = g.createGrant(actual, { label: 'ana' });
    planted.push(pair.refreshToken, pair.accessToken);
    // Only the refresh token is planted: every call's credential then comes from a narrowed refresh.
    await h.plant({ refresh_token: pair.refreshToken, scope: recorded.join(' ') });
  }

  beforeAll(async () => {
    g = await startFakeGoogle({ clientId: 'keyward.apps.googleusercontent.com', clientSecret: 'google-client-secret' });
    g.seedEvents('primary', [{ summary: 'Existing', start: { date: '2030-01-01' }, end: { date: '2030-01-02' } }]);
  });
  afterAll(() => g.close());
  beforeEach(async () => {
    g.requests.length = 0;
    g.tokenRequests.length = 0;
    g.revocations.length = 0;
    g.rateLimit = undefined;
    g.narrowOnRefresh = true;
    planted = [];
    h = await harness('google', googleConfig(), 'google-calendar.ts');
  });
  afterEach(async () => {
    if (!h) return;
    expectNoCredentials(h, outcomes, planted);
    outcomes.length = 0;
    await h.gateway.close();
  });

  test('each tool gets a credential narrowed to its own scope', async () => {
    await grant([CALENDAR_READONLY, CALENDAR_EVENTS]);
    const list = success(
      await call('calendar_list_events', { timeMin: '2030-01-01T00:00:00+01:00', singleEvents: true }),
    );
    expect(list).toMatchObject({ kind: 'calendar#events', items: [expect.objectContaining({ summary: 'Existing' })] });
    const created = success(await call('calendar_create_event', event));
    expect(created).toMatchObject({ summary: 'Standup', status: 'confirmed' });

    expect(g.tokenRequests.map((r) => (r.body as Record<string, string>).scope)).toEqual([
      CALENDAR_READONLY,
      CALENDAR_EVENTS,
    ]);
    expect(g.requests[0]).toMatchObject({
      method: 'GET',
      segments: ['calendar', 'v3', 'calendars', 'primary', 'events'],
      query: { timeMin: '2030-01-01T00:00:00+01:00', singleEvents: 'true' },
    });
    expect(h.audit.records.map((r) => [r.tool, r.outcome, r.narrowed, r.scopes])).toEqual([
      ['calendar_list_events', 'ok', true, [CALENDAR_READONLY]],
      ['calendar_create_event', 'ok', true, [CALENDAR_EVENTS]],
    ]);
    // A second list reuses the cached narrowed credential.
    success(await call('calendar_list_events', {}));
    expect(g.tokenRequests).toHaveLength(2);
  });

  test('where Google ignores the narrower scope, the audit says narrowed: false', async () => {
    g.narrowOnRefresh = false;
    await grant([CALENDAR_READONLY, CALENDAR_EVENTS]);
    success(await call('calendar_list_events', {}));
    expect(h.audit.records[0]).toMatchObject({ outcome: 'ok', narrowed: false });
  });

  test('a grant without the scope is insufficient_scope before any request, with a link for the added scope', async () => {
    await grant([CALENDAR_READONLY]);
    const err = failure(await call('calendar_create_event', event));
    expect(err).toMatchObject({ code: 'insufficient_scope', provider: 'google', missingScopes: [CALENDAR_EVENTS] });
    expect(new URL(err.authorizeUrl as string).searchParams.get('scope')).toBe(CALENDAR_EVENTS);
    expect(g.requests).toHaveLength(0);
  });

  test("the API's 403 ACCESS_TOKEN_SCOPE_INSUFFICIENT is insufficient_scope naming the missing scope", async () => {
    // The store believes both scopes were granted, but the user unticked one on the consent screen.
    g.narrowOnRefresh = false;
    await grant([CALENDAR_READONLY], [CALENDAR_READONLY, CALENDAR_EVENTS]);
    const err = failure(await call('calendar_create_event', event));
    expect(g.requests.at(-1)?.method).toBe('POST');
    expect(err).toMatchObject({
      code: 'insufficient_scope',
      provider: 'google',
      missingScopes: [CALENDAR_EVENTS],
      authorizeUrl: expect.stringContaining('/connect/google'),
    });
  });

  test('a 401 on a list: one refresh, one retry; the refresh token is not rotated', async () => {
    await grant([CALENDAR_READONLY, CALENDAR_EVENTS]);
    success(await call('calendar_list_events', {}));
    g.expireAccessTokens();
    success(await call('calendar_list_events', {}));
    expect(g.requests.map((r) => r.tokenLabel ?? 401)).toEqual(['ana', 401, 'ana']);
    expect(g.tokenRequests).toHaveLength(2);
  });

  test('a dead refresh token (invalid_grant) is reauth_required', async () => {
    await grant([CALENDAR_READONLY, CALENDAR_EVENTS]);
    g.expireRefreshTokens();
    const err = failure(await call('calendar_list_events', {}));
    expect(err).toMatchObject({ code: 'reauth_required', reason: 'invalid_grant', provider: 'google' });
    expect(g.requests).toHaveLength(0);
  });

  test.each(['rateLimitExceeded', 'userRateLimitExceeded'] as const)(
    '403 %s is a retryable downstream_error',
    async (reason) => {
      await grant([CALENDAR_READONLY]);
      g.rateLimit = { reason, retryAfterSeconds: 30 };
      const err = failure(await call('calendar_list_events', {}));
      expect(err).toMatchObject({ code: 'downstream_error', retryable: true, retryAfterSeconds: 30 });
    },
  );

  test('revoking calls the RFC 7009 endpoint, then calls need reauth', async () => {
    await grant([CALENDAR_READONLY]);
    expect(await h.revoke()).toMatchObject({ supported: true, revoked: true });
    expect(g.revocations).toEqual(['ana']);
    const err = failure(await call('calendar_list_events', {}));
    expect(err).toMatchObject({ code: 'reauth_required', reason: 'revoked' });
    expect(g.requests).toHaveLength(0);
  });

  test.each(['../../admin', 'evil.com/x', '%2e%2e', '%252e%252e'])(
    'calendarId %j never leaves the API origin',
    async (calendarId) => {
      await grant([CALENDAR_READONLY]);
      const err = failure(await call('calendar_list_events', { calendarId }));
      expect(err.code).toBe('invalid_arguments');
      expect(g.requests).toHaveLength(0);
      expect(g.tokenRequests).toHaveLength(0);
    },
  );

  test('a calendar id with "#" and "@" stays one encoded segment', async () => {
    const calendarId = 'en.usa#holiday@group.v.calendar.google.com';
    g.addCalendar(calendarId);
    await grant([CALENDAR_READONLY]);
    success(await call('calendar_list_events', { calendarId }));
    expect(g.requests[0]?.rawPath).toBe(`/calendar/v3/calendars/${encodeURIComponent(calendarId)}/events`);
  });
});
