// The one definition of loopback, as a table.
import { describe, expect, it } from 'vitest';
import { isLoopbackHost, isLoopbackUrl } from '../../src/config/schema.js';

describe('isLoopbackHost', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.0.0.2', true],
    ['127.255.255.254', true],
    ['localhost', true],
    ['LOCALHOST', true],
    ['::1', true],
    ['[::1]', true],
    ['127.0.0.256', false],
    ['128.0.0.1', false],
    ['0.0.0.0', false],
    ['10.0.0.1', false],
    ['localhost.example.com', false],
    ['127.0.0.1.nip.io', false],
    ['::', false],
  ])('%s -> %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe('isLoopbackUrl', () => {
  it.each([
    ['http://127.0.0.1:8787/x', true],
    ['http://[::1]:8787/', true],
    ['http://localhost/', true],
    ['https://example.com/', false],
    ['http://127.0.0.1.example.com/', false],
  ])('%s -> %s', (url, expected) => {
    expect(isLoopbackUrl(url)).toBe(expected);
  });
});
