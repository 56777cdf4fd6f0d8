// Loads tool definitions from the configured paths and checks them against the configured providers.

import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseJson, readFailure } from '../config/load.js';
import type { ResolvedProvider } from '../config/types.js';
import { ConfigError, ToolDefinitionError } from '../errors.js';
import { packageRoot } from '../packageRoot.js';
import { PRESETS } from '../providers/presets/index.js';
import { declarativeTool } from './declarative.js';
import { isDefinedTool, toolDefinitionProblems } from './define.js';
import type { ToolDefinition } from './types.js';

export interface LoadToolsOptions {
  /**
   * Where `tools/x.ts` finds its compiled `dist/tools/x.js`. Defaults to the folder of this
   * package's package.json.
   */
  packageRoot?: string;
}

// Also where the gateway finds its package.json, for the version it reports.
export { packageRoot };

const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs'];

/** Paths in errors: relative to the working directory when inside it, so they stay short. */
function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

interface Candidate {
  /** What the user's folder holds (the .ts for a compiled tool). */
  file: string;
  /** What is actually read or imported. */
  load: string;
}

class Problems {
  readonly byFile = new Map<string, string[]>();
  add(file: string, problems: string[]): void {
    if (problems.length === 0) return;
    const list = this.byFile.get(file) ?? [];
    list.push(...problems);
    this.byFile.set(file, list);
  }
  throwIfAny(): void {
    if (this.byFile.size === 0) return;
    const [[first, problems]] = [...this.byFile] as [[string, string[]]];
    if (this.byFile.size === 1) throw new ToolDefinitionError(shown(first), problems);
    const all = [...this.byFile].flatMap(([file, list]) => list.map((p) => `${shown(file)}: ${p}`));
    throw new ToolDefinitionError([...this.byFile.keys()].map(shown).join(', '), all);
  }
}

function isTypeScript(name: string): boolean {
  return /\.(m|c)?ts$/.test(name) && !/\.d\.(m|c)?ts$/.test(name);
}

function compiledSibling(file: string): string | undefined {
  const stem = file.replace(/\.(m|c)?ts$/, '');
  return MODULE_EXTENSIONS.map((ext) => stem + ext).find((f) => existsSync(f));
}

/**
 * A .ts tool next to no .js is one of this package's own tools, which `npm run build` compiled to
 * <package root>/dist/<same relative path>.js. Node cannot import TypeScript, so that file is loaded.
 */
function resolveTypeScript(file: string, root: string): { load?: string; problem?: string } {
  const sibling = compiledSibling(file);
  if (sibling) return { load: sibling };
  const rel = path.relative(root, file);
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    return { problem: 'TypeScript is not loaded directly: compile it to a .js file next to it' };
  }
  const compiled = path.join(
    root,
    'dist',
    rel.replace(/\.(m|c)?ts$/, (ext) => `.${ext.slice(1, -2)}js`),
  );
  if (!existsSync(compiled)) return { problem: `not compiled: run \`npm run build\` (expected ${shown(compiled)})` };
  return { load: compiled };
}

async function candidates(paths: string[], root: string, problems: Problems): Promise<Candidate[]> {
  const out: Candidate[] = [];
  const add = (file: string) => {
    const base = path.basename(file);
    if (base.endsWith('.json')) out.push({ file, load: file });
    else if (MODULE_EXTENSIONS.some((ext) => base.endsWith(ext))) out.push({ file, load: file });
    else if (isTypeScript(base)) {
      const r = resolveTypeScript(file, root);
      if (r.problem) problems.add(file, [r.problem]);
      else out.push({ file, load: r.load! });
    }
  };
  for (const p of paths) {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(p);
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      problems.add(p, [missing ? 'not found (check "tools" in the config)' : readFailure(err, 'tool path')]);
      continue;
    }
    if (!info.isDirectory()) {
      if (!/\.(json|m?js|cjs|(m|c)?ts)$/.test(p) || /\.d\.(m|c)?ts$/.test(p)) {
        problems.add(p, ['not a tool file: use .json, .js or .mjs']);
      } else add(p);
      continue;
    }
    // Not recursive: a tools folder is flat, and helper modules can live in a subfolder.
    let names: string[];
    try {
      names = (await readdir(p)).filter((n) => !n.startsWith('.')).sort();
    } catch (err) {
      problems.add(p, [readFailure(err, 'tools folder')]);
      continue;
    }
    const present = new Set(names);
    for (const name of names) {
      if (/\.d\.(m|c)?ts$/.test(name) || /\.(js|ts)\.map$/.test(name)) continue;
      // A tool.ts with its compiled tool.js beside it is one tool: the .js is loaded on its own.
      if (isTypeScript(name) && MODULE_EXTENSIONS.some((ext) => present.has(name.replace(/\.(m|c)?ts$/, ext))))
        continue;
      if (!/\.(json|m?js|cjs|(m|c)?ts)$/.test(name)) continue;
      const file = path.join(p, name);
      try {
        if ((await stat(file)).isFile()) add(file);
      } catch (err) {
        // Listed but not there: a symbolic link to nowhere, or a file removed meanwhile.
        problems.add(file, [readFailure(err, 'tool file')]);
      }
    }
  }
  return out;
}

