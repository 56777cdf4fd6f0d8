// The JSON Schema of mcp.config.json, generated from the zod schema so that the two cannot disagree.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { KeywardConfig } from './schema.js';

/** The schema that editors use for completion: the input side, so that defaulted keys are optional. */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(KeywardConfig, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any' });
  return { ...schema, title: 'Keyward gateway configuration (mcp.config.json)' };
}

/** The text committed at schema/mcp.config.schema.json. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

/** Where the committed schema lives: <package root>/schema/, from src/config/ or dist/src/config/. */
export function configJsonSchemaPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'schema', 'mcp.config.schema.json');
}

/** Regenerates the committed file: `npm run build && node -e "import('./dist/src/config/jsonSchema.js').then(m => m.writeConfigJsonSchema())"`. */
export async function writeConfigJsonSchema(file = configJsonSchemaPath()): Promise<string> {
  await writeFile(file, configJsonSchemaText());
  return file;
}
