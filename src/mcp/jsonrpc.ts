// Reads a parsed JSON-RPC body (one message or a batch) for what the HTTP layer must decide before the SDK runs.
import { CallToolRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const TOOLS_CALL = CallToolRequestSchema.shape.method.value;

/** Only what the gate reads: a message it cannot read as a tools/call is not one, and the SDK answers it. */
const ToolsCall = z.looseObject({
  method: z.literal(TOOLS_CALL),
  params: z.looseObject({ name: z.string() }),
});

/** The names of the tools a body calls; a batch is read as a whole. */
export function toolCallNames(body: unknown): string[] {
  const messages: unknown[] = Array.isArray(body) ? body : [body];
  const names: string[] = [];
  for (const msg of messages) {
    const parsed = ToolsCall.safeParse(msg);
    if (parsed.success) names.push(parsed.data.params.name);
  }
  return names;
}
