// The Google Calendar tools against a loopback Calendar v3: request mapping, result shapes, and error bodies read.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { classifyApiFailure } from '../../src/downstream/classify.js';
import { type DownstreamResponse, sendDownstream } from '../../src/downstream/send.js';
import { InvalidArgumentsError } from '../../src/errors.js';
import { buildDownstreamRequest } from '../../src/tools/request.js';
import type { ToolDefinition } from '../../src/tools/types.js';
import {
  CALENDAR_EVENTS,
  CALENDAR_READONLY,
  calendarCreateEvent,
  calendarListEvents,
  default as calendarTools,
} from '../../tools/google-calendar.js';
import { type FakeGoogle, startFakeGoogle } from '../fakes/google.js';

let fake: FakeGoogle;
const READ = 'tok-read';
const WRITE = 'tok-write';

beforeAll(async () => {
  fake = await startFakeGoogle();
  fake.addToken(READ, [CALENDAR_READONLY], { label: 'read' });
  fake.addToken(WRITE, [CALENDAR_EVENTS], { label: 'write' });
});
afterAll(() => fake.close());
beforeEach(() => {
  fake.requests.length = 0;
  fake.rateLimit = undefined;
});

// biome-ignore lint/suspicious/noExplicitAny: each test passes its own tool's arguments
async function call(tool: ToolDefinition<any, any>, args: unknown, token: string): Promise<DownstreamResponse> {
  const parsed = tool.input.parse(args);
  const req = buildDownstreamRequest(fake.apiBaseUrl, tool.request(parsed));
  return sendDownstream(req, { authorization: `Bearer ${token}`, timeoutMs: 5_000, maxResponseBytes: 1 << 20 });
}

function classify(res: DownstreamResponse, tool: ToolDefinition, granted: string[]) {
  return classifyApiFailure(res, {
    provider: 'google',
    grantedScopes: granted,
    toolScopes: tool.scopes,
    knownScopes: calendarTools.flatMap((t) => t.scopes),
    nowMs: Date.now(),
  }).error;
}

describe('the pack', () => {
  test('declares the least scope each tool needs', () => {
    expect(calendarTools.map((t) => [t.name, t.provider, t.scopes])).toEqual([
      ['calendar_list_events', 'google', [CALENDAR_READONLY]],
      ['calendar_create_event', 'google', [CALENDAR_EVENTS]],
    ]);
    expect(calendarListEvents.annotations).toMatchObject({ readOnly: true, idempotent: true });
    expect(calendarCreateEvent.annotations).toMatchObject({ readOnly: false, idempotent: false });
  });
});

