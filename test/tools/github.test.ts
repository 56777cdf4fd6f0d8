// The GitHub tools against a loopback GitHub REST API: request mapping, result shapes, and error bodies read.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { ResolvedProvider } from '../../src/config/types.js';
import { classifyApiFailure } from '../../src/downstream/classify.js';
import { type DownstreamResponse, sendDownstream } from '../../src/downstream/send.js';
import { InvalidArgumentsError } from '../../src/errors.js';
import { github as githubPreset } from '../../src/providers/presets/github.js';
import { createProviderRuntime } from '../../src/providers/runtime.js';
import { parseBody as parseTokenBody } from '../../src/providers/tokenClient.js';
import { TokenEndpointError } from '../../src/providers/types.js';
import { buildDownstreamRequest } from '../../src/tools/request.js';
import type { ToolDefinition } from '../../src/tools/types.js';
import githubTools, { githubCommentIssue, githubCreateIssue, githubListIssues } from '../../tools/github.js';
import { type FakeGithub, startFakeGithub } from '../fakes/github.js';

let fake: FakeGithub;
const WRITE = 'ghu_write';
const READ = 'ghu_read';
const NOW = 1_760_000_000;

beforeAll(async () => {
  fake = await startFakeGithub({ now: () => NOW });
  fake.addToken(WRITE, { label: 'write', login: 'monalisa', issues: 'write' });
  fake.addToken(READ, { label: 'read', issues: 'read' });
  fake.seedIssues('octo-org', 'hello-world', [
    { title: 'old bug', labels: ['bug'], createdAt: '2024-01-01T00:00:00Z', updatedAt: '2024-01-02T00:00:00Z' },
    { title: 'a PR', pullRequest: true, createdAt: '2024-02-01T00:00:00Z' },
    { title: 'closed', state: 'closed', createdAt: '2024-03-01T00:00:00Z' },
    {
      title: 'new bug',
      labels: ['bug', 'p1'],
      assignees: ['octocat'],
      user: 'monalisa',
      createdAt: '2024-04-01T00:00:00Z',
    },
  ]);
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.rateLimit.remaining = 5000;
});

// biome-ignore lint/suspicious/noExplicitAny: each test passes its own tool's arguments
async function call(tool: ToolDefinition<any, any>, args: unknown, token = WRITE): Promise<DownstreamResponse> {
  const req = buildDownstreamRequest(fake.apiBaseUrl, tool.request(tool.input.parse(args)));
  return sendDownstream(req, { authorization: `Bearer ${token}`, timeoutMs: 5_000, maxResponseBytes: 1 << 20 });
}

function classify(res: DownstreamResponse) {
  return classifyApiFailure(res, {
    provider: 'github',
    grantedScopes: [],
    toolScopes: [],
    knownScopes: [],
    nowMs: NOW * 1000,
  }).error;
}

describe('the pack', () => {
  test('names no scopes: GitHub App user tokens have none', () => {
    expect(githubTools.map((t) => [t.name, t.provider, t.scopes])).toEqual([
      ['github_list_issues', 'github', []],
      ['github_create_issue', 'github', []],
      ['github_comment_issue', 'github', []],
    ]);
    expect(githubListIssues.annotations).toMatchObject({ readOnly: true, idempotent: true });
    expect(githubCreateIssue.annotations).toMatchObject({ readOnly: false, idempotent: false });
    expect(githubCommentIssue.annotations).toMatchObject({ readOnly: false, idempotent: false });
  });

  test('every request carries the headers GitHub asks for', async () => {
    await call(githubListIssues, { owner: 'octo-org', repo: 'hello-world' });
    expect(fake.requests[0]?.headers).toMatchObject({
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'keyward',
      authorization: 'present',
    });
  });
});

