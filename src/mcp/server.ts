// The MCP adapter: the gateway's tools as an MCP server, and its error contract as MCP results.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  UrlElicitationRequiredError,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ERROR_CODES, needsUserGrant, userAction } from '../errors.js';
import type { Caller, ToolOutcome } from '../gateway/toolCall.js';
import type { ToolDefinition } from '../tools/types.js';
import { type AuthenticatedCaller, callerFromAuthInfo } from './auth.js';

/** The error contract's shape, as it appears in structuredContent.error. */
const ToolErrorShape = z.looseObject({
  code: z.enum(ERROR_CODES),
  message: z.string(),
  retryable: z.boolean(),
});

/**
 * The advertised output schema. SDK clients validate structuredContent against it even on
 * isError results, so it also admits the error contract's `{error}`; its own fields become
 * optional for the same reason. Successful results are checked against the tool's strict schema
 * before they leave the gateway (gateway/toolCall.ts).
 */
function advertisedOutput(tool: ToolDefinition) {
  return tool.output ? tool.output.partial().extend({ error: ToolErrorShape.optional() }) : undefined;
}

export interface McpAdapterOptions {
  name: string;
  version: string;
  tools: readonly ToolDefinition[];
  /** Runs the call through the gateway's pipeline. */
  call: (caller: Caller, name: string, args: unknown, opts: { signal?: AbortSignal }) => Promise<ToolOutcome>;
  /**
   * Who is calling: the transport decides (stdio: the local user; HTTP: the caller its inbound auth
   * verified for this request, where there is one).
   */
  callerFor: (verified: AuthenticatedCaller | undefined, clientName: string | undefined) => Caller;
}

export function createMcpServer(opts: McpAdapterOptions): McpServer {
  const mcp = new McpServer(
    { name: opts.name, version: opts.version },
    {
      capabilities: { tools: { listChanged: false } },
      instructions:
        "Keyward calls APIs on the user's behalf. When a tool answers reauth_required or insufficient_scope, show the user the authorizeUrl and retry after they have granted access.",
    },
  );

  for (const tool of opts.tools) {
    mcp.registerTool(
      tool.name,
      {
        title: tool.title,
        description: tool.description,
        inputSchema: tool.input,
        ...(tool.output ? { outputSchema: advertisedOutput(tool) } : {}),
        annotations: {
          title: tool.title,
          readOnlyHint: tool.annotations.readOnly ?? false,
          destructiveHint: tool.annotations.destructive ?? false,
          idempotentHint: tool.annotations.idempotent ?? false,
          openWorldHint: tool.annotations.openWorld ?? true,
        },
      },
      // Calls are answered by the handler below, which owns validation and the error contract.
      async () => ({ content: [], isError: true }),
    );
  }

  // The SDK's own call handler answers bad arguments with free text; the error contract needs
  // `invalid_arguments` in structuredContent, so the gateway's pipeline answers every call.
  mcp.server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const caller = opts.callerFor(callerFromAuthInfo(extra.authInfo), mcp.server.getClientVersion()?.name);
    const outcome = await opts.call(caller, request.params.name, request.params.arguments ?? {}, {
      signal: extra.signal,
    });
    if (outcome.ok) {
      return {
        content: [{ type: 'text', text: outcome.text }],
        ...(outcome.structured ? { structuredContent: outcome.structured } : {}),
      };
    }
    const error = outcome.error;
    const needsUser = needsUserGrant(error.code);
    if (needsUser && error.authorizeUrl && mcp.server.getClientCapabilities()?.elicitation?.url) {
      // A client that declared URL elicitation gets the protocol error (-32042) and shows the link itself.
      throw new UrlElicitationRequiredError([
        { mode: 'url', url: error.authorizeUrl, elicitationId: outcome.callId, message: userAction(error) },
      ]);
    }
    return {
      isError: true,
      content: [{ type: 'text', text: userAction(error) }],
      structuredContent: { error: error as unknown as Record<string, unknown> },
    };
  });

  return mcp;
}
