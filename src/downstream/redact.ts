// Removes a credential from what an API sent back, in whatever encoding it came: raw, JSON-escaped, percent- or entity-encoded.

const MARK = '[redacted]';

/** An escape that decodeEscapes would undo: without one, the secret can only be there verbatim. */
const HIDING_ESCAPE = /\\u[0-9a-fA-F]{4}|\\\/|%[0-7][0-9a-fA-F]|&#/;

/** The forms in which a secret can sit in text without being decoded first. */
function literalForms(secret: string): string[] {
  return [...new Set([secret, encodeURIComponent(secret), secret.replaceAll('/', '\\/')])];
}

/**
 * Decodes the escapes that hide a string inside text: JSON's `\uXXXX` and `\/`, `%XX` (ASCII only, so
 * a lone `%` or a multi-byte sequence is left as it is) and HTML's `&#NN;`/`&#xNN;`.
 */
function decodeEscapes(text: string): string {
  return text
    .replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)))
    .replace(/\\\//g, '/')
    .replace(/%([0-7][0-9a-fA-F])/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)))
    .replace(/&#x([0-9a-fA-F]{1,6});/g, (_, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/&#([0-9]{1,7});/g, (_, d: string) => String.fromCodePoint(Number(d)));
}

function redactString(text: string, secret: string): { text: string; hit: boolean } {
  let out = text;
  for (const form of literalForms(secret)) if (out.includes(form)) out = out.split(form).join(MARK);
  const decoded = decodeEscapes(out);
  // Only where decoding reveals the secret is the decoded text kept: otherwise the API's bytes stand.
  if (decoded !== out && decoded.includes(secret)) out = decoded.split(secret).join(MARK);
  return { text: out, hit: out !== text };
}

/** A copy of a parsed JSON value with the secret removed from every string, keys included. Iterative: depth cannot overflow the stack. */
function redactValue(root: unknown, secret: string): { value: unknown; hit: boolean } {
  let hit = false;
  const clean = (s: string): string => {
    const r = redactString(s, secret);
    if (r.hit) hit = true;
    return r.text;
  };
  const copy = (v: unknown): unknown => {
    if (typeof v === 'string') return clean(v);
    if (v === null || typeof v !== 'object') return v;
    return Array.isArray(v) ? new Array(v.length) : {};
  };
  const out = copy(root);
  const stack: Array<[unknown, unknown]> = [[root, out]];
  while (stack.length > 0) {
    const [src, dst] = stack.pop() as [unknown, unknown];
    if (src === null || typeof src !== 'object') continue;
    for (const [k, v] of Object.entries(src as Record<string, unknown>)) {
      const child = copy(v);
      (dst as Record<string, unknown>)[Array.isArray(src) ? k : clean(k)] = child;
      if (child !== null && typeof child === 'object') stack.push([v, child]);
    }
  }
  return { value: out, hit };
}

/**
 * The response text with `secret` removed. A JSON body is parsed, cleaned value by value and re-serialised
 * (only where the secret was found, so untouched bodies keep their bytes); other text is cleaned in place.
 */
export function redactSecretInText(text: string, secret: string): string {
  if (!secret) return text;
  // The common case on the call path: no escape that could hide the secret, so a plain search is the whole job.
  if (!HIDING_ESCAPE.test(text)) return text.includes(secret) ? text.split(secret).join(MARK) : text;
  let parsed: unknown;
  let isJson = false;
  try {
    parsed = JSON.parse(text);
    isJson = true;
  } catch {
    // Not JSON: handled as text below.
  }
  if (isJson) {
    const r = redactValue(parsed, secret);
    if (!r.hit) return redactString(text, secret).text;
    try {
      // A belt over the braces: nothing that survives re-serialisation may still carry it.
      return redactString(JSON.stringify(r.value), secret).text;
    } catch {
      // Too deep for JSON.stringify: clean it as text (decoding every escape), which may leave it unparseable.
    }
  }
  return redactString(text, secret).text;
}
