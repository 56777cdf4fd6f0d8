// Where this package is installed: the folder of its package.json, found from src/ or from dist/src/.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding this package's package.json (schema/, tools/ and dist/ hang off it). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('keyward: cannot find the package.json of keyward');
    dir = parent;
  }
  return dir;
}