describe('github_list_issues', () => {
  test('maps every documented query parameter', async () => {
    const res = await call(githubListIssues, {
      owner: 'octo-org',
      repo: 'hello-world',
      state: 'all',
      labels: ['bug', 'p1'],
      assignee: 'octocat',
      creator: 'monalisa',
      since: '2024-01-01T00:00:00Z',
      sort: 'updated',
      direction: 'asc',
      per_page: 100,
      page: 1,
    });
    expect(res.status).toBe(200);
    expect(fake.requests[0]).toMatchObject({
      method: 'GET',
      rawPath: '/repos/octo-org/hello-world/issues',
      query: {
        state: 'all',
        labels: 'bug,p1',
        assignee: 'octocat',
        creator: 'monalisa',
        since: '2024-01-01T00:00:00Z',
        sort: 'updated',
        direction: 'asc',
        per_page: '100',
        page: '1',
      },
    });
    expect(JSON.parse(res.text).map((i: { title: string }) => i.title)).toEqual(['new bug']);
  });

  test('sends only what was given, and the result (wrapped as the gateway does) fits the output schema', async () => {
    const res = await call(githubListIssues, { owner: 'octo-org', repo: 'hello-world' });
    expect(fake.requests[0]?.query).toEqual({});
    const items = JSON.parse(res.text);
    expect(items.map((i: { title: string }) => i.title)).toEqual(['new bug', 'a PR', 'old bug']);
    expect(items[1].pull_request).toEqual(expect.any(Object));
    expect(items[0].pull_request).toBeUndefined();
    expect(githubListIssues.output?.safeParse({ items }).success).toBe(true);
  });

  test('pages are linked with the Link header', async () => {
    const res = await call(githubListIssues, {
      owner: 'octo-org',
      repo: 'hello-world',
      state: 'all',
      per_page: 1,
      page: 2,
    });
    expect(JSON.parse(res.text)).toHaveLength(1);
    const link = res.headers.get('link') ?? '';
    expect(link).toMatch(/<[^>]*[?&]page=3[^>]*>; rel="next"/);
    expect(link).toMatch(/<[^>]*[?&]page=4[^>]*>; rel="last"/);
    expect(link).toMatch(/<[^>]*[?&]page=1[^>]*>; rel="prev"/);
  });

  test.each([
    [{ per_page: 101 }, 'per_page'],
    [{ per_page: 0 }, 'per_page'],
    [{ page: 0 }, 'page'],
    [{ since: '2024-01-01' }, 'since'],
    [{ state: 'merged' }, 'state'],
    [{ labels: ['a,b'] }, 'labels.0'],
    [{ owner: 'octo/org' }, 'owner'],
    [{ repo: '..' }, 'repo'],
  ])('refuses %j before any request', (args, field) => {
    const r = githubListIssues.input.safeParse({ owner: 'o', repo: 'r', ...args });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain(field);
  });
});

describe('github_create_issue', () => {
  test('POSTs {title, body, assignees, labels, milestone} and gets 201 with the issue', async () => {
    const args = { title: 'Crash on start', body: 'Steps…', assignees: ['octocat'], labels: ['bug'], milestone: 1 };
    const res = await call(githubCreateIssue, { owner: 'octo-org', repo: 'hello-world', ...args });
    expect(res.status).toBe(201);
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      rawPath: '/repos/octo-org/hello-world/issues',
      headers: { 'content-type': 'application/json', accept: 'application/vnd.github+json' },
      body: args,
      tokenLabel: 'write',
    });
    const issue = JSON.parse(res.text);
    expect(issue).toMatchObject({ title: 'Crash on start', state: 'open', user: { login: 'monalisa' } });
    expect(githubCreateIssue.output?.safeParse(issue).success).toBe(true);
  });

  test('422 Validation Failed, with errors[].code, is a downstream_error with status 422', async () => {
    const res = await call(githubCreateIssue, {
      owner: 'octo-org',
      repo: 'hello-world',
      title: 't',
      assignees: ['stranger'],
    });
    expect(res.status).toBe(422);
    expect(JSON.parse(res.text)).toMatchObject({
      message: 'Validation Failed',
      errors: [{ field: 'assignees', code: 'invalid' }],
      documentation_url: expect.any(String),
    });
    expect(classify(res).toPayload()).toMatchObject({ code: 'downstream_error', status: 422, retryable: false });
  });

  test('403 for a token without issues:write names the permission and is not retryable', async () => {
    const res = await call(githubCreateIssue, { owner: 'octo-org', repo: 'hello-world', title: 't' }, READ);
    expect(res.status).toBe(403);
    expect(res.headers.get('x-accepted-github-permissions')).toBe('issues=write');
    expect(classify(res).toPayload()).toMatchObject({ code: 'downstream_error', status: 403, retryable: false });
  });
});

describe('github_comment_issue', () => {
  test('POSTs {body} to the issue and gets 201 with the comment', async () => {
    const res = await call(githubCommentIssue, {
      owner: 'octo-org',
      repo: 'hello-world',
      issue_number: 1,
      body: 'LGTM',
    });
    expect(res.status).toBe(201);
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      rawPath: '/repos/octo-org/hello-world/issues/1/comments',
      body: { body: 'LGTM' },
    });
    const comment = JSON.parse(res.text);
    expect(comment).toMatchObject({ body: 'LGTM', user: { login: 'monalisa' } });
    expect(githubCommentIssue.output?.safeParse(comment).success).toBe(true);
    expect(fake.issues('octo-org', 'hello-world')?.[0]?.comments).toBe(1);
  });

  test('a missing issue is a 404 downstream_error', async () => {
    const res = await call(githubCommentIssue, {
      owner: 'octo-org',
      repo: 'hello-world',
      issue_number: 999,
      body: 'x',
    });
    expect(classify(res).toPayload()).toMatchObject({ code: 'downstream_error', status: 404 });
  });
});

