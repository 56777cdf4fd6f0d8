// MCP over stdio: one local user, stdout reserved for JSON-RPC.
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Gateway } from '../gateway/gateway.js';
import { createMcpServer } from '../mcp/server.js';

export async function serveStdio(gateway: Gateway): Promise<{ closed: Promise<void> }> {
  const { config } = gateway;
  const mcp = createMcpServer({
    name: config.server.name,
    version: gateway.version,
    tools: gateway.toolList,
    call: (caller, name, args, opts) => gateway.callTool(caller, name, args, opts),
    callerFor: (_extra, clientName) => ({ user: config.server.user, client: clientName ?? 'unknown-client' }),
  });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    // A client that goes away without closing cleanly still ends the server.
    process.stdin.once('end', () => resolve());
  });
  await mcp.connect(transport);
  gateway.logger.info({ user: config.server.user, tools: gateway.toolList.length }, 'serving MCP over stdio');
  return { closed };
}
