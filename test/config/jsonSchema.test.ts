import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configJsonSchemaPath, configJsonSchemaText, writeConfigJsonSchema } from '../../src/config/jsonSchema.js';

describe('schema/mcp.config.schema.json', () => {
  it('is exactly what the zod schema generates (regenerate: KEYWARD_UPDATE_SCHEMA=1 npx vitest run test/config/jsonSchema.test.ts)', async () => {
    if (process.env.KEYWARD_UPDATE_SCHEMA === '1') await writeConfigJsonSchema();
    const committed = await readFile(configJsonSchemaPath(), 'utf8');
    expect(committed).toBe(configJsonSchemaText());
  });
});
