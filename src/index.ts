// The package's public surface for tool authors: defineTool, the path tag, the types and the errors.

/** The zod the gateway uses, so that tool modules need no zod of their own. */
export { z } from 'zod';
export {
  type AnyGatewayError,
  ApprovalDeniedError,
  ApprovalRequiredError,
  ConfigError,
  DownstreamError,
  type ErrorCode,
  ForbiddenError,
  GatewayError,
  InsufficientScopeError,
  InvalidArgumentsError,
  isGatewayError,
  ProviderUnavailableError,
  ReauthRequiredError,
  StoreUnavailableError,
  ToolDefinitionError,
  type ToolErrorPayload,
} from './errors.js';
export { defineTool, type ToolSpec } from './tools/define.js';
export { path } from './tools/request.js';
export type { AnyZodObject, HttpMethod, RequestSpec, ToolAnnotations, ToolDefinition } from './tools/types.js';