/** A tool's provider must be configured, and its scopes among that provider's. */
function providerProblems(
  tool: { provider: string; scopes: readonly string[] },
  providers: Record<string, ResolvedProvider>,
  at: (key: string) => string,
): string[] {
  const local: string[] = [];
  const provider = providers[tool.provider];
  if (!provider) {
    const known = Object.keys(providers);
    local.push(
      `${at('provider')}: provider "${tool.provider}" is not configured` +
        (known.length ? ` (configured: ${known.join(', ')})` : ' (the config has no providers)'),
    );
  } else {
    if (tool.scopes.length === 0 && !(provider.preset && PRESETS[provider.preset]?.narrowing === 'none')) {
      local.push(
        `${at('scopes')}: must name at least one scope (an empty scope on refresh means the whole grant); only tools of providers whose tokens carry no scopes, such as the github preset, may leave it empty`,
      );
    }
    const allowed = new Set(provider.scopes);
    for (const scope of tool.scopes) {
      if (!allowed.has(scope)) {
        local.push(
          `${at('scopes')}: scope "${scope}" is not among providers.${tool.provider}.scopes` +
            ` (${provider.scopes.length ? provider.scopes.join(', ') : 'none configured'}); add it there or drop it here`,
        );
      }
    }
  }
  return local;
}

async function loadJson(
  c: Candidate,
  problems: Problems,
  providers: Record<string, ResolvedProvider>,
): Promise<ToolDefinition[]> {
  let raw: unknown;
  try {
    raw = parseJson(await readFile(c.load, 'utf8'), shown(c.file));
  } catch (err) {
    problems.add(c.file, err instanceof ConfigError ? err.problems : [readFailure(err, 'tool file')]);
    return [];
  }
  try {
    return [declarativeTool(raw, shown(c.file))];
  } catch (err) {
    if (!(err instanceof ToolDefinitionError)) throw err;
    // The provider and its scopes are checked too, so that one run reports every mistake of the file.
    const r = raw as { provider?: unknown; scopes?: unknown };
    const scopes = Array.isArray(r.scopes) ? r.scopes.filter((x): x is string => typeof x === 'string') : undefined;
    const later =
      typeof r.provider === 'string' && scopes
        ? providerProblems({ provider: r.provider, scopes }, providers, (k) => k)
        : [];
    const keyOf = (p: string) => p.slice(0, p.indexOf(':'));
    const seen = new Set(err.problems.map(keyOf));
    problems.add(c.file, [...err.problems, ...later.filter((p) => !seen.has(keyOf(p)))]);
    return [];
  }
}

function toolsIn(value: unknown, at: string, problems: string[], strict: boolean): ToolDefinition[] {
  if (isDefinedTool(value)) return [value];
  if (Array.isArray(value) && value.length > 0 && value.some(isDefinedTool)) {
    return value.flatMap((v, i) => {
      if (isDefinedTool(v)) return [v];
      problems.push(`${at}[${i}]: is not a tool (make it with defineTool)`);
      return [];
    });
  }
  if (strict) problems.push(`${at}: is not a tool or an array of tools (make them with defineTool)`);
  return [];
}

async function loadModule(c: Candidate, problems: Problems): Promise<ToolDefinition[]> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(c.load).href)) as Record<string, unknown>;
  } catch (err) {
    // defineTool throws at import time, naming the tool; keep its list.
    if (
      err instanceof Error &&
      err.name === 'ToolDefinitionError' &&
      Array.isArray((err as ToolDefinitionError).problems)
    ) {
      const e = err as ToolDefinitionError;
      problems.add(
        c.file,
        e.problems.map((p) => `${e.file}: ${p}`),
      );
    } else problems.add(c.file, [`cannot be imported: ${(err as Error)?.message ?? String(err)}`]);
    return [];
  }
  const local: string[] = [];
  const found = new Set<ToolDefinition>();
  // The default export first: its order is the author's; a module namespace lists names alphabetically.
  const entries = Object.entries(mod).sort(([a], [b]) => Number(b === 'default') - Number(a === 'default'));
  for (const [name, value] of entries) {
    // A default export must be tools; a named export may be anything (helpers, constants).
    const at = name === 'default' ? 'default export' : `export ${name}`;
    for (const t of toolsIn(value, at, local, name === 'default')) found.add(t);
  }
  if (found.size === 0 && local.length === 0) local.push('exports no tools (export defineTool(...) results)');
  for (const t of found) local.push(...toolDefinitionProblems(t).map((p) => `${t.name}.${p}`));
  problems.add(c.file, local);
  return [...found];
}

/**
 * Loads every tool under `paths` (files, or folders read one level deep): `*.json` declarative tools,
 * `*.js`/`*.mjs`/`*.cjs` modules whose default or named exports are defineTool results (or arrays of
 * them), and this package's own `*.ts` tools from their compiled dist/ copies. Rejects duplicate names,
 * unknown providers and scopes that the provider is not configured to ask for. Throws one
 * ToolDefinitionError listing every problem.
 */
export async function loadTools(
  paths: string[],
  providers: Record<string, ResolvedProvider>,
  opts: LoadToolsOptions = {},
): Promise<ToolDefinition[]> {
  const problems = new Problems();
  const root = opts.packageRoot ?? packageRoot();
  const seen = new Map<string, string>();
  const tools: ToolDefinition[] = [];

  for (const c of await candidates(paths, root, problems)) {
    const defined = c.file.endsWith('.json') ? await loadJson(c, problems, providers) : await loadModule(c, problems);
    const single = defined.length === 1 && c.file.endsWith('.json');
    for (const tool of defined) {
      const at = (key: string) => (single ? key : `${tool.name}.${key}`);
      const local: string[] = [];
      const first = seen.get(tool.name);
      if (first !== undefined) {
        local.push(`${at('name')}: duplicate tool name "${tool.name}", also defined in ${shown(first)}`);
      } else seen.set(tool.name, c.file);

      local.push(...providerProblems(tool, providers, at));
      problems.add(c.file, local);
      if (local.length === 0) tools.push({ ...tool, source: c.file });
    }
  }
  problems.throwIfAny();
  return tools;
}
