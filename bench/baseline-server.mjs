// Baseline for the cold-start bench: a bare MCP SDK server over stdio with four tools and no gateway.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'baseline', version: '0.0.0' });
for (const name of ['list_notes', 'get_note', 'create_note', 'delete_note']) {
  server.registerTool(name, { description: name, inputSchema: { id: z.string().optional() } }, async () => ({
    content: [{ type: 'text', text: 'ok' }],
  }));
}
await server.connect(new StdioServerTransport());
