import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ResolvedProvider } from '../../src/config/types.js';
import { InvalidArgumentsError } from '../../src/errors.js';
import { loadTools } from '../../src/tools/load.js';
import { buildDownstreamRequest } from '../../src/tools/request.js';
import demoTools, { createNote, deleteNote, listNotes } from '../../tools/notes.js';

const API = 'http://127.0.0.1:8789';
const toolsDir = fileURLToPath(new URL('../../tools/', import.meta.url));
const notes = {
  notes: {
    name: 'notes',
    clientId: 'keyward-demo',
    scopes: ['openid', 'offline_access', 'notes:read', 'notes:write', 'notes:delete'],
    strategy: 'refresh',
    apiBaseUrl: API,
  } as ResolvedProvider,
};

describe('demo tools (tools/notes.ts)', () => {
  it('exports the three tools by default, each with the least scope it needs', () => {
    expect(demoTools.map((t) => [t.name, t.scopes, t.annotations])).toEqual([
      ['list_notes', ['notes:read'], { readOnly: true, idempotent: true, openWorld: false }],
      ['create_note', ['notes:write'], { readOnly: false, destructive: false, idempotent: false, openWorld: false }],
      ['delete_note', ['notes:delete'], { readOnly: false, destructive: true, idempotent: true, openWorld: false }],
    ]);
  });

  it('maps arguments onto the demo API', () => {
    const list = buildDownstreamRequest(API, listNotes.request({}));
    expect([list.method, list.url.href, list.body]).toEqual(['GET', `${API}/notes`, undefined]);

    const create = buildDownstreamRequest(
      API,
      createNote.request(createNote.input.parse({ title: 'Hi', body: 'there' })),
    );
    expect([create.method, create.url.href, create.body]).toEqual([
      'POST',
      `${API}/notes`,
      '{"title":"Hi","body":"there"}',
    ]);
    expect(create.headers['content-type']).toBe('application/json');
    expect(createNote.input.parse({ title: 'Only a title' })).toEqual({ title: 'Only a title', body: '' });

    const del = buildDownstreamRequest(API, deleteNote.request({ id: 'ab12cd34' }));
    expect([del.method, del.url.href]).toEqual(['DELETE', `${API}/notes/ab12cd34`]);
  });

  it('validates input', () => {
    expect(createNote.input.safeParse({ title: '' }).success).toBe(false);
    expect(createNote.input.safeParse({ title: 'x'.repeat(201) }).success).toBe(false);
    expect(createNote.input.safeParse({ title: 'x'.repeat(200), body: 'y'.repeat(10_000) }).success).toBe(true);
    expect(createNote.input.safeParse({ title: 't', body: 'y'.repeat(10_001) }).success).toBe(false);
    expect(createNote.input.safeParse({ title: 't', text: 'typo' }).success).toBe(false);
    expect(deleteNote.input.safeParse({}).success).toBe(false);
    expect(listNotes.input.safeParse({}).success).toBe(true);
  });

  it('never lets an id leave /notes', () => {
    for (const id of ['..', '../admin', '%2e%2e', 'https://evil.example']) {
      expect(() => deleteNote.request({ id }), id).toThrow(InvalidArgumentsError);
    }
  });

  it('describes output the demo API really returns', () => {
    const note = { id: 'ab12cd34', title: 'Hi', body: '', createdAt: '2026-01-01T00:00:00.000Z' };
    expect(listNotes.output!.safeParse({ notes: [note] }).success).toBe(true);
    expect(createNote.output!.safeParse(note).success).toBe(true);
    expect(deleteNote.output).toBeUndefined();
    // Listable, as the MCP SDK will list them.
    for (const t of demoTools) {
      expect(z.toJSONSchema(t.input, { io: 'input' })).toMatchObject({ type: 'object' });
      if (t.output) expect(z.toJSONSchema(t.output, { io: 'output' })).toMatchObject({ type: 'object' });
    }
  });
});

describe('demo tools (tools/get_note.json)', () => {
  it('loads with the demo provider and maps its id', async () => {
    const [getNote] = await loadTools([`${toolsDir}get_note.json`], notes);
    expect(getNote?.name).toBe('get_note');
    expect(getNote?.annotations).toEqual({ readOnly: true, idempotent: true, openWorld: false });
    const req = buildDownstreamRequest(API, getNote!.request(getNote!.input.parse({ id: 'ab12cd34' })));
    expect([req.method, req.url.href]).toEqual(['GET', `${API}/notes/ab12cd34`]);
    expect(() => getNote!.request({ id: '%2e%2e' })).toThrow(InvalidArgumentsError);
    expect(getNote!.output!.safeParse({ id: 'a', title: 't', body: 'b', createdAt: 'now' }).success).toBe(true);
  });
});
