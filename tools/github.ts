// GitHub tools: list issues, open an issue, comment on one, through a GitHub App's user token.
import { z } from 'zod';
import { defineTool } from '../src/tools/define.js';
import { path } from '../src/tools/request.js';

/**
 * GitHub App user tokens carry no OAuth scopes: what a call may do is the app's permissions
 * intersected with the user's. So these tools name no scopes, and the audit record says
 * `narrowed: false` (the github preset cannot narrow).
 */
const NO_SCOPES: string[] = [];

/** Sent with every call, as GitHub's REST docs ask. */
const GITHUB_HEADERS = {
  accept: 'application/vnd.github+json',
  'x-github-api-version': '2022-11-28',
  'user-agent': 'keyward',
};

// One path segment of GitHub's own alphabet; the path tag would encode anything else anyway.
const Name = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, ".", "-" and "_" only')
  .refine((v) => v !== '.' && v !== '..', 'must not be "." or ".."');
const Owner = Name.describe('The account that owns the repository (a user or an organization), e.g. "octocat"');
const Repo = Name.describe('The repository name without the owner, e.g. "hello-world"');
const Login = z.string().min(1).max(100).describe('A GitHub login');

const User = z.looseObject({ login: z.string(), id: z.number() });
const Label = z.union([z.string(), z.looseObject({ name: z.string().optional() })]);

/** An issue as GitHub returns it; loose, because GitHub returns many more fields than these. */
export const Issue = z.looseObject({
  id: z.number(),
  number: z.number().describe('The number to use with github_comment_issue'),
  title: z.string(),
  state: z.string().describe('"open" or "closed"'),
  body: z.string().nullable().optional(),
  user: User.nullable().optional(),
  labels: z.array(Label).optional(),
  assignees: z.array(User).nullable().optional(),
  comments: z.number().optional(),
  html_url: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  pull_request: z
    .looseObject({})
    .optional()
    .describe('Present only when the item is a pull request: the issues list returns both'),
});

export const IssueComment = z.looseObject({
  id: z.number(),
  body: z.string().optional(),
  user: User.nullable().optional(),
  html_url: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const githubListIssues = defineTool({
  name: 'github_list_issues',
  title: 'List GitHub issues',
  description:
    'Lists issues of a GitHub repository, newest first by default. Pull requests are included and carry a ' +
    '"pull_request" key. Results come a page at a time (per_page, up to 100): ask for page 2, 3, ... until a ' +
    'page holds fewer items than per_page.',
  provider: 'github',
  scopes: NO_SCOPES,
  input: z.strictObject({
    owner: Owner,
    repo: Repo,
    state: z.enum(['open', 'closed', 'all']).optional().describe('Which issues; GitHub defaults to "open"'),
    labels: z
      .array(
        z
          .string()
          .min(1)
          .max(100)
          .refine((l) => !l.includes(','), 'a label name cannot contain ","'),
      )
      .max(50)
      .optional()
      .describe('Only issues that carry every one of these labels'),
    assignee: Login.optional().describe('Only issues assigned to this login; "none" for unassigned, "*" for any'),
    creator: Login.optional().describe('Only issues opened by this login'),
    since: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('Only issues updated at or after this time (ISO 8601, e.g. 2024-01-31T00:00:00Z)'),
    sort: z.enum(['created', 'updated', 'comments']).optional().describe('Sort key; GitHub defaults to "created"'),
    direction: z.enum(['asc', 'desc']).optional().describe('Sort direction; GitHub defaults to "desc"'),
    per_page: z.number().int().min(1).max(100).optional().describe('Items per page, 1 to 100; GitHub defaults to 30'),
    page: z.number().int().min(1).max(10_000).optional().describe('Which page, from 1'),
  }),
  // GitHub answers with a bare array; the gateway hands it on as {items: [...]}.
  output: z.looseObject({ items: z.array(Issue) }),
  annotations: { readOnly: true, idempotent: true, openWorld: true },
  request: ({ owner, repo, labels, ...query }) => ({
    method: 'GET',
    path: path`/repos/${owner}/${repo}/issues`,
    query: { ...query, labels: labels?.length ? labels.join(',') : undefined },
    headers: GITHUB_HEADERS,
  }),
});

export const githubCreateIssue = defineTool({
  name: 'github_create_issue',
  title: 'Open a GitHub issue',
  description:
    'Opens a new issue in a GitHub repository and returns it, with its number and URL. ' +
    'Assignees, labels and a milestone are set only where the user may set them.',
  provider: 'github',
  scopes: NO_SCOPES,
  input: z.strictObject({
    owner: Owner,
    repo: Repo,
    title: z.string().min(1).max(256).describe('The title of the issue'),
    body: z.string().max(65_536).optional().describe('The text of the issue, in GitHub Markdown'),
    assignees: z.array(Login).max(10).optional().describe('Logins to assign'),
    labels: z.array(z.string().min(1).max(100)).max(100).optional().describe('Label names to set'),
    milestone: z.number().int().min(1).optional().describe('The number of the milestone to attach it to'),
  }),
  output: Issue,
  // Each call opens another issue, so a retry would duplicate it.
  annotations: { readOnly: false, destructive: false, idempotent: false, openWorld: true },
  request: ({ owner, repo, ...fields }) => ({
    method: 'POST',
    path: path`/repos/${owner}/${repo}/issues`,
    json: fields,
    headers: GITHUB_HEADERS,
  }),
});

export const githubCommentIssue = defineTool({
  name: 'github_comment_issue',
  title: 'Comment on a GitHub issue',
  description:
    'Adds a comment to an issue or a pull request of a GitHub repository and returns the comment with its URL.',
  provider: 'github',
  scopes: NO_SCOPES,
  input: z.strictObject({
    owner: Owner,
    repo: Repo,
    issue_number: z.number().int().min(1).describe('The number of the issue or pull request'),
    body: z.string().min(1).max(65_536).describe('The text of the comment, in GitHub Markdown'),
  }),
  output: IssueComment,
  annotations: { readOnly: false, destructive: false, idempotent: false, openWorld: true },
  request: ({ owner, repo, issue_number, body }) => ({
    method: 'POST',
    path: path`/repos/${owner}/${repo}/issues/${issue_number}/comments`,
    json: { body },
    headers: GITHUB_HEADERS,
  }),
});

export default [githubListIssues, githubCreateIssue, githubCommentIssue];
