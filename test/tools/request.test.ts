import { describe, expect, it } from 'vitest';
import { InvalidArgumentsError } from '../../src/errors.js';
import { declarativeTool } from '../../src/tools/declarative.js';
import { buildDownstreamRequest, path, unsafeSegmentReason } from '../../src/tools/request.js';

const BASES = ['https://api.example.com/v1/', 'http://127.0.0.1:8789'];

/** Values an agent might send to escape the API's path or reach another host. */
const HOSTILE: string[] = [
  'https://evil.example',
  'https://evil.example/x',
  '//evil',
  '//evil.example/path',
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '%2e',
  '.%2e',
  '%2e.',
  '%2E%2E%2F',
  '..%2f',
  '..%2F..%2Fadmin',
  '%2f',
  '%5c',
  '%252e%252e',
  '%25252e%25252e',
  '%252f',
  'a/../../b',
  '../admin',
  '/etc/passwd',
  '\\\\evil',
  '..\\..\\admin',
  '@evil',
  'user:pass@evil.example',
  '?x=1#',
  '#fragment',
  'a?b=c',
  '\uff0e\uff0e', // fullwidth full stops
  '\u2025', // two dot leader, NFKC ".."
  '\uff0f', // fullwidth solidus
  '\uff3cevil', // fullwidth reverse solidus
  '%c0%ae%c0%ae', // overlong UTF-8 dots
  'a\nb',
  'a\u0000b',
  '%00',
  '..;',
  '..;/admin',
  'evil.example:443',
  'javascript:alert(1)',
  ' ',
  '',
  'x'.repeat(5000),
];

/** Either rejected with InvalidArgumentsError, or encoded into a URL that stays under the base. */
function assertContained(base: string, build: () => ReturnType<typeof buildDownstreamRequest>, segments: number) {
  let req: ReturnType<typeof buildDownstreamRequest>;
  try {
    req = build();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentsError);
    return 'rejected';
  }
  const b = new URL(base);
  const basePath = b.pathname.replace(/\/+$/, '');
  expect(req.url.origin).toBe(b.origin);
  expect(req.url.pathname.startsWith(`${basePath}/`)).toBe(true);
  expect(req.url.pathname.slice(basePath.length + 1).split('/')).toHaveLength(segments);
  expect(req.url.search).toBe('');
  expect(req.url.hash).toBe('');
  expect(req.url.username + req.url.password).toBe('');
  return 'encoded';
}

const getNote = declarativeTool(
  {
    name: 'get_thing',
    title: 'Get',
    description: 'd',
    provider: 'notes',
    scopes: ['notes:read'],
    input: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
    request: { method: 'GET', path: '/notes/{id}' },
  },
  'inline.json',
);

describe('hostile path arguments', () => {
  for (const base of BASES) {
    describe(base, () => {
      it.each(HOSTILE.map((v) => [JSON.stringify(v).slice(0, 40), v]))('%s', (_label, value) => {
        const outcomes = [
          assertContained(base, () => buildDownstreamRequest(base, { method: 'GET', path: ['notes', value] }), 2),
          assertContained(base, () => buildDownstreamRequest(base, { method: 'GET', path: path`/notes/${value}` }), 2),
          assertContained(base, () => buildDownstreamRequest(base, getNote.request({ id: value })), 2),
        ];
        // The three ways of building a path agree.
        expect(new Set(outcomes).size).toBe(1);
      });
    });
  }

  it('rejects the dangerous ones outright', () => {
    for (const v of [
      '..',
      '.',
      '%2e%2e',
      '%2E%2E%2F',
      '..%2f',
      '%252e%252e',
      'a/../../b',
      '//evil',
      'https://evil.example',
      '\\\\evil',
      '\uff0e\uff0e',
      '',
    ]) {
      expect(unsafeSegmentReason(v), v).toBeDefined();
    }
  });

  it('encodes the harmless ones', () => {
    const req = buildDownstreamRequest('https://api.example.com/v1', {
      method: 'GET',
      path: path`/repos/${'@evil'}/${'?x=1#'}/${'a b'}/${'ü'}/${42}`,
    });
    expect(req.url.href).toBe('https://api.example.com/v1/repos/%40evil/%3Fx%3D1%23/a%20b/%C3%BC/42');
  });

  it('names the argument', () => {
    const err = (() => {
      try {
        getNote.request({ id: '%2e%2e' });
      } catch (e) {
        return e as InvalidArgumentsError;
      }
    })();
    expect(err).toBeInstanceOf(InvalidArgumentsError);
    expect(err?.details.issues).toEqual(['id: must not be "." or ".."']);
    expect(err?.toPayload().code).toBe('invalid_arguments');
  });
});

