// A loopback Google: Calendar v3 events and the OAuth token and revoke endpoints, in their documented wire formats.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  bearerOf,
  listenLoopback,
  maskedForm,
  mintToken,
  parseBody,
  type RecordedRequest,
  recordRequest,
  sendJson,
  splitUrl,
} from './loopback.js';

export const CALENDAR_READONLY = 'https://www.googleapis.com/auth/calendar.readonly';
export const CALENDAR_EVENTS = 'https://www.googleapis.com/auth/calendar.events';
export const CALENDAR = 'https://www.googleapis.com/auth/calendar';

/**
 * Which scopes the fake accepts for each call. The tool's own scope is what matters to the tests;
 * the broader scopes are here only so that a full-calendar grant is not refused.
 */
const ACCEPTS = {
  list: [CALENDAR_READONLY, CALENDAR_EVENTS, CALENDAR],
  insert: [CALENDAR_EVENTS, CALENDAR],
};

export interface EventTime {
  dateTime?: string;
  date?: string;
  timeZone?: string;
}

export interface CalendarEvent {
  kind: 'calendar#event';
  id: string;
  status: 'confirmed' | 'tentative' | 'cancelled';
  htmlLink: string;
  created: string;
  updated: string;
  summary?: string;
  description?: string;
  location?: string;
  start: EventTime;
  end: EventTime;
  attendees?: { email: string; responseStatus: string; displayName?: string }[];
  organizer: { email: string; self?: boolean };
}

export type GoogleRateLimitReason = 'rateLimitExceeded' | 'userRateLimitExceeded';

export interface FakeGoogleOptions {
  clientId?: string;
  clientSecret?: string;
  /**
   * Whether a refresh with a narrower `scope` gets a narrower token. The docs leave it unconfirmed;
   * `true` (default) honours it (and refuses scopes outside the grant with `invalid_scope`),
   * `false` ignores the parameter and answers with the grant's own scopes.
   */
  narrowOnRefresh?: boolean;
  /** Insufficient-scope 403 in the legacy form only (`errors[].reason: insufficientPermissions`, no details). */
  legacyScopeError?: boolean;
  now?: () => number;
}

export interface FakeGoogle {
  url: string;
  /** The value for `apiBaseUrl` (Google's own is https://www.googleapis.com). */
  apiBaseUrl: string;
  /** The value for `tokenEndpoint` (Google's own is https://oauth2.googleapis.com/token). */
  tokenEndpoint: string;
  revocationEndpoint: string;
  requests: RecordedRequest[];
  tokenRequests: RecordedRequest[];
  /** Tokens the revoke endpoint was called with, by label. */
  revocations: string[];
  /** While set, every API call gets the documented 403 rate-limit body. */
  rateLimit?: { reason: GoogleRateLimitReason; retryAfterSeconds?: number };
  addToken(token: string, scopes: string[], opts?: { label?: string }): void;
  /** A refresh token with its scopes, and a first access token. Google does not rotate the refresh token. */
  createGrant(scopes: string[], opts?: { label?: string }): { accessToken: string; refreshToken: string };
  revokeToken(token: string): void;
  revokeRefreshToken(refreshToken: string): void;
  /** Kills every access token (as an hour would); refresh tokens stay good. */
  expireAccessTokens(): void;
  /** Kills every refresh token (as revocation, or six months unused, would). */
  expireRefreshTokens(): void;
  /** See FakeGoogleOptions.narrowOnRefresh; may be changed while running. */
  narrowOnRefresh: boolean;
  /** The scopes of a live access token, or undefined. */
  scopesOf(token: string): string[] | undefined;
  /** Creates a calendar (and its events). `primary` exists already. */
  addCalendar(id: string, opts?: { timeZone?: string; summary?: string }): void;
  seedEvents(calendarId: string, events: Partial<CalendarEvent>[]): CalendarEvent[];
  events(calendarId: string): CalendarEvent[] | undefined;
  close(): Promise<void>;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export async function startFakeGoogle(opts: FakeGoogleOptions = {}): Promise<FakeGoogle> {
  const now = opts.now ?? (() => Date.now());
  const tokens = new Map<string, { scopes: string[]; label: string }>();
  const refreshTokens = new Map<string, { scopes: string[]; label: string }>();
  const calendars = new Map<string, { timeZone: string; summary: string; events: CalendarEvent[] }>();
  const requests: RecordedRequest[] = [];
  const tokenRequests: RecordedRequest[] = [];
  const revocations: string[] = [];
  let nextId = 1;
  const iso = (ms: number) => new Date(ms).toISOString();
  const addCalendar = (id: string, o: { timeZone?: string; summary?: string } = {}) => {
    if (!calendars.has(id)) calendars.set(id, { timeZone: o.timeZone ?? 'UTC', summary: o.summary ?? id, events: [] });
  };
  addCalendar('primary', { summary: 'user@example.com' });

  const apiError = (
    res: ServerResponse,
    code: number,
    message: string,
    errors: { domain: string; reason: string; message?: string; [k: string]: unknown }[],
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) =>
    sendJson(
      res,
      code,
      { error: { code, message, errors: errors.map((e) => ({ message, ...e })), ...extra } },
      headers,
    );

  const eventTime = (t: unknown): EventTime | undefined => {
    if (!t || typeof t !== 'object') return undefined;
    const v = t as Record<string, unknown>;
    if (typeof v.dateTime === 'string' && RFC3339.test(v.dateTime)) {
      return { dateTime: v.dateTime, ...(typeof v.timeZone === 'string' ? { timeZone: v.timeZone } : {}) };
    }
    if (typeof v.date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v.date)) return { date: v.date };
    return undefined;
  };
  const startMs = (t: EventTime) => Date.parse(t.dateTime ?? `${t.date}T00:00:00Z`);

