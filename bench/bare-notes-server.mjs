// Baseline for the overhead bench: a bare MCP SDK server whose list_notes calls the demo notes API with a token it holds.
// Usage: BARE_TOKEN=… BARE_API=http://127.0.0.1:port node bench/bare-notes-server.mjs [stdio|http]
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

const token = process.env.BARE_TOKEN;
const api = process.env.BARE_API;
if (!token || !api) throw new Error('BARE_TOKEN and BARE_API are required');

function server() {
  const mcp = new McpServer({ name: 'bare', version: '0.0.0' });
  mcp.registerTool('list_notes', { description: 'List notes.' }, async () => {
    const res = await fetch(`${api}/notes`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    return { content: [{ type: 'text', text: JSON.stringify(body) }], structuredContent: body };
  });
  return mcp;
}

if (process.argv[2] === 'http') {
  // The SDK's stateless pattern, as the gateway serves it: a server and a transport per request.
  const httpServer = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    const mcp = server();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void mcp.close();
    });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  httpServer.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${httpServer.address().port}/mcp` })}\n`);
  });
} else {
  await server().connect(new StdioServerTransport());
}