describe('error bodies', () => {
  test('401 "Bad credentials" for an unknown token', async () => {
    const res = await call(githubListIssues, { owner: 'octo-org', repo: 'hello-world' }, 'ghu_nope');
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toEqual({ message: 'Bad credentials', documentation_url: expect.any(String) });
  });

  test('403 with x-ratelimit-remaining: 0 is a retryable downstream_error with retryAfterSeconds from the reset', async () => {
    fake.rateLimit.remaining = 0;
    fake.rateLimit.reset = NOW + 120;
    const res = await call(githubListIssues, { owner: 'octo-org', repo: 'hello-world' });
    expect(res.status).toBe(403);
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(classify(res).toPayload()).toMatchObject({
      code: 'downstream_error',
      reason: 'rate_limited',
      retryable: true,
      retryAfterSeconds: 120,
    });
  });
});

describe('hostile owner and repo values', () => {
  // The tool's schema refuses these; the path tag must refuse them too, should a schema ever let them by.
  test.each(['../../admin', 'evil.com/x', '%2e%2e', '..', '.', '%252e%252e', 'a\\b', '%2F'])(
    '%s is refused by the schema and by the path builder',
    (hostile) => {
      for (const field of ['owner', 'repo'] as const) {
        const args = { owner: 'octo-org', repo: 'hello-world', [field]: hostile };
        expect(githubListIssues.input.safeParse(args).success).toBe(false);
        expect(() => buildDownstreamRequest(fake.apiBaseUrl, githubListIssues.request(args as never))).toThrow(
          InvalidArgumentsError,
        );
      }
    },
  );

  test.each(['evil.com', '@evil.com', 'a?b', 'a#b', 'x:y'])(
    '%s, should it reach the path builder, stays one segment on the API origin',
    async (hostile) => {
      const req = buildDownstreamRequest(
        fake.apiBaseUrl,
        githubListIssues.request({ owner: hostile, repo: 'hello-world' } as never),
      );
      expect(req.url.origin).toBe(fake.url);
      await sendDownstream(req, { authorization: `Bearer ${WRITE}`, timeoutMs: 5_000, maxResponseBytes: 1 << 20 });
      expect(fake.requests.at(-1)?.segments).toEqual(['repos', hostile, 'hello-world', 'issues']);
    },
  );
});

describe('the fake token endpoint, read through the github preset', () => {
  const config = (tokenEndpoint: string): ResolvedProvider =>
    ({
      name: 'github',
      preset: 'github',
      clientId: 'Iv1.keyward',
      clientSecret: 'gh-secret',
      scopes: [],
      strategy: 'refresh',
      apiBaseUrl: fake.apiBaseUrl,
      authorizationEndpoint: `${fake.url}/login/oauth/authorize`,
      tokenEndpoint,
    }) as ResolvedProvider;

  test('a refresh rotates the pair, and the old refresh token is then bad_refresh_token', async () => {
    const gh = await startFakeGithub({ clientId: 'Iv1.keyward', clientSecret: 'gh-secret' });
    try {
      const runtime = createProviderRuntime(config(gh.tokenEndpoint), githubPreset);
      const first = gh.createGrant();
      const tokens = await runtime.refresh(first.refreshToken);
      expect(gh.tokenRequests[0]?.headers.accept).toContain('application/json');
      expect(tokens.refreshToken).toMatch(/^ghr_/);
      expect(tokens.refreshToken).not.toBe(first.refreshToken);
      expect(tokens.expiresIn).toBe(28800);
      expect(gh.isValidToken(tokens.accessToken)).toBe(true);
      expect(gh.isValidToken(first.accessToken)).toBe(false);
      const err = await runtime.refresh(first.refreshToken).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenEndpointError);
      expect(err).toMatchObject({ kind: 'dead', oauthError: 'bad_refresh_token' });
    } finally {
      await gh.close();
    }
  });

  test('without Accept: application/json the answer is form-encoded, and the token client still reads it', async () => {
    const gh = await startFakeGithub();
    try {
      const { refreshToken } = gh.createGrant();
      const res = await fetch(gh.tokenEndpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: 'x' }),
      });
      const contentType = res.headers.get('content-type');
      expect(contentType).toContain('application/x-www-form-urlencoded');
      const body = parseTokenBody(await res.text(), contentType);
      expect(body).toMatchObject({
        access_token: expect.stringMatching(/^ghu_/),
        expires_in: '28800',
        token_type: 'bearer',
      });
    } finally {
      await gh.close();
    }
  });

  test('bad_refresh_token is dead whether GitHub says it with 200 or 400', async () => {
    const gh = await startFakeGithub({ tokenErrorStatus: 400 });
    try {
      const err = await createProviderRuntime(config(gh.tokenEndpoint), githubPreset)
        .refresh('ghr_unknown')
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'dead', oauthError: 'bad_refresh_token', status: 400 });
    } finally {
      await gh.close();
    }
  });
});
