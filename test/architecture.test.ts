// The folder rules of docs/architecture.md: imports point down its layer order, no cycle, the SDK only in src/mcp/.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyse, findCycles, main } from '../scripts/folder-deps.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');

/**
 * Cycles allowed for now. Empty: a new cycle fails, and so does a listed one that is gone, so this list
 * can only stay empty.
 */
const KNOWN_CYCLES: string[] = [];

/** Files outside src/mcp/ that import the MCP SDK, allowed for now. Empty: keep it so. */
const KNOWN_SDK_IMPORTS: string[] = [];

/** Edges that point up the layer order of docs/architecture.md, allowed for now. Empty: keep it so. */
const KNOWN_UPWARD: string[] = [];

describe('src/ folder graph', () => {
  const graph = analyse(SRC);

  it('has no folder cycle beyond the known ones, and every known one still exists', () => {
    const added = graph.cycles.filter((c) => !KNOWN_CYCLES.includes(c));
    const gone = KNOWN_CYCLES.filter((c) => !graph.cycles.includes(c));
    expect(added, 'new folder cycles (run `npm run check:deps` to see the imports behind them)').toEqual([]);
    expect(gone, 'cycles cut: delete them from KNOWN_CYCLES').toEqual([]);
  });

  it('imports the MCP SDK only under src/mcp/, beyond the known files, and every known file still does', () => {
    const added = graph.sdkImports.filter((f) => !KNOWN_SDK_IMPORTS.includes(f));
    const gone = KNOWN_SDK_IMPORTS.filter((f) => !graph.sdkImports.includes(f));
    expect(added, 'new MCP SDK imports outside src/mcp/').toEqual([]);
    expect(gone, 'files that no longer import the SDK: delete them from KNOWN_SDK_IMPORTS').toEqual([]);
  });

  it('imports only down the layer order of docs/architecture.md, beyond the known upward edges', () => {
    const page = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
    const block = page.slice(page.indexOf('## What may import what')).match(/```\n([\s\S]*?)```/)?.[1] ?? '';
    const rows = block
      .trim()
      .split('\n')
      .map((line) => line.split(',').map((folder) => folder.trim()));
    const row = new Map(rows.flatMap((folders, i) => folders.map((folder) => [folder, i] as const)));
    // Every folder of src/ has a row, so a new folder is placed on purpose.
    const unplaced = [...new Set(graph.edges.flatMap((e) => [e.from, e.to]))].filter((f) => !row.has(f));
    expect(unplaced, 'folders missing from the order in docs/architecture.md').toEqual([]);
    const upward = graph.edges
      .filter((e) => row.get(e.from)! >= row.get(e.to)!)
      .map((e) => `${e.from} -> ${e.to}`)
      .filter((edge) => !KNOWN_UPWARD.includes(edge));
    expect(upward, 'edges that point up or sideways (run `npm run check:deps` for the imports)').toEqual([]);
    const gone = KNOWN_UPWARD.filter((edge) => !graph.edges.some((e) => `${e.from} -> ${e.to}` === edge));
    expect(gone, 'upward edges cut: delete them from KNOWN_UPWARD').toEqual([]);
  });

  it('reads the real tree: the folders the design names are there, and the package entry is left out', () => {
    const folders = new Set(graph.edges.flatMap((e) => [e.from, e.to]));
    for (const folder of ['broker', 'cli', 'config', 'gateway', 'mcp', 'providers', 'tools', 'src root']) {
      expect(folders).toContain(folder);
    }
    expect(graph.edges.flatMap((e) => e.imports).some((line) => line.startsWith('src/index.ts'))).toBe(false);
  });
});

describe('scripts/folder-deps.mjs', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** A throwaway src/ tree: file path -> source. */
  function tree(files: Record<string, string>): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'keyward-deps-'));
    dirs.push(dir);
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, 'src', file)), { recursive: true });
      writeFileSync(path.join(dir, 'src', file), text);
    }
    return path.join(dir, 'src');
  }

  function run(srcDir: string, json = false) {
    let out = '';
    let err = '';
    const code = main(json ? ['--json', srcDir] : [srcDir], { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  }

  const clean = {
    'index.ts': "export * from './gateway/gateway.js';\nexport * from './mcp/server.js';\n",
    'log.ts': 'export const log = 1;\n',
    'gateway/gateway.ts': "import { log } from '../log.js';\nimport type { Grant } from '../broker/grants.js';\n",
    'broker/grants.ts': "import { log } from '../log.js';\nexport type Grant = string;\n",
    'mcp/server.ts':
      "import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';\nimport { x } from '../gateway/gateway.js';\n",
  };

  it('passes a clean tree, prints its edges, and marks type-only ones', () => {
    const r = run(tree(clean));
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain('gateway -> broker  (types only)');
    expect(r.out).toContain('gateway -> src root\n');
    expect(r.out).toContain('mcp -> gateway\n');
    // src/index.ts re-exports everything and is no folder: no edge from it.
    expect(r.out).not.toMatch(/index/);
  });

  it('fails on a cycle and names it, with an import on each side', () => {
    const srcDir = tree({
      ...clean,
      // Mentions in comments and strings are not imports.
      'log.ts': "// import '../gateway/gateway.js'\nexport const text = \"from '../broker/grants.js'\";\n",
      'broker/grants.ts': "import { gateway } from '../gateway/gateway.js';\nexport type Grant = string;\n",
    });
    const r = run(srcDir);
    expect(r.code).toBe(1);
    expect(r.err).toContain('cycle: broker<->gateway');
    expect(r.err).toContain('src/broker/grants.ts -> ../gateway/gateway.js');
    expect(r.err).toContain('src/gateway/gateway.ts -> ../broker/grants.js');
    expect(JSON.parse(run(srcDir, true).out).cycles).toEqual(['broker<->gateway']);
  });

  it('fails on an MCP SDK import outside src/mcp/ and names the file', () => {
    const r = run(
      tree({
        ...clean,
        'transports/http.ts': "import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';\n",
      }),
    );
    expect(r.code).toBe(1);
    expect(r.err).toBe('@modelcontextprotocol/sdk imported outside src/mcp/: src/transports/http.ts\n');
  });

  it('names a longer cycle once, from its alphabetically first folder', () => {
    const edges = [
      { from: 'gateway', to: 'broker' },
      { from: 'broker', to: 'config' },
      { from: 'config', to: 'gateway' },
      { from: 'config', to: 'src root' },
    ];
    expect(findCycles(edges)).toEqual(['broker->config->gateway->broker']);
    expect(findCycles([...edges, { from: 'src root', to: 'config' }])).toEqual([
      'broker->config->gateway->broker',
      'config<->src root',
    ]);
  });
});

describe('the docs in the repo', () => {
  const pages = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
    f.endsWith('.md'),
  );

  it('link only to files inside the repository, and every such link resolves', () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages) {
      const text = readFileSync(path.join(ROOT, page), 'utf8');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^(https?:|mailto:|#)/.test(target)) continue;
        const file = path.resolve(path.dirname(path.join(ROOT, page)), decodeURI(target.replace(/#.*$/, '')));
        checked++;
        if (path.relative(ROOT, file).startsWith('..') || !existsSync(file)) broken.push(`${page}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
    // The README links the design, the architecture and the storage schema at least.
    expect(checked).toBeGreaterThanOrEqual(5);
  });
});
