import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidArgumentsError, ToolDefinitionError } from '../../src/errors.js';
import { declarativeTool } from '../../src/tools/declarative.js';
import { buildDownstreamRequest } from '../../src/tools/request.js';

const fixture = (p: string) => JSON.parse(readFileSync(new URL(`../fixtures/tools/${p}`, import.meta.url), 'utf8'));

// biome-ignore lint/suspicious/noExplicitAny: cases edit definitions freely, including into wrong shapes
type Loose = Record<string, any>;

function valid(): Loose {
  return {
    name: 'get_note',
    title: 'Get a note',
    description: 'Reads one note.',
    provider: 'notes',
    scopes: ['notes:read'],
    input: {
      type: 'object',
      properties: { id: { type: 'string', minLength: 1 }, full: { type: 'boolean' } },
      required: ['id'],
      additionalProperties: false,
    },
    annotations: { readOnly: true, idempotent: true },
    request: { method: 'GET', path: '/notes/{id}', query: { full: '{full}' } },
  };
}

function problems(def: unknown, file = 'tools/bad.json'): string[] {
  try {
    declarativeTool(def, file);
  } catch (err) {
    expect(err).toBeInstanceOf(ToolDefinitionError);
    expect((err as ToolDefinitionError).file).toBe(file);
    expect((err as ToolDefinitionError).message.startsWith(`${file}: invalid tool definition`)).toBe(true);
    return (err as ToolDefinitionError).problems;
  }
  throw new Error('expected a ToolDefinitionError');
}

