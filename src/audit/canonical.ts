// Canonical JSON (object keys sorted), built without recursion so that hostile depth cannot overflow the stack.

/** JSON with object keys sorted; `undefined` members dropped, as JSON.stringify does. */
export function canonicalJson(root: unknown): string {
  const out: string[] = [];
  // Each frame is a value still to write, or a literal piece of punctuation.
  const stack: Array<{ value: unknown } | { text: string }> = [{ value: root }];
  while (stack.length > 0) {
    const frame = stack.pop() as { value: unknown } | { text: string };
    if ('text' in frame) {
      out.push(frame.text);
      continue;
    }
    const value = frame.value;
    if (value === null || typeof value !== 'object') {
      out.push(JSON.stringify(value ?? null) ?? 'null');
      continue;
    }
    const items: Array<{ value: unknown } | { text: string }> = [];
    if (Array.isArray(value)) {
      value.forEach((v, i) => {
        if (i > 0) items.push({ text: ',' });
        items.push({ value: v });
      });
      pushReversed(stack, '[', items, ']');
      continue;
    }
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    entries.forEach(([k, v], i) => {
      items.push({ text: `${i > 0 ? ',' : ''}${JSON.stringify(k)}:` }, { value: v });
    });
    pushReversed(stack, '{', items, '}');
  }
  return out.join('');
}

/** Pushes open, items, close so that they pop in order (a loop: a spread of 100,000 items overflows). */
function pushReversed<T>(stack: Array<T | { text: string }>, open: string, items: T[], close: string): void {
  stack.push({ text: close });
  for (let i = items.length - 1; i >= 0; i--) stack.push(items[i] as T);
  stack.push({ text: open });
}