describe('calendar_list_events', () => {
  test('maps every documented query parameter, and the result fits the output schema', async () => {
    fake.seedEvents('team@group.calendar.google.com', [
      {
        summary: 'later',
        start: { dateTime: '2025-03-01T15:00:00+01:00' },
        end: { dateTime: '2025-03-01T16:00:00+01:00' },
      },
      {
        summary: 'earlier',
        start: { dateTime: '2025-03-01T09:00:00+01:00' },
        end: { dateTime: '2025-03-01T10:00:00+01:00' },
      },
      { summary: 'outside', start: { dateTime: '2025-04-01T09:00:00Z' }, end: { dateTime: '2025-04-01T10:00:00Z' } },
    ]);
    const res = await call(
      calendarListEvents,
      {
        calendarId: 'team@group.calendar.google.com',
        timeMin: '2025-03-01T00:00:00+01:00',
        timeMax: '2025-03-02T00:00:00+01:00',
        singleEvents: true,
        orderBy: 'startTime',
        maxResults: 10,
      },
      READ,
    );
    expect(res.status).toBe(200);
    const [seen] = fake.requests;
    expect(seen).toMatchObject({
      method: 'GET',
      segments: ['calendar', 'v3', 'calendars', 'team@group.calendar.google.com', 'events'],
      query: {
        timeMin: '2025-03-01T00:00:00+01:00',
        timeMax: '2025-03-02T00:00:00+01:00',
        singleEvents: 'true',
        orderBy: 'startTime',
        maxResults: '10',
      },
      tokenLabel: 'read',
    });
    expect(seen?.headers.authorization).toBe('present');
    const body = JSON.parse(res.text);
    expect(body).toMatchObject({ kind: 'calendar#events', timeZone: 'UTC' });
    expect(body.items.map((e: { summary: string }) => e.summary)).toEqual(['earlier', 'later']);
    expect(calendarListEvents.output?.safeParse(body).success).toBe(true);
  });

  test('defaults to the primary calendar and follows nextPageToken', async () => {
    fake.seedEvents(
      'primary',
      [1, 2, 3].map((i) => ({
        summary: `e${i}`,
        start: { date: `2030-01-0${i}` },
        end: { date: `2030-01-0${i + 1}` },
      })),
    );
    const first = JSON.parse((await call(calendarListEvents, { maxResults: 2 }, READ)).text);
    expect(fake.requests[0]?.segments[3]).toBe('primary');
    expect(first.items).toHaveLength(2);
    expect(first.nextPageToken).toEqual(expect.any(String));
    const second = JSON.parse(
      (await call(calendarListEvents, { maxResults: 2, pageToken: first.nextPageToken }, READ)).text,
    );
    expect(second.items).toHaveLength(1);
    expect(second.nextPageToken).toBeUndefined();
    expect(fake.requests[1]?.query.pageToken).toBe(first.nextPageToken);
  });

  test.each([
    [{ orderBy: 'startTime' }, 'orderBy'],
    [{ orderBy: 'startTime', singleEvents: false }, 'orderBy'],
    [{ timeMin: '2025-03-01T00:00:00' }, 'timeMin'],
    [{ timeMin: '2025-03-01' }, 'timeMin'],
    [{ timeMin: '2025-03-02T00:00:00Z', timeMax: '2025-03-01T00:00:00Z' }, 'timeMax'],
    [{ maxResults: 2501 }, 'maxResults'],
    [{ calendarId: '' }, 'calendarId'],
  ])('refuses %j before any request', (args, field) => {
    const r = calendarListEvents.input.safeParse(args);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain(field);
  });
});

describe('calendar_create_event', () => {
  test('POSTs the event body and returns the created event', async () => {
    const args = {
      summary: 'Planning',
      description: 'Q3',
      start: { dateTime: '2025-03-03T10:00:00+01:00', timeZone: 'Europe/Paris' },
      end: { dateTime: '2025-03-03T11:00:00+01:00', timeZone: 'Europe/Paris' },
      attendees: [{ email: 'ana@example.com' }],
    };
    const res = await call(calendarCreateEvent, args, WRITE);
    expect(res.status).toBe(200);
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      segments: ['calendar', 'v3', 'calendars', 'primary', 'events'],
      headers: { 'content-type': 'application/json' },
      body: args,
    });
    const event = JSON.parse(res.text);
    expect(event).toMatchObject({
      kind: 'calendar#event',
      status: 'confirmed',
      summary: 'Planning',
      start: args.start,
    });
    expect(calendarCreateEvent.output?.safeParse(event).success).toBe(true);
  });

  test.each([
    [{ start: { dateTime: '2025-03-03T10:00:00Z' } }, 'end'],
    [{ start: { date: '2025-03-03' }, end: { dateTime: '2025-03-03T11:00:00Z' } }, 'end'],
    [{ start: { dateTime: '2025-03-03T10:00:00Z' }, end: { dateTime: '2025-03-03T09:00:00Z' } }, 'end'],
    [{ start: { dateTime: '2025-03-03T10:00:00Z', date: '2025-03-03' }, end: { date: '2025-03-04' } }, 'start'],
    [
      { start: { date: '2025-03-03' }, end: { date: '2025-03-04' }, attendees: [{ email: 'nope' }] },
      'attendees.0.email',
    ],
  ])('refuses %j', (partial, field) => {
    const r = calendarCreateEvent.input.safeParse({ summary: 's', ...partial });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain(field);
  });
});