  const makeEvent = (calendarId: string, e: Partial<CalendarEvent>): CalendarEvent => {
    const id = e.id ?? `ev${(nextId++).toString(32).padStart(6, '0')}`;
    const at = iso(now());
    const ev: CalendarEvent = {
      kind: 'calendar#event',
      id,
      status: e.status ?? 'confirmed',
      htmlLink: `https://www.google.com/calendar/event?eid=${Buffer.from(`${id} ${calendarId}`).toString('base64url')}`,
      created: e.created ?? at,
      updated: e.updated ?? at,
      start: e.start ?? { dateTime: iso(now() + 3600_000) },
      end: e.end ?? { dateTime: iso(now() + 7200_000) },
      organizer: e.organizer ?? { email: calendarId === 'primary' ? 'user@example.com' : calendarId, self: true },
    };
    for (const k of ['summary', 'description', 'location', 'attendees'] as const) {
      if (e[k] !== undefined) (ev as unknown as Record<string, unknown>)[k] = e[k];
    }
    return ev;
  };

  const handleApi = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const token = bearerOf(req);
    const info = token ? tokens.get(token) : undefined;
    const { rec, search } = recordRequest(req, parseBody(raw, req.headers['content-type']), info?.label);
    const { segments } = rec;
    requests.push(rec);

    if (!info) {
      return apiError(
        res,
        401,
        'Invalid Credentials',
        [{ domain: 'global', reason: 'authError', locationType: 'header', location: 'Authorization' }],
        { status: 'UNAUTHENTICATED' },
      );
    }
    if (fake.rateLimit) {
      const { reason, retryAfterSeconds } = fake.rateLimit;
      return apiError(
        res,
        403,
        reason === 'userRateLimitExceeded' ? 'User Rate Limit Exceeded' : 'Rate Limit Exceeded',
        [{ domain: 'usageLimits', reason }],
        {},
        retryAfterSeconds !== undefined ? { 'retry-after': String(retryAfterSeconds) } : {},
      );
    }

