// The README's "Writing a tool" JSON example loads next to the shipped tools and builds the request it describes.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { declarativeTool } from '../../src/tools/declarative.js';
import { ROOT } from '../helpers/stack.js';

function readmeToolExample(): unknown {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Writing a tool'));
  const block = /```json\n([\s\S]*?)\n```/.exec(section)?.[1];
  if (!block) throw new Error('no JSON example under "Writing a tool"');
  return JSON.parse(block);
}

describe('the README tool example', () => {
  it('is a valid tool whose name no shipped tool uses, and builds its request with json, query and headers', () => {
    const tool = declarativeTool(readmeToolExample(), 'README.md');
    const shipped =
      readFileSync(path.join(ROOT, 'tools/notes.ts'), 'utf8') +
      readFileSync(path.join(ROOT, 'tools/get_note.json'), 'utf8');
    expect(shipped).not.toContain(`'${tool.name}'`);
    expect(shipped).not.toContain(`"${tool.name}"`);
    expect(tool.annotations).toEqual({ readOnly: false, destructive: false, idempotent: false, openWorld: false });
    expect(tool.request({ tag: 'work', title: 'Plan', body: 'Write it down' })).toEqual({
      method: 'POST',
      path: '/notes',
      query: { source: 'keyward' },
      headers: { 'X-Note-Tag': 'work' },
      json: { title: '[work] Plan', body: 'Write it down' },
    });
  });
});