describe('string paths', () => {
  const base = 'https://api.example.com/v1';
  it.each([
    ['/notes/../admin'],
    ['/notes/%2e%2e/admin'],
    ['/notes/%252e%252e/admin'],
    ['//evil.example/x'],
    ['https://evil.example/x'],
    ['notes'],
    ['/notes?x=1'],
    ['/notes#x'],
    ['/notes//x'],
    ['/notes/\\evil'],
    ['/notes/a b'],
    ['/notes/%zz'],
  ])('rejects %s', (p) => {
    expect(() => buildDownstreamRequest(base, { method: 'GET', path: p })).toThrow(InvalidArgumentsError);
  });

  it('accepts a plain path and a trailing slash', () => {
    expect(buildDownstreamRequest(base, { method: 'GET', path: '/notes' }).url.href).toBe(`${base}/notes`);
    expect(buildDownstreamRequest(base, { method: 'GET', path: '/notes/' }).url.href).toBe(`${base}/notes/`);
    expect(buildDownstreamRequest(base, { method: 'GET', path: '/' }).url.href).toBe(`${base}/`);
    expect(buildDownstreamRequest(base, { method: 'GET', path: [] }).url.href).toBe(base);
  });
});

describe('query, headers and body', () => {
  const base = 'https://api.example.com/v1?api-version=7';

  it('encodes values, repeats arrays and skips undefined', () => {
    const req = buildDownstreamRequest(base, {
      method: 'GET',
      path: '/search',
      query: { q: 'a&b=c #d', label: ['x y', 'ü', 3], draft: false, page: 2, missing: undefined },
    });
    expect(req.url.search).toBe(
      '?api-version=7&q=a%26b%3Dc%20%23d&label=x%20y&label=%C3%BC&label=3&draft=false&page=2',
    );
    expect(req.url.origin).toBe('https://api.example.com');
    expect(req.url.pathname).toBe('/v1/search');
  });

  it('rejects non-finite numbers and objects as query values', () => {
    expect(() => buildDownstreamRequest(base, { method: 'GET', path: '/', query: { n: Number.NaN } })).toThrow(
      InvalidArgumentsError,
    );
    expect(() =>
      buildDownstreamRequest(base, { method: 'GET', path: '/', query: { o: { a: 1 } as unknown as string } }),
    ).toThrow(InvalidArgumentsError);
  });

  it.each([
    'Authorization',
    'authorization',
    'Cookie',
    'Host',
    'Proxy-Authorization',
    'Proxy-Connection',
    'Connection',
    'Transfer-Encoding',
    'Upgrade',
    'TE',
    'Keep-Alive',
    'Content-Length',
    'X-Forwarded-For',
    'X-HTTP-Method-Override',
    'X-HTTP-Method',
    'X-Method-Override',
    'X-Original-URL',
    'X-Rewrite-URL',
    'Bad Header',
  ])('refuses a tool header %s', (name) => {
    expect(() => buildDownstreamRequest(base, { method: 'GET', path: '/', headers: { [name]: 'x' } })).toThrow(
      TypeError,
    );
  });

  it('refuses header values that would split the header', () => {
    for (const v of ['a\r\nX-Injected: 1', 'a\nb', 'a\u0000', 'ünicode-\u2028']) {
      expect(() => buildDownstreamRequest(base, { method: 'GET', path: '/', headers: { 'X-Thing': v } })).toThrow(
        InvalidArgumentsError,
      );
    }
  });

  it('sends JSON with its content type, and lower-cases tool headers', () => {
    const req = buildDownstreamRequest(base, {
      method: 'POST',
      path: '/notes',
      headers: { 'X-Request-Tag': 'demo' },
      json: { title: 't', n: 1 },
    });
    expect(req.method).toBe('POST');
    expect(req.body).toBe('{"title":"t","n":1}');
    expect(req.headers).toEqual({
      accept: 'application/json',
      'x-request-tag': 'demo',
      'content-type': 'application/json',
    });
  });

  it('treats a GET with a body and an unknown method as tool bugs', () => {
    expect(() => buildDownstreamRequest(base, { method: 'GET', path: '/', json: {} })).toThrow(TypeError);
    expect(() => buildDownstreamRequest(base, { method: 'TRACE' as 'GET', path: '/' })).toThrow(TypeError);
  });
});
