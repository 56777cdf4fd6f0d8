// defineTool(): the typed way to write a tool, checked when it is created rather than when it is called.
import { PROVIDER_NAME } from '../config/schema.js';
import { ToolDefinitionError } from '../errors.js';
import { ANNOTATION_KEYS, type AnyZodObject, type ToolAnnotations, type ToolDefinition } from './types.js';

export const TOOL_NAME = /^[a-z][a-z0-9_]{0,63}$/;
/** RFC 6749 s.3.3 scope-token: printable ASCII without space, `"` or `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const MAX_TITLE = 100;
const MAX_DESCRIPTION = 4000;

/**
 * What a tool author writes: a ToolDefinition whose `annotations` may be left out (the MCP defaults
 * then apply) and without `source`, which the loader sets.
 */
export type ToolSpec<I extends AnyZodObject, O extends AnyZodObject = AnyZodObject> = Omit<
  ToolDefinition<I, O>,
  'annotations' | 'source'
> &
  Partial<Pick<ToolDefinition<I, O>, 'annotations'>>;

/**
 * Marks what defineTool made, so that the loader can tell tools from other exports. A global
 * symbol, because a tool module compiled to dist/ may load a second copy of this file.
 */
export const TOOL_BRAND: unique symbol = Symbol.for('keyward.tool') as never;

/** Every key of a ToolDefinition; the compiler keeps it complete. */
const KNOWN_KEYS: ReadonlySet<string> = new Set(
  Object.keys({
    name: true,
    title: true,
    description: true,
    provider: true,
    scopes: true,
    gatewayScopes: true,
    input: true,
    output: true,
    annotations: true,
    request: true,
    source: true,
  } satisfies Record<keyof ToolDefinition, true>),
);
const ANNOTATIONS: ReadonlySet<string> = new Set(ANNOTATION_KEYS);

function isZodObject(v: unknown): v is AnyZodObject {
  const def = (v as { _zod?: { def?: { type?: string } } } | undefined)?._zod?.def;
  return (
    typeof v === 'object' && v !== null && def?.type === 'object' && typeof (v as AnyZodObject).safeParse === 'function'
  );
}

function scopeProblems(key: string, scopes: unknown, allowEmpty: boolean): string[] {
  if (!Array.isArray(scopes)) return [`${key}: must be an array of scope strings`];
  const problems: string[] = [];
  if (!allowEmpty && scopes.length === 0) {
    problems.push(`${key}: must name at least one scope (an empty scope on refresh means the whole grant)`);
  }
  const seen = new Set<string>();
  scopes.forEach((s, i) => {
    if (typeof s !== 'string' || !SCOPE_TOKEN.test(s)) problems.push(`${key}[${i}]: must be a scope token (no spaces)`);
    else if (seen.has(s)) problems.push(`${key}[${i}]: "${s}" is listed twice`);
    else seen.add(s);
  });
  return problems;
}

/** Every problem with a tool definition, as `path: message`; empty when it is valid. */
export function toolDefinitionProblems(def: unknown): string[] {
  if (typeof def !== 'object' || def === null || Array.isArray(def)) return ['(tool): must be an object'];
  const d = def as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(d)) if (!KNOWN_KEYS.has(key)) problems.push(`${key}: unknown key`);

  if (typeof d.name !== 'string') problems.push('name: required');
  else if (!TOOL_NAME.test(d.name)) {
    problems.push('name: must be 1-64 characters of a-z, 0-9 and _, starting with a letter');
  }
  for (const [key, max] of [
    ['title', MAX_TITLE],
    ['description', MAX_DESCRIPTION],
  ] as const) {
    const v = d[key];
    if (typeof v !== 'string' || v.trim() === '') problems.push(`${key}: required`);
    else if (v.length > max) problems.push(`${key}: must be at most ${max} characters`);
  }
  if (typeof d.provider !== 'string') problems.push('provider: required');
  else if (!PROVIDER_NAME.test(d.provider)) problems.push('provider: provider names are lower-case, a-z0-9-');

  // Empty is allowed here for providers whose tokens carry no scopes (GitHub App user tokens);
  // the loader refuses it for every provider that can narrow (tools/load.ts).
  problems.push(...scopeProblems('scopes', d.scopes, true));
  if (d.gatewayScopes !== undefined) problems.push(...scopeProblems('gatewayScopes', d.gatewayScopes, true));

  if (d.input === undefined) problems.push('input: required');
  else if (!isZodObject(d.input)) problems.push('input: must be a zod object schema (z.object({...}))');
  if (d.output !== undefined && !isZodObject(d.output)) {
    problems.push('output: must be a zod object schema (z.object({...}))');
  }

  const a = d.annotations;
  if (a !== undefined) {
    if (typeof a !== 'object' || a === null || Array.isArray(a)) problems.push('annotations: must be an object');
    else {
      for (const [k, v] of Object.entries(a)) {
        if (!ANNOTATIONS.has(k)) problems.push(`annotations.${k}: unknown key`);
        else if (typeof v !== 'boolean') problems.push(`annotations.${k}: must be a boolean`);
      }
      const ann = a as ToolAnnotations;
      if (ann.readOnly && ann.destructive) problems.push('annotations: a tool cannot be both readOnly and destructive');
    }
  }

  if (typeof d.request !== 'function') problems.push('request: must be a function from arguments to a request');
  if (d.source !== undefined && typeof d.source !== 'string') problems.push('source: must be a string');
  return problems;
}

/**
 * Defines a tool. The arguments of `request` are typed from `input`, and the definition is
 * checked now, so that a mistake stops the gateway at start-up with the tool's name in the error.
 *
 * `scopes` may be empty only for a provider whose tokens have no scopes: on a refresh, an empty
 * scope means "everything the grant holds" (RFC 6749 s.6). The loader enforces that per provider.
 */
export function defineTool<I extends AnyZodObject, O extends AnyZodObject = AnyZodObject>(
  spec: ToolSpec<I, O>,
): ToolDefinition<I, O> {
  const problems = toolDefinitionProblems(spec);
  if (problems.length > 0) {
    const name = typeof spec?.name === 'string' ? spec.name : '?';
    throw new ToolDefinitionError(`defineTool(${JSON.stringify(name)})`, problems);
  }
  const tool: ToolDefinition<I, O> = {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    provider: spec.provider,
    scopes: [...spec.scopes],
    ...(spec.gatewayScopes ? { gatewayScopes: [...spec.gatewayScopes] } : {}),
    input: spec.input,
    ...(spec.output ? { output: spec.output } : {}),
    annotations: withMcpDefaults(spec.annotations),
    request: spec.request,
  };
  Object.defineProperty(tool, TOOL_BRAND, { value: true });
  return tool;
}

/**
 * The MCP defaults made explicit (readOnlyHint false, destructiveHint true, idempotentHint false,
 * openWorldHint true), so a tool that changes something and does not say how is advertised as
 * destructive: clients that ask before destructive actions then ask. Destructive and idempotent
 * mean nothing for a read-only tool, so they stay unset there unless the author set them.
 */
export function withMcpDefaults(a: ToolAnnotations | undefined): ToolAnnotations {
  const readOnly = a?.readOnly ?? false;
  if (readOnly) return { ...a, readOnly };
  return { ...a, readOnly, destructive: a?.destructive ?? true, idempotent: a?.idempotent ?? false };
}

/** True for what defineTool (from any copy of this module) returned. */
export function isDefinedTool(value: unknown): value is ToolDefinition {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[TOOL_BRAND] === true;
}
