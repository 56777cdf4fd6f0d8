// MCP over stdio: stdout is reserved for JSON-RPC, which only the SDK's transport writes.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';

/** Connects the server to this process's stdin and stdout; `closed` settles when the client goes away. */
export async function connectStdio(mcp: McpServer): Promise<{ closed: Promise<void> }> {
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    // A client that goes away without closing cleanly still ends the server.
    process.stdin.once('end', () => resolve());
  });
  await mcp.connect(transport);
  return { closed };
}
