#!/usr/bin/env node
// The folder import graph of src/: prints its edges; fails on a folder cycle or an MCP SDK import outside src/mcp/.
//
// A folder is src/<name>/ (at any depth below it); the files directly in src/ count as one folder, "src root",
// except src/index.ts, the package entry, which re-exports from many folders and so is left out. Type-only imports
// count: a cycle of types is still two folders that cannot change apart. Imports are read with the
// TypeScript scanner the project already has (comments and strings are not mistaken for imports).
//
//   node scripts/folder-deps.mjs [--json] [srcDir]     exit 0: no problem; 1: a cycle or an SDK import; 2: usage
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT_FOLDER = 'src root';
export const SDK = '@modelcontextprotocol/sdk';
/** The one folder allowed to import the MCP SDK. */
export const SDK_FOLDER = 'mcp';

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(file);
    return /\.(m|c)?tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [file] : [];
  });
}

/** The folder a file belongs to, or undefined for the package entry (and anything outside srcDir). */
export function folderOf(srcDir, file) {
  const rel = path.relative(srcDir, file).split(path.sep);
  if (rel[0] === '..' || path.isAbsolute(rel.join('/'))) return undefined;
  if (rel.length === 1) return /^index\.(m|c)?tsx?$/.test(rel[0]) ? undefined : ROOT_FOLDER;
  return rel[0];
}

/** `import type`/`export type` as a whole statement; `import { type A, B }` still loads B, so it is not. */
function isTypeOnly(text, pos) {
  const start = Math.max(text.lastIndexOf('import', pos), text.lastIndexOf('export', pos));
  return start >= 0 && /^(import|export)\s+type\s/.test(text.slice(start, pos));
}

/**
 * Reads srcDir and returns every folder-to-folder edge (with the file imports behind it), every cycle,
 * and every file outside src/mcp/ that imports the MCP SDK.
 */
export function analyse(srcDir) {
  const edges = new Map();
  const sdkImports = [];
  for (const file of sourceFiles(srcDir)) {
    const from = folderOf(srcDir, file);
    if (!from) continue;
    const text = readFileSync(file, 'utf8');
    const rel = path.relative(path.dirname(srcDir), file).split(path.sep).join('/');
    for (const { fileName: spec, pos } of ts.preProcessFile(text, true, true).importedFiles) {
      if (spec === SDK || spec.startsWith(`${SDK}/`)) {
        if (from !== SDK_FOLDER) sdkImports.push(rel);
        continue;
      }
      if (!spec.startsWith('.')) continue;
      // Sources import their siblings by the emitted name (./x.js); the folder is all that matters here.
      const to = folderOf(srcDir, path.resolve(path.dirname(file), spec));
      if (!to || to === from) continue;
      const key = `${from}\u0000${to}`;
      const edge = edges.get(key) ?? { from, to, typeOnly: true, imports: [] };
      edge.typeOnly &&= isTypeOnly(text, pos);
      if (!edge.imports.includes(`${rel} -> ${spec}`)) edge.imports.push(`${rel} -> ${spec}`);
      edges.set(key, edge);
    }
  }
  const list = [...edges.values()].sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to));
  return { edges: list, cycles: findCycles(list), sdkImports: [...new Set(sdkImports)].sort() };
}

/**
 * Every elementary cycle between folders, each named once: a pair as "a<->b" (names sorted), a longer one as
 * "a->b->c->a" starting from its alphabetically first folder. Folders number about a dozen, so a plain
 * depth-first walk from each folder, visiting only folders after it, is quick enough.
 */
export function findCycles(edges) {
  const next = new Map();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to].sort());
  const nodes = [...next.keys()].sort();
  const found = new Set();
  for (const start of nodes) {
    const walk = (node, trail) => {
      for (const to of next.get(node) ?? []) {
        if (to === start) found.add(trail.length === 2 ? `${trail[0]}<->${trail[1]}` : [...trail, start].join('->'));
        else if (to > start && !trail.includes(to)) walk(to, [...trail, to]);
      }
    };
    walk(start, [start]);
  }
  return [...found].sort();
}

/** The command line; `io` lets a test read what it prints without starting a process. */
export function main(
  argv,
  io = { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text) },
) {
  const args = argv.filter((a) => a !== '--json');
  if (args.length > 1 || args.some((a) => a.startsWith('-'))) {
    io.err('usage: node scripts/folder-deps.mjs [--json] [srcDir]\n');
    return 2;
  }
  const srcDir = path.resolve(args[0] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'src'));
  const result = analyse(srcDir);
  const failed = result.cycles.length > 0 || result.sdkImports.length > 0;
  if (argv.includes('--json')) {
    io.out(`${JSON.stringify(result, null, 2)}\n`);
    return failed ? 1 : 0;
  }
  const out = result.edges.map((e) => `${e.from} -> ${e.to}${e.typeOnly ? '  (types only)' : ''}`);
  io.out(`folder import edges under ${path.relative(process.cwd(), srcDir) || '.'}:\n  ${out.join('\n  ')}\n`);
  const byPair = new Map(result.edges.map((e) => [`${e.from}->${e.to}`, e]));
  for (const cycle of result.cycles) {
    // Each step of the cycle with the first imports behind it: enough to see where to cut.
    const [a, b] = cycle.split('<->');
    const hops = b ? [a, b, a] : cycle.split('->');
    const why = hops.slice(1).flatMap((to, i) => {
      const edge = byPair.get(`${hops[i]}->${to}`);
      const more = edge.imports.length > 2 ? [`  … and ${edge.imports.length - 2} more`] : [];
      return [`${hops[i]} -> ${to}:`, ...edge.imports.slice(0, 2).map((line) => `  ${line}`), ...more];
    });
    io.err(`cycle: ${cycle}\n    ${why.join('\n    ')}\n`);
  }
  for (const file of result.sdkImports) io.err(`${SDK} imported outside src/${SDK_FOLDER}/: ${file}\n`);
  if (!failed) io.out('no folder cycle; the MCP SDK is imported only under src/mcp/\n');
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
