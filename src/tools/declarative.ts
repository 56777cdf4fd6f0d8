// The JSON form of a tool, for users without a build step: JSON Schema input and a templated request.
import { z } from 'zod';
import { formatIssues } from '../config/issues.js';
import { ToolDefinitionError } from '../errors.js';
import { defineTool, toolDefinitionProblems } from './define.js';
import { encodeSegment, reservedHeaderReason, unsafeSegmentReason } from './request.js';
import {
  ANNOTATION_KEYS,
  type AnyZodObject,
  HTTP_METHODS,
  type HttpMethod,
  type RequestSpec,
  type ToolAnnotations,
  type ToolDefinition,
} from './types.js';

const TEMPLATE = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_TEMPLATE = /^\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
/** Literal path text: RFC 3986 segment characters, plus the braces of templates. */
const PATH_TEMPLATE = /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/{}]|%[0-9A-Fa-f]{2})*$/;

const JsonSchemaObject = z.looseObject({ type: z.literal('object', 'must be "object"') });
const QueryValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))], {
  error: 'must be a string, a number, a boolean or an array of them',
});

/** The declarative definition itself, strict, so that a typo is an error rather than ignored. */
export const DeclarativeTool = z.strictObject({
  $schema: z.string().optional(),
  name: z.string(),
  title: z.string(),
  description: z.string(),
  provider: z.string(),
  scopes: z.array(z.string()),
  gatewayScopes: z.array(z.string()).optional(),
  input: JsonSchemaObject,
  output: JsonSchemaObject.optional(),
  annotations: z
    .strictObject(
      Object.fromEntries(ANNOTATION_KEYS.map((k) => [k, z.boolean().optional()])) as Record<
        keyof ToolAnnotations,
        z.ZodOptional<z.ZodBoolean>
      >,
    )
    .default({}),
  request: z.strictObject({
    method: z.enum(HTTP_METHODS),
    path: z.string().regex(PATH_TEMPLATE, 'must start with "/" and hold only URL path characters and {arg} templates'),
    query: z.record(z.string().min(1), QueryValue).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    json: z.unknown().optional(),
  }),
});
export type DeclarativeTool = z.infer<typeof DeclarativeTool>;

type Args = Record<string, unknown>;

function templateNames(text: string): string[] {
  return [...text.matchAll(TEMPLATE)].map((m) => m[1]!);
}

function interpolate(text: string, args: Args): string | undefined {
  let missing = false;
  const out = text.replace(TEMPLATE, (_m, name: string) => {
    const v = args[name];
    if (v === undefined || v === null) {
      missing = true;
      return '';
    }
    return typeof v === 'string' ? v : JSON.stringify(v);
  });
  return missing ? undefined : out;
}

/** `"{arg}"` keeps the argument's JSON type; text around templates makes a string; a missing argument drops the key. */
function fillJson(template: unknown, args: Args): unknown {
  if (typeof template === 'string') {
    const whole = WHOLE_TEMPLATE.exec(template);
    if (whole) return args[whole[1]!];
    return interpolate(template, args);
  }
  if (Array.isArray(template)) return template.map((t) => fillJson(t, args)).filter((v) => v !== undefined);
  if (typeof template === 'object' && template !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(template)) {
      const filled = fillJson(v, args);
      if (filled !== undefined) out[k] = filled;
    }
    return out;
  }
  return template;
}

function jsonTemplateNames(template: unknown, at: string, out: Array<[string, string]>): void {
  if (typeof template === 'string') {
    for (const n of templateNames(template)) out.push([at, n]);
  } else if (Array.isArray(template)) {
    for (const [i, t] of template.entries()) jsonTemplateNames(t, `${at}[${i}]`, out);
  } else if (typeof template === 'object' && template !== null) {
    for (const [k, v] of Object.entries(template)) jsonTemplateNames(v, `${at}.${k}`, out);
  }
}

/** Each `{arg}` of the path becomes one encoded segment (or part of one); the result is checked again when sent. */
function buildPath(template: string, args: Args): string {
  return template.replace(TEMPLATE, (_m, name: string) => encodeSegment(args[name], name));
}

function buildQuery(query: DeclarativeTool['request']['query'], args: Args): RequestSpec['query'] {
  if (!query) return undefined;
  const out: NonNullable<RequestSpec['query']> = {};
  for (const [key, value] of Object.entries(query)) {
    if (typeof value !== 'string') {
      out[key] = value;
      continue;
    }
    const whole = WHOLE_TEMPLATE.exec(value);
    const filled = whole ? args[whole[1]!] : interpolate(value, args);
    if (filled === undefined || filled === null) continue;
    out[key] = filled as NonNullable<RequestSpec['query']>[string];
  }
  return out;
}

/** JSON Schema types whose values can be one path segment. */
const SEGMENT_TYPES: ReadonlySet<string> = new Set(['string', 'number', 'integer']);

/** The JSON Schema types that an input property declares (none when it declares no `type`). */
function propertyTypes(schema: Record<string, unknown>, name: string): string[] {
  const prop = (schema.properties as Record<string, { type?: unknown }> | undefined)?.[name];
  const t = prop?.type;
  return typeof t === 'string' ? [t] : Array.isArray(t) ? t.filter((x): x is string => typeof x === 'string') : [];
}