describe('declarative tools', () => {
  it('turns JSON Schema input into zod, and keeps it listable', () => {
    const tool = declarativeTool(valid(), 'tools/get_note.json');
    expect(tool.name).toBe('get_note');
    expect(tool.input.safeParse({ id: 'abc' }).success).toBe(true);
    expect(tool.input.safeParse({ id: '' }).success).toBe(false);
    expect(tool.input.safeParse({ id: 'a', extra: 1 }).success).toBe(false);
    expect(tool.input.safeParse({}).success).toBe(false);
    const listed = z.toJSONSchema(tool.input, { io: 'input' }) as Loose;
    expect(listed.type).toBe('object');
    expect(listed.required).toEqual(['id']);
    expect(listed.properties.id).toMatchObject({ type: 'string', minLength: 1 });
  });

  it('builds the request from the templates', () => {
    const tool = declarativeTool(valid(), 'tools/get_note.json');
    expect(tool.request({ id: 'n 1' })).toEqual({ method: 'GET', path: '/notes/n%201', query: {} });
    const req = buildDownstreamRequest('http://127.0.0.1:8789', tool.request({ id: 'n1', full: true }));
    expect(req.url.href).toBe('http://127.0.0.1:8789/notes/n1?full=true');
  });

  it('keeps argument types in JSON bodies and drops what is missing', () => {
    const tool = declarativeTool(fixture('valid/echo.json'), 'echo.json');
    const all = tool.request({
      owner: 'o x',
      labels: ['a', 'b c'],
      limit: 5,
      pinned: false,
      text: 'hi',
      state: 'open',
    });
    expect(all).toEqual({
      method: 'POST',
      path: '/owners/o%20x/search.json',
      query: { state: 'open', label: ['a', 'b c'], v: '2', per_page: 5 },
      headers: { 'X-Trace': 'owner=o x' },
      json: { q: 'hi', limit: 5, pinned: false, labels: ['a', 'b c'], who: 'by o x', fixed: [1, 'two'] },
    });
    const few = tool.request({ owner: 'me' });
    expect(few.query).toEqual({ v: '2' });
    expect(few.json).toEqual({ who: 'by me', fixed: [1, 'two'] });
  });

  it('rejects a path argument that would escape, naming it', () => {
    const tool = declarativeTool(fixture('valid/echo.json'), 'echo.json');
    // "o/x" would be fine in a header or body, but not as a path segment.
    expect(() => tool.request({ owner: 'o/x' })).toThrow(InvalidArgumentsError);
    try {
      tool.request({ owner: '..' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidArgumentsError);
      expect((err as InvalidArgumentsError).details.issues).toEqual(['owner: must not be "." or ".."']);
    }
  });

  it.each<[string, (d: Loose) => void, string]>([
    [
      'a path template that is not an input property',
      (d) => {
        d.request.path = '/repos/{owner}/notes/{id}';
      },
      'request.path: "{owner}" is not an input property',
    ],
    [
      'an optional path argument',
      (d) => {
        d.request.path = '/notes/{full}';
      },
      'request.path: "{full}" must be a required input property',
    ],
    [
      'a path argument of a type that is not one segment',
      (d) => {
        d.input.properties.id.type = ['string', 'object'];
      },
      'request.path: "{id}" must be a string or a number, not "object"',
    ],
    [
      'a boolean path argument',
      (d) => {
        d.input.properties.id.type = 'boolean';
      },
      'request.path: "{id}" must be a string or a number, not "boolean"',
    ],
    [
      'a dot segment in the path',
      (d) => {
        d.request.path = '/notes/../admin/{id}';
      },
      'request.path: segment 2 must not be "." or ".."',
    ],
    [
      'an empty segment in the path',
      (d) => {
        d.request.path = '/notes//{id}';
      },
      'request.path: segment 2 must not be empty ("//")',
    ],
    [
      'a path without a leading slash',
      (d) => {
        d.request.path = 'notes/{id}';
      },
      'request.path: must start with "/"',
    ],
    [
      'an absolute URL as the path',
      (d) => {
        d.request.path = 'https://evil.example/{id}';
      },
      'request.path: must start with "/"',
    ],
    [
      'a query template that is not an input property',
      (d) => {
        d.request.query = { state: '{state}' };
      },
      'request.query.state: "{state}" is not an input property',
    ],
    [
      'a JSON template that is not an input property',
      (d) => {
        d.request.method = 'POST';
        d.request.json = { note: { title: '{title}' } };
      },
      'request.json.note.title: "{title}" is not an input property',
    ],
    [
      'a body on a GET',
      (d) => {
        d.request.json = { id: '{id}' };
      },
      'request.json: a GET request has no body',
    ],
    [
      'an Authorization header',
      (d) => {
        d.request.headers = { Authorization: 'Bearer {id}' };
      },
      'request.headers.Authorization: is set by the gateway, not by tools',
    ],
    [
      'a Proxy- header',
      (d) => {
        d.request.headers = { 'Proxy-Authorization': 'x' };
      },
      'request.headers.Proxy-Authorization: is set by the gateway, not by tools',
    ],
    [
      'a header that overrides the method',
      (d) => {
        d.request.headers = { 'X-HTTP-Method-Override': 'DELETE' };
      },
      'request.headers.X-HTTP-Method-Override: would override the request method or URL',
    ],
    [
      'a bad method',
      (d) => {
        d.request.method = 'FETCH';
      },
      'request.method: must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"',
    ],
    [
      'an unknown key in request',
      (d) => {
        d.request.querry = {};
      },
      'request.querry: unknown key',
    ],
    [
      'an unknown top-level key',
      (d) => {
        d.scope = ['notes:read'];
      },
      'scope: unknown key',
    ],
    [
      'a missing request',
      (d) => {
        delete d.request;
      },
      'request: required',
    ],
    [
      'input that is not an object schema',
      (d) => {
        d.input = { type: 'array', items: { type: 'string' } };
      },
      'input.type: must be "object"',
    ],
    [
      'input JSON Schema that zod cannot express',
      (d) => {
        d.input.if = { properties: {} };
      },
      'input: Conditional schemas (if/then/else) are not supported',
    ],
    [
      'input with an unknown type',
      (d) => {
        d.input.properties.id.type = 'text';
      },
      'input: Unsupported type: text',
    ],
    [
      'a bad tool name',
      (d) => {
        d.name = 'Get Note';
      },
      'name: must be 1-64 characters of a-z, 0-9 and _, starting with a letter',
    ],
    [
      'readOnly and destructive',
      (d) => {
        d.annotations.destructive = true;
      },
      'annotations: a tool cannot be both readOnly and destructive',
    ],
    [
      'an unknown annotation',
      (d) => {
        d.annotations.readonly = true;
      },
      'annotations.readonly: unknown key',
    ],
  ])('rejects %s', (_label, change, expected) => {
    const d = valid();
    change(d);
    const found = problems(d);
    expect(
      found.some((p) => p.startsWith(expected)),
      found.join('\n'),
    ).toBe(true);
  });

  it('reports every problem of a file at once', () => {
    const found = problems(fixture('invalid/many_problems.json'), 'tools/many_problems.json');
    expect(found).toEqual(
      expect.arrayContaining([
        'request.path: "{id}" must be a required input property',
        'request.path: segment 3 must not be "." or ".."',
        'request.headers.Authorization: is set by the gateway, not by tools',
        'request.json: a GET request has no body',
        'request.json.x: "{nope}" is not an input property',
        'name: must be 1-64 characters of a-z, 0-9 and _, starting with a letter',
        'title: required',
        'annotations: a tool cannot be both readOnly and destructive',
      ]),
    );
  });

  it('reports the example of the brief: file and path', () => {
    let err: ToolDefinitionError | undefined;
    try {
      declarativeTool(fixture('invalid/unknown_path_arg.json'), 'tools/bad.json');
    } catch (e) {
      err = e as ToolDefinitionError;
    }
    expect(err?.message).toBe(
      'tools/bad.json: invalid tool definition:\n  - request.path: "{owner}" is not an input property',
    );
  });
});
