// MCP over Streamable HTTP without sessions: a new server and transport for each request.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Request, Response } from 'express';
import { attachCaller, type RequestAuth } from './auth.js';

/** A JSON-RPC error that answers no particular request (`id: null`), as the SDK's transport writes them. */
export function rpcError(res: Response, status: number, code: number, message: string): void {
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });
}

/**
 * Answers one request with a fresh server and transport (reusing one breaks in SDK 1.32), so any
 * number of instances can sit behind a load balancer. `req.body` is the parsed JSON.
 */
export async function handleStatelessRequest(
  newServer: () => McpServer,
  req: Request,
  res: Response,
  auth?: RequestAuth,
): Promise<void> {
  attachCaller(req, auth);
  const mcp = newServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  res.on('close', () => {
    void transport.close();
    void mcp.close();
  });
  await mcp.connect(transport);
  await transport.handleRequest(req, res, req.body);
}