function toZodObject(schema: Record<string, unknown>, key: string, problems: string[]): AnyZodObject | undefined {
  const { $schema: _ignored, ...rest } = schema;
  let converted: z.ZodType;
  try {
    converted = z.fromJSONSchema(rest as Parameters<typeof z.fromJSONSchema>[0]);
  } catch (err) {
    problems.push(`${key}: ${(err as Error).message}`);
    return undefined;
  }
  if (!(converted instanceof z.ZodObject)) {
    problems.push(`${key}: must be a plain object schema ("type": "object" with "properties")`);
    return undefined;
  }
  return converted as AnyZodObject;
}

/** What is wrong with a request template against the input schema: unknown or unfit `{arg}`s, unsafe paths, headers. */
function requestProblems(request: DeclarativeTool['request'], inputSchema: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const def = { request, input: inputSchema };
  const properties = new Set(Object.keys((def.input.properties as Record<string, unknown> | undefined) ?? {}));
  const required = new Set(Array.isArray(def.input.required) ? (def.input.required as string[]) : []);
  const unknownArg = (at: string, name: string) => problems.push(`${at}: "{${name}}" is not an input property`);

  for (const name of templateNames(def.request.path)) {
    if (!properties.has(name)) unknownArg('request.path', name);
    else if (!required.has(name)) problems.push(`request.path: "{${name}}" must be a required input property`);
    else {
      const unfit = propertyTypes(def.input, name).find((t) => !SEGMENT_TYPES.has(t));
      if (unfit) problems.push(`request.path: "{${name}}" must be a string or a number, not ${JSON.stringify(unfit)}`);
    }
  }
  const segments = def.request.path.slice(1).split('/');
  segments.forEach((segment, i) => {
    if (segment === '' && i === segments.length - 1) return;
    const reason = segment === '' ? 'must not be empty ("//")' : unsafeSegmentReason(segment.replace(TEMPLATE, 'x'));
    if (reason) problems.push(`request.path: segment ${i + 1} ${reason}`);
  });
  if (/[{}]/.test(def.request.path.replace(TEMPLATE, ''))) {
    problems.push('request.path: braces must enclose an input property name, as in "/notes/{id}"');
  }
  for (const [key, value] of Object.entries(def.request.query ?? {})) {
    if (typeof value === 'string')
      for (const n of templateNames(value)) if (!properties.has(n)) unknownArg(`request.query.${key}`, n);
  }
  for (const [name, value] of Object.entries(def.request.headers ?? {})) {
    const reason = reservedHeaderReason(name);
    if (reason) problems.push(`request.headers.${name}: ${reason}`);
    for (const n of templateNames(value)) if (!properties.has(n)) unknownArg(`request.headers.${name}`, n);
  }
  if (def.request.json !== undefined) {
    if (def.request.method === 'GET' || def.request.method === 'HEAD') {
      problems.push(`request.json: a ${def.request.method} request has no body`);
    }
    const refs: Array<[string, string]> = [];
    jsonTemplateNames(def.request.json, 'request.json', refs);
    for (const [at, n] of refs) if (!properties.has(n)) unknownArg(at, n);
  }

  return problems;
}

/**
 * With the shape wrong, what the later checks still find in the parts that are right, so that one `check` run
 * reports every mistake of a file; a path already reported is not reported twice.
 */
function laterProblems(raw: unknown, reported: string[]): string[] {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return [];
  const r = raw as Record<string, unknown>;
  const problems: string[] = [];
  const meta = Object.fromEntries(
    ['name', 'title', 'description', 'provider', 'scopes', 'gatewayScopes', 'annotations']
      .filter((k) => r[k] !== undefined)
      .map((k) => [k, r[k]]),
  );
  problems.push(...toolDefinitionProblems({ ...meta, input: z.object({}), request: () => undefined }));
  const input = JsonSchemaObject.safeParse(r.input);
  if (input.success) toZodObject(input.data, 'input', problems);
  const request = DeclarativeTool.shape.request.safeParse(r.request);
  if (input.success && request.success) problems.push(...requestProblems(request.data, input.data));
  const keyOf = (p: string) => p.slice(0, p.indexOf(':'));
  const seen = new Set(reported.map(keyOf));
  return problems.filter((p) => !seen.has(keyOf(p)));
}

/**
 * Turns a parsed JSON tool file into a ToolDefinition, or throws a ToolDefinitionError that lists
 * every problem as `path: message` under `file`.
 */
export function declarativeTool(raw: unknown, file: string): ToolDefinition {
  const parsed = DeclarativeTool.safeParse(raw);
  if (!parsed.success) {
    const problems = formatIssues(parsed.error.issues, raw);
    throw new ToolDefinitionError(file, [...problems, ...laterProblems(raw, problems)]);
  }
  const def = parsed.data;
  const problems: string[] = [];

  const input = toZodObject(def.input, 'input', problems);
  const output = def.output ? toZodObject(def.output, 'output', problems) : undefined;
  problems.push(...requestProblems(def.request, def.input));

  const { request: _r, input: _i, output: _o, $schema: _s, ...meta } = def;
  problems.push(...toolDefinitionProblems({ ...meta, input: input ?? z.object({}), request: () => undefined }));
  if (problems.length > 0 || !input) throw new ToolDefinitionError(file, problems);

  const req = def.request;
  return defineTool({
    ...meta,
    input,
    ...(output ? { output } : {}),
    request: (args: Args): RequestSpec => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers ?? {})) {
        const filled = interpolate(value, args);
        if (filled !== undefined) headers[name] = filled;
      }
      const query = buildQuery(req.query, args);
      return {
        method: req.method as HttpMethod,
        path: buildPath(req.path, args),
        ...(query ? { query } : {}),
        ...(req.headers ? { headers } : {}),
        ...(req.json !== undefined ? { json: fillJson(req.json, args) } : {}),
      };
    },
  });
}
