// A loopback GitHub: the REST issues endpoints and the GitHub App user-token endpoint, in their documented wire formats.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  bearerOf,
  listenLoopback,
  maskedForm,
  mintToken,
  parseBody,
  type RecordedRequest,
  recordRequest,
  sendForm,
  sendJson,
} from './loopback.js';

// Only the shapes below are documented facts (../shared/PROVIDERS.md); message texts are the fake's own.
const DOCS = 'https://docs.github.com/rest';

export interface GithubUser {
  login: string;
  id: number;
}

export interface GithubLabel {
  id: number;
  name: string;
}

export interface GithubIssue {
  id: number;
  number: number;
  title: string;
  state: 'open' | 'closed';
  body: string | null;
  user: GithubUser;
  labels: GithubLabel[];
  assignees: GithubUser[];
  comments: number;
  html_url: string;
  created_at: string;
  updated_at: string;
  /** Present on pull requests only: the issues list returns both. */
  pull_request?: { url: string; html_url: string };
  milestone?: { number: number; title: string } | null;
}

export type IssuesPermission = 'read' | 'write';

interface TokenInfo {
  label: string;
  login: string;
  issues: IssuesPermission;
  /** The refresh token it was issued with: rotation kills the pair at once. */
  refreshToken?: string;
}

interface RefreshInfo {
  label: string;
  login: string;
  issues: IssuesPermission;
  accessToken: string;
}

export interface FakeGithubOptions {
  /** The GitHub App's client; the token endpoint refuses others. */
  clientId?: string;
  clientSecret?: string;
  /** HTTP status for a token endpoint error. The docs don't say; the fake defaults to 200. */
  tokenErrorStatus?: number;
  /** Seconds since the epoch, for created_at and x-ratelimit-reset. */
  now?: () => number;
}

export interface IssueSeed {
  title?: string;
  state?: 'open' | 'closed';
  body?: string | null;
  user?: string;
  labels?: string[];
  assignees?: string[];
  comments?: number;
  pullRequest?: boolean;
  createdAt?: string;
  updatedAt?: string;
}

export interface FakeGithub {
  url: string;
  /** The value for `apiBaseUrl`. */
  apiBaseUrl: string;
  /** The value for `tokenEndpoint` (GitHub's own is https://github.com/login/oauth/access_token). */
  tokenEndpoint: string;
  /** REST API requests, oldest first. */
  requests: RecordedRequest[];
  /** Token endpoint requests, with secret parameters replaced by "present". */
  tokenRequests: RecordedRequest[];
  /** DELETE /applications/{client_id}/token|grant calls. */
  revocations: { kind: 'token' | 'grant'; tokenLabel?: string }[];
  /** The rate limit the API reports; at 0 every request gets the documented 403. */
  rateLimit: { limit: number; remaining: number; reset: number };
  /** An access token the API accepts. */
  addToken(token: string, opts?: { label?: string; login?: string; issues?: IssuesPermission }): void;
  /** A refresh token and access token pair, as an authorization would have produced. */
  createGrant(opts?: { label?: string; login?: string; issues?: IssuesPermission }): {
    accessToken: string;
    refreshToken: string;
  };
  /** Kills an access token (as revoking or expiring it would). */
  revokeToken(token: string): void;
  /** Kills a refresh token (as 6 months, or a revocation, would). */
  revokeRefreshToken(refreshToken: string): void;
  /** Kills every access token (as 8 hours would); refresh tokens stay good. */
  expireAccessTokens(): void;
  /** Kills every refresh token. */
  expireRefreshTokens(): void;
  isValidToken(token: string): boolean;
  /** Creates the repository if needed and adds issues to it. Returns them. */
  seedIssues(owner: string, repo: string, seeds: IssueSeed[]): GithubIssue[];
  issues(owner: string, repo: string): GithubIssue[] | undefined;
  /** Users that may be assigned; others get 422 `invalid`. */
  collaborators: Set<string>;
  /** Milestone numbers that exist in every repository. */
  milestones: Set<number>;
  close(): Promise<void>;
}

