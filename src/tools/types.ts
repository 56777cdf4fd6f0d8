// What a tool is: a provider, the least scopes it needs, an input schema and a request mapping.
import type { z } from 'zod';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

/**
 * What a tool asks the gateway to send. `path` is relative to the provider's apiBaseUrl.
 * A string path must already be safe (build it with the `path` tag of ./request.ts);
 * an array path is a list of segments, each encoded by the gateway.
 */
export interface RequestSpec {
  method: HttpMethod;
  path: string | ReadonlyArray<string | number>;
  query?: Record<string, string | number | boolean | ReadonlyArray<string | number> | undefined>;
  headers?: Record<string, string>;
  json?: unknown;
}

export interface ToolAnnotations {
  readOnly?: boolean;
  destructive?: boolean;
  idempotent?: boolean;
  openWorld?: boolean;
}

/** The keys of ToolAnnotations, for checks at run time; the compiler keeps the list complete. */
export const ANNOTATION_KEYS = Object.keys({
  readOnly: true,
  destructive: true,
  idempotent: true,
  openWorld: true,
} satisfies Record<keyof ToolAnnotations, true>) as Array<keyof ToolAnnotations>;

// biome-ignore lint/suspicious/noExplicitAny: a tool's input shape is its own business
export type AnyZodObject = z.ZodObject<any>;

export interface ToolDefinition<I extends AnyZodObject = AnyZodObject, O extends AnyZodObject = AnyZodObject> {
  name: string;
  title: string;
  description: string;
  provider: string;
  /** The least provider scopes the action needs. */
  scopes: string[];
  /** Gateway scopes the caller's inbound token must hold (HTTP step-up). */
  gatewayScopes?: string[];
  input: I;
  output?: O;
  annotations: ToolAnnotations;
  request: (args: z.infer<I>) => RequestSpec;
  /** Where the definition came from, for errors. Set by the loader. */
  source?: string;
}

/** Idempotent calls may be retried once after a 401 and a forced refresh. */
export function isIdempotent(tool: ToolDefinition, method: HttpMethod): boolean {
  return method === 'GET' || method === 'HEAD' || tool.annotations.idempotent === true;
}
