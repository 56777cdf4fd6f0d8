// The embedded demo's tools: list, create and delete notes in the demo notes API, each with the least scope it needs.
import { z } from 'zod';
import { defineTool } from '../src/tools/define.js';
import { path } from '../src/tools/request.js';

/** What the demo API answers for one note. Loose, so that a field the API adds later does not fail clients. */
export const Note = z.looseObject({
  id: z.string().describe('The note id, used by get_note and delete_note'),
  title: z.string(),
  body: z.string(),
  createdAt: z.string().describe('When the note was created (ISO 8601)'),
});

const NoteId = z.string().min(1).max(64).describe('The id of the note, as list_notes or create_note returned it');

export const listNotes = defineTool({
  name: 'list_notes',
  title: 'List notes',
  description: "Lists all of the user's notes in the demo notes service, with their ids, titles and bodies.",
  provider: 'notes',
  scopes: ['notes:read'],
  input: z.strictObject({}),
  output: z.looseObject({ notes: z.array(Note) }),
  annotations: { readOnly: true, idempotent: true, openWorld: false },
  request: () => ({ method: 'GET', path: '/notes' }),
});

export const createNote = defineTool({
  name: 'create_note',
  title: 'Create a note',
  description: 'Creates a note in the demo notes service and returns it, with its new id.',
  provider: 'notes',
  scopes: ['notes:write'],
  input: z.strictObject({
    title: z.string().min(1).max(200).describe('A short title, 1 to 200 characters'),
    body: z.string().max(10_000).default('').describe('The text of the note, up to 10,000 characters'),
  }),
  output: Note,
  annotations: { readOnly: false, destructive: false, idempotent: false, openWorld: false },
  request: ({ title, body }) => ({ method: 'POST', path: '/notes', json: { title, body } }),
});

export const deleteNote = defineTool({
  name: 'delete_note',
  title: 'Delete a note',
  description: 'Deletes one note from the demo notes service. This cannot be undone.',
  provider: 'notes',
  scopes: ['notes:delete'],
  input: z.strictObject({ id: NoteId }),
  // The API answers 204 with no body, so there is no structured output to promise.
  annotations: { readOnly: false, destructive: true, idempotent: true, openWorld: false },
  request: ({ id }) => ({ method: 'DELETE', path: path`/notes/${id}` }),
});

export default [listNotes, createNote, deleteNote];
