// The JSON Schema of mcp.config.json, generated from the zod schema so that the two cannot disagree.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { packageRoot } from '../packageRoot.js';
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

/** Where the committed schema lives: <package root>/schema/. */
export function configJsonSchemaPath(): string {
  return path.join(packageRoot(), 'schema', 'mcp.config.schema.json');
}

/** Regenerates the committed file: `npm run build && node -e "import('./dist/src/config/jsonSchema.js').then(m => m.writeConfigJsonSchema())"`. */
export async function writeConfigJsonSchema(file = configJsonSchemaPath()): Promise<string> {
  await writeFile(file, configJsonSchemaText());
  return file;
}