    // /calendar/v3/calendars/{calendarId}/events
    const [a, b, c, calendarId, events, ...rest] = segments;
    if (a !== 'calendar' || b !== 'v3' || c !== 'calendars' || !calendarId || events !== 'events' || rest.length) {
      return apiError(res, 404, 'Not Found', [{ domain: 'global', reason: 'notFound' }]);
    }
    const op = req.method === 'GET' ? 'list' : req.method === 'POST' ? 'insert' : undefined;
    if (!op) return apiError(res, 404, 'Not Found', [{ domain: 'global', reason: 'notFound' }]);
    if (!ACCEPTS[op].some((s) => info.scopes.includes(s))) return scopeInsufficient(res);
    const cal = calendars.get(calendarId);
    if (!cal) return apiError(res, 404, 'Not Found', [{ domain: 'global', reason: 'notFound' }]);
    return op === 'list' ? listEvents(res, cal, search) : insertEvent(res, calendarId, cal, rec.body);
  };

  const scopeInsufficient = (res: ServerResponse) => {
    const message = 'Request had insufficient authentication scopes.';
    if (opts.legacyScopeError) {
      return apiError(res, 403, message, [{ domain: 'global', reason: 'insufficientPermissions' }]);
    }
    return apiError(res, 403, message, [{ domain: 'global', reason: 'insufficientPermissions' }], {
      status: 'PERMISSION_DENIED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
          domain: 'googleapis.com',
          metadata: { service: 'calendar-json.googleapis.com', method: 'calendar.v3.Events' },
        },
      ],
    });
  };

  const badRequest = (res: ServerResponse, message: string, reason = 'badRequest') =>
    apiError(res, 400, message, [{ domain: 'global', reason }]);

  const listEvents = (
    res: ServerResponse,
    cal: { timeZone: string; summary: string; events: CalendarEvent[] },
    q: URLSearchParams,
  ) => {
    for (const k of ['timeMin', 'timeMax']) {
      const v = q.get(k);
      if (v !== null && !RFC3339.test(v)) return badRequest(res, `Bad Request: ${k} must be RFC 3339 with an offset`);
    }
    const singleEvents = q.get('singleEvents') === 'true';
    const orderBy = q.get('orderBy');
    if (orderBy !== null && orderBy !== 'startTime' && orderBy !== 'updated') return badRequest(res, 'Invalid orderBy');
    if (orderBy === 'startTime' && !singleEvents) {
      return badRequest(res, 'The requested ordering is not available for the particular query.');
    }
    const maxResults = Math.min(2500, Math.max(1, Number(q.get('maxResults') ?? 250) || 250));
    let offset = 0;
    const pageToken = q.get('pageToken');
    if (pageToken !== null) {
      const m = /^p(\d+)$/.exec(Buffer.from(pageToken, 'base64url').toString('utf8'));
      if (!m) return badRequest(res, 'Invalid page token', 'invalid');
      offset = Number(m[1]);
    }
    const timeMin = q.get('timeMin');
    const timeMax = q.get('timeMax');
    let items = cal.events.filter((e) => e.status !== 'cancelled');
    if (timeMin) items = items.filter((e) => startMs(e.end) > Date.parse(timeMin));
    if (timeMax) items = items.filter((e) => startMs(e.start) < Date.parse(timeMax));
    if (orderBy === 'startTime') items = [...items].sort((x, y) => startMs(x.start) - startMs(y.start));
    if (orderBy === 'updated') items = [...items].sort((x, y) => Date.parse(x.updated) - Date.parse(y.updated));
    const page = items.slice(offset, offset + maxResults);
    const more = offset + maxResults < items.length;
    sendJson(res, 200, {
      kind: 'calendar#events',
      etag: `"${items.length}"`,
      summary: cal.summary,
      updated: iso(now()),
      timeZone: cal.timeZone,
      accessRole: 'owner',
      defaultReminders: [],
      ...(more ? { nextPageToken: Buffer.from(`p${offset + maxResults}`).toString('base64url') } : {}),
      items: page,
    });
  };

  const insertEvent = (res: ServerResponse, calendarId: string, cal: { events: CalendarEvent[] }, body: unknown) => {
    const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const start = eventTime(b.start);
    const end = eventTime(b.end);
    if (!start) return badRequest(res, 'Missing or invalid start time.', 'required');
    if (!end) return badRequest(res, 'Missing or invalid end time.', 'required');
    if (startMs(end) < startMs(start)) return badRequest(res, 'The specified time range is empty.', 'timeRangeEmpty');
    const ev = makeEvent(calendarId, {
      start,
      end,
      ...(typeof b.summary === 'string' ? { summary: b.summary } : {}),
      ...(typeof b.description === 'string' ? { description: b.description } : {}),
      ...(typeof b.location === 'string' ? { location: b.location } : {}),
      ...(Array.isArray(b.attendees)
        ? {
            attendees: (b.attendees as { email?: unknown }[]).map((x) => ({
              email: String(x?.email ?? ''),
              responseStatus: 'needsAction',
            })),
          }
        : {}),
    });
    cal.events.push(ev);
    sendJson(res, 200, ev);
  };

  const tokenError = (res: ServerResponse, status: number, error: string, description: string) =>
    sendJson(res, status, { error, error_description: description });

  const clientOf = (req: IncomingMessage, form: URLSearchParams): { id?: string; secret?: string } => {
    const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (basic) {
      const [id, secret] = Buffer.from(basic[1] as string, 'base64')
        .toString('utf8')
        .split(':');
      return { id: decodeURIComponent(id ?? ''), secret: decodeURIComponent(secret ?? '') };
    }
    return { id: form.get('client_id') ?? undefined, secret: form.get('client_secret') ?? undefined };
  };

  const handleToken = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const form = new URLSearchParams(raw);
    tokenRequests.push(recordRequest(req, maskedForm(form)).rec);
    const client = clientOf(req, form);
    if ((opts.clientId && client.id !== opts.clientId) || (opts.clientSecret && client.secret !== opts.clientSecret)) {
      return tokenError(res, 401, 'invalid_client', 'The OAuth client was not found.');
    }
    if (form.get('grant_type') !== 'refresh_token')
      return tokenError(res, 400, 'unsupported_grant_type', 'Invalid grant_type');
    const grant = refreshTokens.get(form.get('refresh_token') ?? '');
    if (!grant) return tokenError(res, 400, 'invalid_grant', 'Token has been expired or revoked.');
    // With narrowOnRefresh off, the scope parameter is ignored altogether.
    const asked = !fake.narrowOnRefresh ? [] : (form.get('scope') ?? '').split(' ').filter(Boolean);
    if (asked.some((s) => !grant.scopes.includes(s))) {
      return tokenError(res, 400, 'invalid_scope', 'Some requested scopes were not granted.');
    }
    const scopes = asked.length ? asked : grant.scopes;
    const accessToken = mintToken('ya29');
    tokens.set(accessToken, { scopes, label: grant.label });
    // No rotation: the answer carries no refresh_token, and the old one stays good.
    sendJson(res, 200, { access_token: accessToken, expires_in: 3599, scope: scopes.join(' '), token_type: 'Bearer' });
  };

  const handleRevoke = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const search = splitUrl(req.url ?? '/').search;
    const token = new URLSearchParams(raw).get('token') ?? search.get('token') ?? '';
    const label = tokens.get(token)?.label ?? refreshTokens.get(token)?.label;
    if (!label) return tokenError(res, 400, 'invalid_token', 'Token expired or revoked');
    revocations.push(label);
    // Revoking either token ends the whole grant.
    for (const [t, i] of [...tokens]) if (i.label === label) tokens.delete(t);
    for (const [t, i] of [...refreshTokens]) if (i.label === label) refreshTokens.delete(t);
    sendJson(res, 200, {});
  };

  const server = await listenLoopback((req, res, raw) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/token' && req.method === 'POST') return handleToken(req, res, raw);
    if (path === '/revoke' && req.method === 'POST') return handleRevoke(req, res, raw);
    return handleApi(req, res, raw);
  });

  const fake: FakeGoogle = {
    url: server.url,
    apiBaseUrl: server.url,
    tokenEndpoint: `${server.url}/token`,
    revocationEndpoint: `${server.url}/revoke`,
    requests,
    tokenRequests,
    revocations,
    addToken(token, scopes, o = {}) {
      tokens.set(token, { scopes, label: o.label ?? 'default' });
    },
    createGrant(scopes, o = {}) {
      const label = o.label ?? 'default';
      const accessToken = mintToken('ya29');
      const refreshToken = mintToken('1/');
      tokens.set(accessToken, { scopes, label });
      refreshTokens.set(refreshToken, { scopes, label });
      return { accessToken, refreshToken };
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
    narrowOnRefresh: opts.narrowOnRefresh ?? true,
    scopesOf: (token) => tokens.get(token)?.scopes,
    addCalendar,
    seedEvents(calendarId, evs) {
      addCalendar(calendarId);
      const cal = calendars.get(calendarId) as { events: CalendarEvent[] };
      const made = evs.map((e) => makeEvent(calendarId, e));
      cal.events.push(...made);
      return made;
    },
    events: (calendarId) => calendars.get(calendarId)?.events,
    close: () => server.close(),
  };
  return fake;
}