export async function startFakeGithub(opts: FakeGithubOptions = {}): Promise<FakeGithub> {
  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  const tokens = new Map<string, TokenInfo>();
  const refreshTokens = new Map<string, RefreshInfo>();
  const repos = new Map<string, { owner: string; repo: string; issues: GithubIssue[] }>();
  const collaborators = new Set(['octocat', 'monalisa']);
  const milestones = new Set([1]);
  const requests: RecordedRequest[] = [];
  const tokenRequests: RecordedRequest[] = [];
  const revocations: FakeGithub['revocations'] = [];
  const rateLimit = { limit: 5000, remaining: 5000, reset: now() + 3600 };
  let nextId = 1000;
  const users = new Map<string, number>();
  const userOf = (login: string): GithubUser => {
    if (!users.has(login)) users.set(login, 500 + users.size);
    return { login, id: users.get(login) as number };
  };
  const labelIds = new Map<string, number>();
  const labelOf = (name: string): GithubLabel => {
    if (!labelIds.has(name)) labelIds.set(name, 700 + labelIds.size);
    return { id: labelIds.get(name) as number, name };
  };
  const iso = (secs: number) => new Date(secs * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const repoKey = (owner: string, repo: string) => `${owner.toLowerCase()}/${repo.toLowerCase()}`;
  const ensureRepo = (owner: string, repo: string) => {
    const key = repoKey(owner, repo);
    let r = repos.get(key);
    if (!r) {
      r = { owner, repo, issues: [] };
      repos.set(key, r);
    }
    return r;
  };

  const newIssue = (
    r: { owner: string; repo: string; issues: GithubIssue[] },
    seed: IssueSeed & { milestone?: number },
  ): GithubIssue => {
    const number = r.issues.length + 1;
    const created = seed.createdAt ?? iso(now() - (1000 - number) * 60);
    const html = `https://github.com/${r.owner}/${r.repo}/${seed.pullRequest ? 'pull' : 'issues'}/${number}`;
    const issue: GithubIssue = {
      id: nextId++,
      number,
      title: seed.title ?? `Issue ${number}`,
      state: seed.state ?? 'open',
      body: seed.body === undefined ? null : seed.body,
      user: userOf(seed.user ?? 'octocat'),
      labels: (seed.labels ?? []).map(labelOf),
      assignees: (seed.assignees ?? []).map(userOf),
      comments: seed.comments ?? 0,
      html_url: html,
      created_at: created,
      updated_at: seed.updatedAt ?? created,
      milestone: seed.milestone !== undefined ? { number: seed.milestone, title: `Milestone ${seed.milestone}` } : null,
    };
    if (seed.pullRequest) {
      issue.pull_request = { url: `${apiBase}/repos/${r.owner}/${r.repo}/pulls/${number}`, html_url: html };
    }
    r.issues.push(issue);
    return issue;
  };

  const error = (
    res: ServerResponse,
    status: number,
    message: string,
    extra: Record<string, unknown> = {},
    headers = {},
  ) => sendJson(res, status, { message, ...extra, documentation_url: DOCS }, headers);

  const rateHeaders = () => ({
    'x-ratelimit-limit': String(rateLimit.limit),
    'x-ratelimit-remaining': String(rateLimit.remaining),
    'x-ratelimit-reset': String(rateLimit.reset),
    'x-ratelimit-used': String(rateLimit.limit - rateLimit.remaining),
  });

  // What GitHub answers when the app or the user lacks the permission; the header names the one it wanted.
  const needsIssuesWrite = (res: ServerResponse, headers: Record<string, string>) =>
    error(
      res,
      403,
      'Resource not accessible with this token',
      {},
      {
        ...headers,
        'x-accepted-github-permissions': 'issues=write',
      },
    );

  const handleApi = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const token = bearerOf(req);
    const info = token ? tokens.get(token) : undefined;
    const { rec, search } = recordRequest(req, parseBody(raw, req.headers['content-type']), info?.label);
    const { rawPath, segments } = rec;
    requests.push(rec);

    if (!info) return error(res, 401, 'Bad credentials');
    if (rateLimit.remaining <= 0) {
      return error(res, 403, `API rate limit exceeded for user ID ${userOf(info.login).id}.`, {}, rateHeaders());
    }
    rateLimit.remaining -= 1;
    const headers = rateHeaders();

    // /repos/{owner}/{repo}/issues[/{number}/comments]
    const [root, owner, repo, kind, num, sub, ...rest] = segments;
    if (root !== 'repos' || !owner || !repo || kind !== 'issues' || rest.length) {
      return error(res, 404, 'Not Found', {}, headers);
    }
    const r = repos.get(repoKey(owner, repo));
    if (!r) return error(res, 404, 'Not Found', {}, headers);

    if (num === undefined && req.method === 'GET') return listIssues(res, r, rawPath, search, headers);
    if (num === undefined && req.method === 'POST') {
      if (info.issues !== 'write') return needsIssuesWrite(res, headers);
      return createIssue(res, r, rec.body, info, headers);
    }
    if (num !== undefined && sub === 'comments' && req.method === 'POST') {
      const issue = /^\d+$/.test(num) ? r.issues.find((i) => i.number === Number(num)) : undefined;
      if (!issue) return error(res, 404, 'Not Found', {}, headers);
      if (info.issues !== 'write') return needsIssuesWrite(res, headers);
      return createComment(res, r, issue, rec.body, info, headers);
    }
    return error(res, 404, 'Not Found', {}, headers);
  };

  const listIssues = (
    res: ServerResponse,
    r: { issues: GithubIssue[] },
    rawPath: string,
    search: URLSearchParams,
    headers: Record<string, string>,
  ) => {
    const state = search.get('state') ?? 'open';
    const sort = search.get('sort') ?? 'created';
    const direction = search.get('direction') ?? 'desc';
    const invalid = [
      !['open', 'closed', 'all'].includes(state) && 'state',
      !['created', 'updated', 'comments'].includes(sort) && 'sort',
      !['asc', 'desc'].includes(direction) && 'direction',
    ].filter(Boolean) as string[];
    const since = search.get('since');
    if (since !== null && Number.isNaN(Date.parse(since))) invalid.push('since');
    if (invalid.length) {
      return error(
        res,
        422,
        'Validation Failed',
        { errors: invalid.map((field) => ({ resource: 'Issue', field, code: 'invalid' })) },
        headers,
      );
    }
    const perPage = Math.min(100, Math.max(1, Number(search.get('per_page') ?? 30) || 30));
    const page = Math.max(1, Number(search.get('page') ?? 1) || 1);
    const labels = (search.get('labels') ?? '').split(',').filter(Boolean);
    const assignee = search.get('assignee');
    const creator = search.get('creator');

    let items = r.issues.filter((i) => state === 'all' || i.state === state);
    if (labels.length) items = items.filter((i) => labels.every((l) => i.labels.some((x) => x.name === l)));
    if (assignee === 'none') items = items.filter((i) => i.assignees.length === 0);
    else if (assignee === '*') items = items.filter((i) => i.assignees.length > 0);
    else if (assignee) items = items.filter((i) => i.assignees.some((a) => a.login === assignee));
    if (creator) items = items.filter((i) => i.user.login === creator);
    if (since) items = items.filter((i) => Date.parse(i.updated_at) >= Date.parse(since));
    const key = (i: GithubIssue) =>
      sort === 'comments' ? i.comments : Date.parse(sort === 'updated' ? i.updated_at : i.created_at);
    items = [...items].sort((a, b) => (direction === 'asc' ? key(a) - key(b) : key(b) - key(a)) || a.number - b.number);

    const last = Math.max(1, Math.ceil(items.length / perPage));
    const pageItems = items.slice((page - 1) * perPage, page * perPage);
    const link = (p: number) => {
      const q = new URLSearchParams(search);
      q.set('per_page', String(perPage));
      q.set('page', String(p));
      return `${apiBase}${rawPath}?${q.toString()}`;
    };
    const rels: string[] = [];
    if (page > 1) rels.push(`<${link(page - 1)}>; rel="prev"`);
    if (page < last) rels.push(`<${link(page + 1)}>; rel="next"`);
    if (page < last) rels.push(`<${link(last)}>; rel="last"`);
    if (page > 1) rels.push(`<${link(1)}>; rel="first"`);
    sendJson(res, 200, pageItems, { ...headers, ...(rels.length ? { link: rels.join(', ') } : {}) });
  };

  const createIssue = (
    res: ServerResponse,
    r: { owner: string; repo: string; issues: GithubIssue[] },
    body: unknown,
    info: TokenInfo,
    headers: Record<string, string>,
  ) => {
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const errors: Record<string, unknown>[] = [];
    if (b.title === undefined || b.title === null || b.title === '') {
      errors.push({ resource: 'Issue', field: 'title', code: 'missing_field' });
    }
    const assignees = Array.isArray(b.assignees) ? (b.assignees as unknown[]) : [];
    for (const a of assignees) {
      if (typeof a !== 'string' || !collaborators.has(a)) {
        errors.push({ resource: 'Issue', field: 'assignees', code: 'invalid', value: a });
      }
    }
    if (b.milestone !== undefined && b.milestone !== null && !milestones.has(Number(b.milestone))) {
      errors.push({ resource: 'Issue', field: 'milestone', code: 'invalid', value: b.milestone });
    }
    if (errors.length) return error(res, 422, 'Validation Failed', { errors }, headers);
    const issue = newIssue(r, {
      title: String(b.title),
      body: typeof b.body === 'string' ? b.body : null,
      user: info.login,
      labels: Array.isArray(b.labels) ? (b.labels as unknown[]).map(String) : [],
      assignees: assignees as string[],
      ...(typeof b.milestone === 'number' ? { milestone: b.milestone } : {}),
      createdAt: iso(now()),
    });
    sendJson(res, 201, issue, { ...headers, location: `${apiBase}/repos/${r.owner}/${r.repo}/issues/${issue.number}` });
  };

  const createComment = (
    res: ServerResponse,
    r: { owner: string; repo: string },
    issue: GithubIssue,
    body: unknown,
    info: TokenInfo,
    headers: Record<string, string>,
  ) => {
    const text = (body as { body?: unknown } | undefined)?.body;
    if (typeof text !== 'string' || text === '') {
      return error(
        res,
        422,
        'Validation Failed',
        { errors: [{ resource: 'IssueComment', field: 'body', code: 'missing_field' }] },
        headers,
      );
    }
    issue.comments += 1;
    const id = nextId++;
    const at = iso(now());
    issue.updated_at = at;
    const comment = {
      id,
      url: `${apiBase}/repos/${r.owner}/${r.repo}/issues/comments/${id}`,
      html_url: `${issue.html_url}#issuecomment-${id}`,
      issue_url: `${apiBase}/repos/${r.owner}/${r.repo}/issues/${issue.number}`,
      body: text,
      user: userOf(info.login),
      created_at: at,
      updated_at: at,
    };
    sendJson(res, 201, comment, { ...headers, location: comment.url });
  };

  // The user-token endpoint: form-encoded answers unless the client asks for JSON (documented quirk).
  const handleToken = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const form = new URLSearchParams(raw);
    tokenRequests.push(recordRequest(req, maskedForm(form)).rec);
    const wantsJson = (req.headers.accept ?? '').includes('application/json');
    const reply = (status: number, body: Record<string, string | number>) => {
      if (wantsJson) return sendJson(res, status, body);
      const flat: Record<string, string> = {};
      for (const [k, v] of Object.entries(body)) flat[k] = String(v);
      sendForm(res, status, flat);
    };
    const fail = (code: string, description: string) =>
      reply(opts.tokenErrorStatus ?? 200, { error: code, error_description: description, error_uri: DOCS });

    if (req.method !== 'POST') return fail('unsupported_method', 'POST only');
    if (opts.clientId && form.get('client_id') !== opts.clientId) return fail('invalid_client', 'unknown client');
    if (opts.clientSecret && form.get('client_secret') !== opts.clientSecret) {
      return fail('invalid_client', 'the client secret does not match');
    }
    if (form.get('grant_type') !== 'refresh_token') return fail('unsupported_grant_type', 'refresh_token only');
    const presented = form.get('refresh_token') ?? '';
    const grant = refreshTokens.get(presented);
    if (!grant) return fail('bad_refresh_token', 'The refresh token passed is incorrect or expired.');
    // Rotation without grace: the old pair dies the moment the new one is issued.
    refreshTokens.delete(presented);
    tokens.delete(grant.accessToken);
    const pair = issuePair(grant);
    reply(200, {
      access_token: pair.accessToken,
      expires_in: 28800,
      refresh_token: pair.refreshToken,
      refresh_token_expires_in: 15897600,
      scope: '',
      token_type: 'bearer',
    });
  };

  const issuePair = (g: { label: string; login: string; issues: IssuesPermission }) => {
    const accessToken = mintToken('ghu');
    const refreshToken = mintToken('ghr');
    tokens.set(accessToken, { label: g.label, login: g.login, issues: g.issues, refreshToken });
    refreshTokens.set(refreshToken, { label: g.label, login: g.login, issues: g.issues, accessToken });
    return { accessToken, refreshToken };
  };

  // DELETE /applications/{client_id}/token|grant with Basic auth and {"access_token"}: 204.
  const handleRevoke = (req: IncomingMessage, res: ServerResponse, raw: string, kind: 'token' | 'grant') => {
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const [id, secret] = basic
      ? Buffer.from(basic[1] as string, 'base64')
          .toString('utf8')
          .split(':')
      : [];
    if (!basic || (opts.clientId && id !== opts.clientId) || (opts.clientSecret && secret !== opts.clientSecret)) {
      return error(res, 401, 'Requires authentication');
    }
    const accessToken = (parseBody(raw, 'application/json') as { access_token?: unknown } | undefined)?.access_token;
    const info = typeof accessToken === 'string' ? tokens.get(accessToken) : undefined;
    if (!info) return error(res, 404, 'Not Found');
    revocations.push({ kind, tokenLabel: info.label });
    const victims =
      kind === 'grant' ? [...tokens].filter(([, t]) => t.label === info.label) : [[accessToken, info] as const];
    for (const [t, i] of victims) {
      tokens.delete(t as string);
      if (i.refreshToken) refreshTokens.delete(i.refreshToken);
    }
    res.writeHead(204).end();
  };

  const server = await listenLoopback((req, res, raw) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    if (path === '/login/oauth/access_token') return handleToken(req, res, raw);
    const revoke = /^\/applications\/[^/]+\/(token|grant)$/.exec(path);
    if (revoke && req.method === 'DELETE') return handleRevoke(req, res, raw, revoke[1] as 'token' | 'grant');
    return handleApi(req, res, raw);
  });
  const apiBase = server.url;

  return {
    url: server.url,
    apiBaseUrl: server.url,
    tokenEndpoint: `${server.url}/login/oauth/access_token`,
    requests,
    tokenRequests,
    revocations,
    rateLimit,
    collaborators,
    milestones,
    addToken(token, o = {}) {
      tokens.set(token, { label: o.label ?? 'default', login: o.login ?? 'octocat', issues: o.issues ?? 'write' });
    },
    createGrant(o = {}) {
      return issuePair({ label: o.label ?? 'default', login: o.login ?? 'octocat', issues: o.issues ?? 'write' });
    },
    revokeToken(token) {
      tokens.delete(token);
    },
    revokeRefreshToken(refreshToken) {
      refreshTokens.delete(refreshToken);
    },
    expireAccessTokens() {
      tokens.clear();
    },
    expireRefreshTokens() {
      refreshTokens.clear();
    },
    isValidToken: (token) => tokens.has(token),
    seedIssues(owner, repo, seeds) {
      const r = ensureRepo(owner, repo);
      return seeds.map((s) => newIssue(r, s));
    },
    issues: (owner, repo) => repos.get(repoKey(owner, repo))?.issues,
    close: () => server.close(),
  };
}
