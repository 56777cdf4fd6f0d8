// Turns zod issues into `dotted.path: short message` lines that never echo the input's values.
import type { z } from 'zod';

type Issue = z.core.$ZodIssue;
type PathKey = PropertyKey;

/** `providers.notes.scopes[0]`; the empty path is the document itself. */
export function dottedPath(path: ReadonlyArray<PathKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function valueAt(root: unknown, path: ReadonlyArray<PathKey>): unknown {
  let v = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'object':
      return 'an object';
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(v) ? 'an integer' : 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return typeof v;
  }
}

const EXPECTED: Record<string, string> = {
  object: 'an object',
  array: 'an array',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'a boolean',
  null: 'null',
};

/** zod's own messages start like this; ours (set in the schemas) are kept as they are. */
const DEFAULT_MESSAGE = /^(Invalid|Too (big|small)|Unrecognized|Expected)\b/;

function sizeMessage(issue: Issue & { code: 'too_big' | 'too_small' }): string {
  const bound = Number(issue.code === 'too_big' ? issue.maximum : issue.minimum);
  const inclusive = issue.inclusive !== false;
  const most = issue.code === 'too_big';
  switch (issue.origin) {
    case 'string':
      if (!most && bound === 1) return 'must not be empty';
      return `must be ${most ? 'at most' : 'at least'} ${bound} characters`;
    case 'array':
    case 'set':
      if (!most && bound === 1) return 'must not be empty';
      return `must have ${most ? 'at most' : 'at least'} ${bound} items`;
    default:
      if (inclusive) return `must be ${most ? 'at most' : 'at least'} ${bound}`;
      return `must be ${most ? 'less' : 'greater'} than ${bound}`;
  }
}

function messageOf(issue: Issue, input: unknown, fullPath: ReadonlyArray<PathKey>): string {
  const custom = issue.message && !DEFAULT_MESSAGE.test(issue.message) ? issue.message : undefined;
  switch (issue.code) {
    case 'invalid_type': {
      const actual = valueAt(input, fullPath);
      if (actual === undefined) return 'required';
      if (custom) return custom;
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return `must be ${expected}, not ${kindOf(actual)}`;
    }
    case 'invalid_value':
      if (custom) return custom;
      if (issue.values.length === 1) return `must be ${JSON.stringify(issue.values[0])}`;
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
    case 'too_small':
      return custom ?? sizeMessage(issue);
    case 'invalid_format':
      if (custom) return custom;
      if (issue.format === 'url') return 'must be a URL';
      if (issue.format === 'regex') return 'has an invalid format';
      return `must be a valid ${issue.format}`;
    case 'not_multiple_of':
      return custom ?? `must be a multiple of ${issue.divisor}`;
    case 'invalid_key': {
      const inner = issue.issues[0]?.message;
      return inner && !DEFAULT_MESSAGE.test(inner) ? inner : 'invalid key';
    }
    case 'invalid_union':
      return custom ?? 'does not match any of the allowed forms';
    case 'invalid_element':
      return custom ?? 'invalid element';
    default:
      return custom ?? 'invalid';
  }
}

/**
 * One line per problem, `path: message`, in the order zod found them. `input` is what was parsed,
 * used only to tell "missing" from "wrong type"; no input value ever goes into a line.
 */
export function formatIssues(
  issues: ReadonlyArray<Issue>,
  input: unknown,
  prefix: ReadonlyArray<PathKey> = [],
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${dottedPath([...path, key])}: unknown key`);
      continue;
    }
    const where = dottedPath(path) || '(top level)';
    lines.push(`${where}: ${messageOf(issue, input, path)}`);
  }
  return [...new Set(lines)];
}
