// MCP over stdio: one local user, stdout reserved for JSON-RPC.
import type { Gateway } from '../gateway/gateway.js';
import { createMcpServer } from '../mcp/server.js';
import { connectStdio } from '../mcp/stdio.js';

export async function serveStdio(gateway: Gateway): Promise<{ closed: Promise<void> }> {
  const { config } = gateway;
  const mcp = createMcpServer({
    name: config.server.name,
    version: gateway.version,
    tools: gateway.toolList,
    call: (caller, name, args, opts) => gateway.callTool(caller, name, args, opts),
    callerFor: (_verified, clientName) => ({ user: config.server.user, client: clientName ?? 'unknown-client' }),
  });
  const { closed } = await connectStdio(mcp);
  gateway.logger.info({ user: config.server.user, tools: gateway.toolList.length }, 'serving MCP over stdio');
  return { closed };
}
