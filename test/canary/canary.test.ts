// The canary scan itself can fail: a planted secret in a collected output or file is reported by name.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { collect, collectFiles, plant, scanCollected } from '../helpers/canary.js';

describe('canary scan', () => {
  it('reports a planted secret found in an output, and passes once it is gone', () => {
    plant('canary-secret-for-the-scanner-0001');
    collect('a tool result', 'no secret here');
    collect('a log line', 'oops canary-secret-for-the-scanner-0001 leaked');
    expect(() => scanCollected()).toThrow(/a log line \(canary…\)/);
    collect('a tool result', 'no secret here');
    expect(scanCollected()).toMatchObject({ scanned: 1 });
  });

  it('finds a planted secret inside a file, even among binary bytes', () => {
    plant('canary-secret-for-the-scanner-0002');
    const dir = mkdtempSync(path.join(tmpdir(), 'keyward-canary-'));
    writeFileSync(
      path.join(dir, 'store.db'),
      Buffer.concat([Buffer.from([0, 255, 7]), Buffer.from('canary-secret-for-the-scanner-0002')]),
    );
    collectFiles(dir);
    rmSync(dir, { recursive: true, force: true });
    expect(() => scanCollected()).toThrow(/store\.db/);
  });

  it('ignores values too short to be tokens', () => {
    plant('demo');
    collect('a page', 'hello demo');
    expect(() => scanCollected()).not.toThrow();
  });
});
