// What the step-up gate reads from a JSON-RPC body: the tools it calls, in one message or a batch, and nothing else.
import { describe, expect, it } from 'vitest';
import { toolCallNames } from '../../src/mcp/jsonrpc.js';

const call = (name: unknown) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: {} } });

describe('toolCallNames', () => {
  it.each([
    ['one call', call('delete_note'), ['delete_note']],
    ['a batch, read as a whole', [call('a'), { jsonrpc: '2.0', id: 2, method: 'tools/list' }, call('b')], ['a', 'b']],
    ['another method', { jsonrpc: '2.0', id: 1, method: 'tools/list' }, []],
    ['a call without a string name', call(7), []],
    ['a call whose params are not an object', { jsonrpc: '2.0', id: 1, method: 'tools/call', params: ['x'] }, []],
    ['a call without params', { jsonrpc: '2.0', id: 1, method: 'tools/call' }, []],
    ['no body', undefined, []],
    ['a string', 'tools/call', []],
    ['null in a batch', [null, call('c')], ['c']],
  ])('%s', (_label, body, names) => {
    expect(toolCallNames(body)).toEqual(names);
  });
});
