// Google Calendar tools: list events and create one, each with the least Calendar scope it needs.
import { z } from 'zod';
import { defineTool } from '../src/tools/define.js';
import { path } from '../src/tools/request.js';

export const CALENDAR_READONLY = 'https://www.googleapis.com/auth/calendar.readonly';
export const CALENDAR_EVENTS = 'https://www.googleapis.com/auth/calendar.events';

// Calendar ids are e-mail-like and may hold "#" or "@"; the path tag encodes them as one segment.
const CalendarId = z
  .string()
  .min(1)
  .max(1024)
  .default('primary')
  .describe('The calendar: "primary" (the default) for the user\'s own, or a calendar id such as an e-mail address');

const DateTime = z.iso.datetime({ offset: true });

export const EventTime = z
  .strictObject({
    dateTime: DateTime.optional().describe('A time with an offset (RFC 3339), e.g. 2025-03-01T09:00:00+01:00'),
    date: z.iso.date().optional().describe('A whole day (all-day event), e.g. 2025-03-01'),
    timeZone: z.string().min(1).max(100).optional().describe('An IANA time zone name, e.g. Europe/Paris'),
  })
  .refine((t) => (t.dateTime === undefined) !== (t.date === undefined), 'give exactly one of dateTime or date');

const EventTimeOut = z.looseObject({
  dateTime: z.string().optional(),
  date: z.string().optional(),
  timeZone: z.string().optional(),
});

/** An event as Calendar v3 returns it; loose, because it returns many more fields than these. */
export const CalendarEvent = z.looseObject({
  id: z.string(),
  status: z.string().optional(),
  htmlLink: z.string().optional(),
  summary: z.string().optional(),
  start: EventTimeOut.optional(),
  end: EventTimeOut.optional(),
  attendees: z.array(z.looseObject({ email: z.string().optional(), responseStatus: z.string().optional() })).optional(),
});

export const calendarListEvents = defineTool({
  name: 'calendar_list_events',
  title: 'List calendar events',
  description:
    "Lists events in one of the user's Google calendars, optionally between timeMin and timeMax. " +
    'Give singleEvents: true to expand recurring events into single occurrences (needed for orderBy "startTime"). ' +
    'When the result has nextPageToken, pass it as pageToken to get the next page.',
  provider: 'google',
  scopes: [CALENDAR_READONLY],
  input: z
    .strictObject({
      calendarId: CalendarId,
      timeMin: DateTime.optional().describe('Only events ending after this time (RFC 3339 with an offset)'),
      timeMax: DateTime.optional().describe('Only events starting before this time (RFC 3339 with an offset)'),
      singleEvents: z.boolean().optional().describe('Expand recurring events into their occurrences'),
      orderBy: z
        .enum(['startTime', 'updated'])
        .optional()
        .describe('"startTime" (needs singleEvents: true) or "updated"'),
      maxResults: z.number().int().min(1).max(2500).optional().describe('Events per page, at most 2500'),
      pageToken: z.string().min(1).max(2048).optional().describe('The nextPageToken of the previous page'),
    })
    // Calendar accepts orderBy=startTime only for single events; say so here rather than after a 400.
    .refine((a) => a.orderBy !== 'startTime' || a.singleEvents === true, {
      message: 'orderBy "startTime" needs singleEvents: true',
      path: ['orderBy'],
    })
    .refine((a) => !a.timeMin || !a.timeMax || Date.parse(a.timeMin) < Date.parse(a.timeMax), {
      message: 'timeMin must be before timeMax',
      path: ['timeMax'],
    }),
  output: z.looseObject({
    kind: z.string().optional(),
    items: z.array(CalendarEvent),
    nextPageToken: z.string().optional(),
    timeZone: z.string().optional(),
  }),
  annotations: { readOnly: true, idempotent: true, openWorld: true },
  request: ({ calendarId, ...query }) => ({
    method: 'GET',
    path: path`/calendar/v3/calendars/${calendarId}/events`,
    query,
  }),
});

export const calendarCreateEvent = defineTool({
  name: 'calendar_create_event',
  title: 'Create a calendar event',
  description:
    "Creates an event in one of the user's Google calendars and returns it, with its id and link. " +
    'start and end are both timed (dateTime) or both all-day (date; end is the day after the last day).',
  provider: 'google',
  scopes: [CALENDAR_EVENTS],
  input: z
    .strictObject({
      calendarId: CalendarId,
      summary: z.string().min(1).max(1024).describe('The title of the event'),
      description: z.string().max(8192).optional().describe('Notes for the event'),
      location: z.string().max(1024).optional().describe('Where it takes place, as free text'),
      start: EventTime.describe('When it starts'),
      end: EventTime.describe('When it ends'),
      attendees: z
        .array(z.strictObject({ email: z.email().describe("An attendee's e-mail address") }))
        .max(100)
        .optional()
        .describe('People to invite'),
    })
    .refine((a) => (a.start.date === undefined) === (a.end.date === undefined), {
      message: 'start and end must both be dateTime or both be date',
      path: ['end'],
    })
    .refine(
      (a) => {
        const at = (t: { dateTime?: string; date?: string }) => Date.parse(t.dateTime ?? `${t.date}T00:00:00Z`);
        return at(a.end) >= at(a.start);
      },
      { message: 'end must not be before start', path: ['end'] },
    ),
  output: CalendarEvent,
  // Each call adds another event, so a retry would duplicate it.
  annotations: { readOnly: false, destructive: false, idempotent: false, openWorld: true },
  request: ({ calendarId, ...event }) => ({
    method: 'POST',
    path: path`/calendar/v3/calendars/${calendarId}/events`,
    json: event,
  }),
});

export default [calendarListEvents, calendarCreateEvent];
