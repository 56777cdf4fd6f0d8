import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { ToolDefinitionError } from '../../src/errors.js';
import { defineTool, isDefinedTool, type ToolSpec } from '../../src/tools/define.js';
import type { RequestSpec } from '../../src/tools/types.js';

const input = z.strictObject({ owner: z.string(), limit: z.number().int().optional() });

function spec(overrides: Record<string, unknown> = {}): ToolSpec<typeof input> {
  return {
    name: 'list_repos',
    title: 'List repositories',
    description: 'Lists the repositories of an owner.',
    provider: 'github',
    scopes: ['repo:read'],
    input,
    annotations: { readOnly: true, idempotent: true },
    request: ({ owner, limit }) => ({ method: 'GET', path: ['users', owner, 'repos'], query: { per_page: limit } }),
    ...overrides,
  } as ToolSpec<typeof input>;
}

function problemsOf(overrides: Record<string, unknown>): string[] {
  try {
    defineTool(spec(overrides));
  } catch (err) {
    expect(err).toBeInstanceOf(ToolDefinitionError);
    return (err as ToolDefinitionError).problems;
  }
  return [];
}

describe('defineTool', () => {
  it('applies the MCP defaults: a tool that is not read-only is destructive unless it says otherwise', () => {
    const del = defineTool(
      spec({ name: 'delete_repo', annotations: undefined, request: () => ({ method: 'DELETE', path: '/r' }) }),
    );
    expect(del.annotations).toEqual({ readOnly: false, destructive: true, idempotent: false });
    const additive = defineTool(spec({ name: 'add_star', annotations: { destructive: false } }));
    expect(additive.annotations).toEqual({ readOnly: false, destructive: false, idempotent: false });
    const reader = defineTool(spec({ annotations: { readOnly: true } }));
    expect(reader.annotations).toEqual({ readOnly: true });
    expect(reader.annotations.destructive).toBeUndefined();
  });

  it('returns a tool with typed arguments and a brand the loader recognises', () => {
    const tool = defineTool(spec());
    expect(isDefinedTool(tool)).toBe(true);
    expect(isDefinedTool({ ...tool })).toBe(false);
    expect(tool.name).toBe('list_repos');
    expect(tool.request({ owner: 'octo', limit: 5 })).toEqual({
      method: 'GET',
      path: ['users', 'octo', 'repos'],
      query: { per_page: 5 },
    });
    expectTypeOf(tool.request).parameter(0).toEqualTypeOf<{ owner: string; limit?: number | undefined }>();
    expectTypeOf(tool.request).returns.toEqualTypeOf<RequestSpec>();
  });

  it('without annotations, gives the MCP defaults (not read-only, so destructive)', () => {
    const { annotations: _a, ...rest } = spec();
    expect(defineTool(rest as ToolSpec<typeof input>).annotations).toEqual({
      readOnly: false,
      destructive: true,
      idempotent: false,
    });
  });

  it.each([
    ['a bad name', { name: 'List-Repos' }, 'name: must be 1-64 characters of a-z, 0-9 and _, starting with a letter'],
    ['a name too long', { name: `a${'b'.repeat(64)}` }, 'name: must be 1-64 characters'],
    ['no title', { title: '' }, 'title: required'],
    ['no description', { description: undefined }, 'description: required'],
    ['a bad provider name', { provider: 'GitHub' }, 'provider: provider names are lower-case, a-z0-9-'],
    ['a scope with a space', { scopes: ['repo read'] }, 'scopes[0]: must be a scope token (no spaces)'],
    ['a scope twice', { scopes: ['repo', 'repo'] }, 'scopes[1]: "repo" is listed twice'],
    ['scopes not an array', { scopes: 'repo' }, 'scopes: must be an array of scope strings'],
    ['input not zod', { input: { owner: 'string' } }, 'input: must be a zod object schema'],
    ['input a zod string', { input: z.string() }, 'input: must be a zod object schema'],
    ['output not an object schema', { output: z.array(z.string()) }, 'output: must be a zod object schema'],
    [
      'readOnly and destructive',
      { annotations: { readOnly: true, destructive: true } },
      'annotations: a tool cannot be both readOnly and destructive',
    ],
    ['an unknown annotation', { annotations: { readonly: true } }, 'annotations.readonly: unknown key'],
    ['a non-boolean annotation', { annotations: { idempotent: 'yes' } }, 'annotations.idempotent: must be a boolean'],
    ['no request function', { request: { method: 'GET', path: '/' } }, 'request: must be a function'],
    ['an unknown key', { scope: ['repo'] }, 'scope: unknown key'],
  ])('rejects %s', (_label, overrides, expected) => {
    const problems = problemsOf(overrides);
    expect(
      problems.some((p) => p.startsWith(expected)),
      problems.join('\n'),
    ).toBe(true);
  });

  it('names the tool and lists every problem at once', () => {
    let err: ToolDefinitionError | undefined;
    try {
      defineTool(spec({ scopes: ['a b'], title: '', annotations: { readOnly: true, destructive: true } }));
    } catch (e) {
      err = e as ToolDefinitionError;
    }
    expect(err?.file).toBe('defineTool("list_repos")');
    expect(err?.problems).toHaveLength(3);
    expect(err?.message).toContain('defineTool("list_repos"): invalid tool definition');
  });
});