describe('error bodies', () => {
  test('401 is authError "Invalid Credentials"', async () => {
    const res = await call(calendarListEvents, {}, 'not-a-token');
    expect(res.status).toBe(401);
    expect(JSON.parse(res.text)).toMatchObject({
      error: { code: 401, message: 'Invalid Credentials', errors: [{ reason: 'authError' }] },
    });
  });

  test('403 ACCESS_TOKEN_SCOPE_INSUFFICIENT becomes insufficient_scope naming the missing scope', async () => {
    const res = await call(
      calendarCreateEvent,
      { summary: 's', start: { date: '2025-03-03' }, end: { date: '2025-03-04' } },
      READ,
    );
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).error).toMatchObject({
      status: 'PERMISSION_DENIED',
      details: [{ reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT' }],
    });
    const err = classify(res, calendarCreateEvent, [CALENDAR_READONLY]);
    expect(err.toPayload()).toMatchObject({
      code: 'insufficient_scope',
      provider: 'google',
      missingScopes: [CALENDAR_EVENTS],
      retryable: false,
    });
  });

  test('the legacy insufficientPermissions body is read the same way', async () => {
    const legacy = await startFakeGoogle({ legacyScopeError: true });
    try {
      legacy.addToken('t', [CALENDAR_READONLY]);
      const req = buildDownstreamRequest(
        legacy.apiBaseUrl,
        calendarCreateEvent.request(
          calendarCreateEvent.input.parse({ summary: 's', start: { date: '2025-03-03' }, end: { date: '2025-03-04' } }),
        ),
      );
      const res = await sendDownstream(req, { authorization: 'Bearer t', timeoutMs: 5_000, maxResponseBytes: 1 << 20 });
      expect(JSON.parse(res.text).error.details).toBeUndefined();
      expect(classify(res, calendarCreateEvent, [CALENDAR_READONLY]).code).toBe('insufficient_scope');
    } finally {
      await legacy.close();
    }
  });

  test.each(['rateLimitExceeded', 'userRateLimitExceeded'] as const)(
    '403 %s is a retryable downstream_error',
    async (reason) => {
      fake.rateLimit = { reason, retryAfterSeconds: 7 };
      const res = await call(calendarListEvents, {}, READ);
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text).error.errors[0]).toMatchObject({ domain: 'usageLimits', reason });
      const payload = classify(res, calendarListEvents, [CALENDAR_READONLY]).toPayload();
      expect(payload).toMatchObject({
        code: 'downstream_error',
        retryable: true,
        retryAfterSeconds: 7,
        reason: 'rate_limited',
      });
    },
  );

  test('an unknown calendar is a plain 404 downstream_error', async () => {
    const res = await call(calendarListEvents, { calendarId: 'nobody@example.com' }, READ);
    expect(classify(res, calendarListEvents, [CALENDAR_READONLY]).toPayload()).toMatchObject({
      code: 'downstream_error',
      status: 404,
      retryable: false,
    });
  });
});

describe('hostile calendar ids', () => {
  test.each(['../../admin', 'evil.com/x', '%2e%2e', '..', '%252e%252e', 'a\\b', '%2fadmin'])(
    '%s cannot leave the events path',
    (calendarId) => {
      expect(() =>
        buildDownstreamRequest(
          fake.apiBaseUrl,
          calendarListEvents.request(calendarListEvents.input.parse({ calendarId })),
        ),
      ).toThrow(InvalidArgumentsError);
    },
  );

  test.each(['en.usa#holiday@group.v.calendar.google.com', 'a?b=c', '@evil.com', 'x:y@evil.com', ' spaced '])(
    '%s stays one segment on the API origin',
    async (calendarId) => {
      fake.addCalendar(calendarId);
      const req = buildDownstreamRequest(
        fake.apiBaseUrl,
        calendarListEvents.request(calendarListEvents.input.parse({ calendarId })),
      );
      expect(req.url.origin).toBe(fake.url);
      const res = await sendDownstream(req, {
        authorization: `Bearer ${READ}`,
        timeoutMs: 5_000,
        maxResponseBytes: 1 << 20,
      });
      expect(res.status).toBe(200);
      expect(fake.requests.at(-1)?.segments).toEqual(['calendar', 'v3', 'calendars', calendarId, 'events']);
    },
  );
});
