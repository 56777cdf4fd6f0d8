import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResolvedProvider } from '../../src/config/types.js';
import { ToolDefinitionError } from '../../src/errors.js';
import { loadTools, packageRoot } from '../../src/tools/load.js';

const fixtures = fileURLToPath(new URL('../fixtures/tools/', import.meta.url));
const at = (p: string) => path.join(fixtures, p);
const repo = path.resolve(fixtures, '../../..');

function provider(name: string, scopes: string[]): ResolvedProvider {
  return { name, clientId: 'c', scopes, strategy: 'refresh', apiBaseUrl: 'http://127.0.0.1:1' } as ResolvedProvider;
}
const providers = { notes: provider('notes', ['notes:read', 'notes:write', 'notes:delete']) };

async function loadError(
  paths: string[],
  provs: Record<string, ResolvedProvider> = providers,
  opts = {},
): Promise<ToolDefinitionError> {
  try {
    await loadTools(paths, provs, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ToolDefinitionError);
    return err as ToolDefinitionError;
  }
  throw new Error('expected a ToolDefinitionError');
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'keyward-tools-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('loadTools', () => {
  it('reports every mistake of a JSON tool in one run: its shape, its fields, its request and its provider', async () => {
    const file = path.join(tmp, 'many_mistakes.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'Many-Mistakes',
        title: 'Many mistakes',
        description: 'A tool with a mistake in each phase.',
        provider: 'nowhere',
        scopes: ['notes:read'],
        colour: 'blue',
        input: { type: 'object', properties: { id: { type: 'string' } } },
        request: { method: 'GET', path: '/notes/{nope}' },
      }),
    );
    const err = await loadError([file]);
    expect(err.problems).toEqual([
      'colour: unknown key',
      'name: must be 1-64 characters of a-z, 0-9 and _, starting with a letter',
      'request.path: "{nope}" is not an input property',
      'provider: provider "nowhere" is not configured (configured: notes)',
    ]);
  });

  it('loads a folder of JSON and module tools, one level deep, skipping other files', async () => {
    const tools = await loadTools([at('valid')], providers);
    expect(tools.map((t) => t.name).sort()).toEqual(['greet', 'search_notes']);
    const greet = tools.find((t) => t.name === 'greet')!;
    expect(greet.source).toBe(at('valid/greet.mjs'));
    expect(greet.request({ who: 'you' })).toEqual({ method: 'GET', path: ['hello', 'you'] });
  });

  it('loads single files and default-exported arrays', async () => {
    const tools = await loadTools([at('modules/array.mjs'), at('valid/echo.json')], providers);
    expect(tools.map((t) => t.name)).toEqual(['one', 'two', 'search_notes']);
  });

  it('rejects duplicate names, naming both files', async () => {
    const err = await loadError([at('valid'), at('dup')]);
    expect(err.problems).toEqual([
      `name: duplicate tool name "greet", also defined in ${path.relative(process.cwd(), at('valid/greet.mjs'))}`,
    ]);
    expect(err.file).toBe(path.relative(process.cwd(), at('dup/greet_again.json')));
  });

  it('rejects a provider that is not configured and a scope the provider does not ask for', async () => {
    const err = await loadError([at('modules/wrong_scope.mjs')]);
    expect(err.problems).toEqual([
      'admin_notes.scopes: scope "notes:admin" is not among providers.notes.scopes (notes:read, notes:write, notes:delete); add it there or drop it here',
      'other_provider.provider: provider "github" is not configured (configured: notes)',
    ]);
    const none = await loadError([at('valid/echo.json')], {});
    expect(none.problems).toEqual(['provider: provider "notes" is not configured (the config has no providers)']);
    const narrow = await loadError([at('valid/echo.json')], { notes: provider('notes', ['notes:read']) });
    expect(narrow.problems).toEqual([
      'scopes: scope "notes:write" is not among providers.notes.scopes (notes:read); add it there or drop it here',
    ]);
  });

  it('allows no scopes only for a provider whose tokens carry none (the github preset)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keyward-tools-'));
    const tool = { ...JSON.parse(readFileSync(at('valid/echo.json'), 'utf8')), scopes: [] };
    writeFileSync(path.join(dir, 'unscoped.json'), JSON.stringify(tool));
    const notes = provider('notes', ['notes:read', 'notes:write']);
    const refused = await loadError([dir], { notes });
    expect(refused.problems[0]).toMatch(/^scopes: must name at least one scope/);
    const github = { ...notes, preset: 'github' as const };
    await expect(loadTools([dir], { notes: github })).resolves.toHaveLength(1);
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the file and the path for an invalid declarative tool', async () => {
    const err = await loadError([at('invalid/unknown_path_arg.json')]);
    expect(err.message).toBe(
      `${path.relative(process.cwd(), at('invalid/unknown_path_arg.json'))}: invalid tool definition:\n  - request.path: "{owner}" is not an input property`,
    );
  });

  it('lists the problems of every bad file, each prefixed with its file', async () => {
    const err = await loadError([at('invalid')]);
    const rel = (p: string) => path.relative(process.cwd(), at(p));
    expect(err.problems).toEqual(
      expect.arrayContaining([
        `${rel('invalid/typo.json')}: request.method: must be one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"`,
        `${rel('invalid/typo.json')}: request.querry: unknown key`,
        `${rel('invalid/unknown_path_arg.json')}: request.path: "{owner}" is not an input property`,
        `${rel('invalid/many_problems.json')}: title: required`,
      ]),
    );
  });

  it('names the position of a JSON syntax error', async () => {
    const file = path.join(tmp, 'broken.json');
    await writeFile(file, '{\n  "name": "broken",\n  "title": "x"\n  "description": "y"\n}\n');
    const err = await loadError([file]);
    expect(err.problems).toEqual([`${file}:4:3: invalid JSON: expected ',' or '}'`]);
  });

  it.each([
    ['modules/no_tools.mjs', 'exports no tools (export defineTool(...) results)'],
    ['modules/bad_default.mjs', 'default export: is not a tool or an array of tools (make them with defineTool)'],
    [
      'modules/throws.mjs',
      'defineTool("Bad-Name"): name: must be 1-64 characters of a-z, 0-9 and _, starting with a letter',
    ],
  ])('rejects %s', async (file, expected) => {
    const err = await loadError([at(file)]);
    expect(err.problems).toContain(expected);
    expect(err.file).toBe(path.relative(process.cwd(), at(file)));
  });

  it('names a link to nowhere in a tools folder instead of failing on it', async () => {
    const dir = path.join(tmp, 'dangling');
    await mkdir(dir, { recursive: true });
    await symlink(path.join(tmp, 'nowhere.json'), path.join(dir, 'gone.json'));
    const err = await loadError([dir]);
    expect(err.problems).toEqual(['tool file not found']);
    expect(err.file).toBe(path.join(dir, 'gone.json'));
  });

  it('rejects a missing path and a file that is not a tool', async () => {
    const missing = await loadError([path.join(tmp, 'nope')]);
    expect(missing.problems).toEqual(['not found (check "tools" in the config)']);
    const odd = await loadError([at('valid/notes-readme.md')]);
    expect(odd.problems).toEqual(['not a tool file: use .json, .js or .mjs']);
  });

  describe('TypeScript tools', () => {
    const index = pathToFileURL(path.join(repo, 'src/index.ts')).href;
    const compiled = (name: string) =>
      `import { defineTool, z } from ${JSON.stringify(index)};\n` +
      `export default defineTool({ name: ${JSON.stringify(name)}, title: 'T', description: 'D', provider: 'notes',` +
      ` scopes: ['notes:read'], input: z.object({}), request: () => ({ method: 'GET', path: '/x' }) });\n`;

    it('maps tools/x.ts to <package root>/dist/tools/x.js and skips .d.ts', async () => {
      const root = path.join(tmp, 'pkg');
      await mkdir(path.join(root, 'tools'), { recursive: true });
      await mkdir(path.join(root, 'dist/tools'), { recursive: true });
      await writeFile(path.join(root, 'package.json'), '{}');
      await writeFile(path.join(root, 'tools/hello.ts'), 'this is TypeScript that node cannot run');
      await writeFile(path.join(root, 'tools/hello.d.ts'), 'export {};');
      await writeFile(path.join(root, 'dist/tools/hello.js'), compiled('hello_from_dist'));
      const tools = await loadTools([path.join(root, 'tools')], providers, { packageRoot: root });
      expect(tools.map((t) => t.name)).toEqual(['hello_from_dist']);
      expect(tools[0]!.source).toBe(path.join(root, 'tools/hello.ts'));
      // Named directly, as mcp.config.json does.
      const direct = await loadTools([path.join(root, 'tools/hello.ts')], providers, { packageRoot: root });
      expect(direct.map((t) => t.name)).toEqual(['hello_from_dist']);
    });

    it('prefers a compiled sibling, loading it once', async () => {
      const dir = path.join(tmp, 'sibling');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'tool.ts'), 'not run');
      await writeFile(path.join(dir, 'tool.js'), compiled('sibling_tool'));
      const tools = await loadTools([dir], providers, { packageRoot: path.join(tmp, 'elsewhere') });
      expect(tools.map((t) => t.name)).toEqual(['sibling_tool']);
      const direct = await loadTools([path.join(dir, 'tool.ts')], providers, { packageRoot: path.join(tmp, 'x') });
      expect(direct.map((t) => t.name)).toEqual(['sibling_tool']);
    });

    it('says what to do when there is nothing compiled', async () => {
      const root = path.join(tmp, 'uncompiled');
      await mkdir(path.join(root, 'tools'), { recursive: true });
      await writeFile(path.join(root, 'tools/todo.ts'), 'not run');
      const inside = await loadError([path.join(root, 'tools')], providers, { packageRoot: root });
      expect(inside.problems).toEqual([
        `not compiled: run \`npm run build\` (expected ${path.join(root, 'dist/tools/todo.js')})`,
      ]);
      const outside = await loadError([path.join(root, 'tools')], providers, { packageRoot: path.join(tmp, 'pkg') });
      expect(outside.problems).toEqual(['TypeScript is not loaded directly: compile it to a .js file next to it']);
    });

    it('finds this package root by its package.json', () => {
      expect(packageRoot()).toBe(repo);
    });
  });
});
