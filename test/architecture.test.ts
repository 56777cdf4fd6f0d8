// The folder rules of docs/architecture.md hold: no import cycle between src/ folders, the MCP SDK only under src/mcp/.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyse, findCycles, main } from '../scripts/folder-deps.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const SRC = path.join(ROOT, 'src');

/**
 * Cycles that exist on main today (issue 8). This list only shrinks: a new cycle fails, and so does a listed
 * one that is gone, so whoever cuts it deletes its line here. The longer ones close through two edges:
 * config -> broker (config/load.ts reads broker/crypto.ts) and providers -> broker (providers/types.ts);
 * cutting those two and gateway <-> onboarding leaves config <-> src root (version.ts reads
 * config/packageRoot.ts, config/load.ts reads errors.ts).
 */
const KNOWN_CYCLES: string[] = [
  'broker->downstream->src root->config->broker',
  'broker->providers->config->broker',
  'broker->providers->src root->config->broker',
  'broker->src root->config->broker',
  'broker->tools->config->broker',
  'broker->tools->providers->broker',
  'broker->tools->providers->config->broker',
  'broker->tools->providers->src root->config->broker',
  'broker->tools->src root->config->broker',
  'broker<->config',
  'broker<->providers',
  'config<->src root',
  'gateway<->onboarding',
];

/** Same rule for files outside src/mcp/ that still import the MCP SDK (they are moving into src/mcp/). */
const KNOWN_SDK_IMPORTS: string[] = [
  'src/identity/caller.ts',
  'src/identity/metadata.ts',
  'src/identity/middleware.ts',
  'src/transports/http.ts',
  'src/transports/sessions.ts',
  'src/transports/stdio.ts',
];

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
