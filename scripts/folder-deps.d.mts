// Types for scripts/folder-deps.mjs, so test/architecture.test.ts can call it with the typecheck on.
export declare const ROOT_FOLDER: 'src root';
export declare const SDK: '@modelcontextprotocol/sdk';
export declare const SDK_FOLDER: 'mcp';

export interface FolderEdge {
  from: string;
  to: string;
  /** Every import behind the edge is `import type` / `export type`. */
  typeOnly: boolean;
  /** `src/<file> -> <specifier>`, one per distinct import. */
  imports: string[];
}

export interface FolderGraph {
  edges: FolderEdge[];
  /** "a<->b" for a pair, "a->b->c->a" for a longer cycle; sorted. */
  cycles: string[];
  /** Files outside src/mcp/ that import the MCP SDK, as src/<path>; sorted. */
  sdkImports: string[];
}

export declare function folderOf(srcDir: string, file: string): string | undefined;
export declare function analyse(srcDir: string): FolderGraph;
export declare function findCycles(edges: Array<Pick<FolderEdge, 'from' | 'to'>>): string[];
export declare function main(argv: string[], io?: { out(text: string): void; err(text: string): void }): 0 | 1 | 2;
