// The sqlite store and its lock file restrict a file they create, and never change the mode of a path that was there.
import { chmodSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSqliteLock } from '../../src/broker/locks/sqlite.js';
import { restrictIfCreated } from '../../src/broker/ownFile.js';
import { createGrantStore } from '../../src/broker/store.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keyward-modes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mode = (p: string) => statSync(p).mode & 0o777;

describe('file modes', () => {
  it('a store file the gateway creates is 0600, and so is its lock file', async () => {
    const file = path.join(dir, 'fresh.db');
    const store = await createGrantStore(`sqlite:${file}`);
    const lock = await createSqliteLock(file);
    expect(mode(file)).toBe(0o600);
    expect(mode(`${file}-locks`)).toBe(0o600);
    await lock.close();
    await store.close();
  });

  it('an existing store file and lock file keep their modes', async () => {
    const file = path.join(dir, 'existing.db');
    writeFileSync(file, '');
    chmodSync(file, 0o640);
    writeFileSync(`${file}-locks`, '');
    chmodSync(`${file}-locks`, 0o644);
    const store = await createGrantStore(`sqlite:${file}`);
    const lock = await createSqliteLock(file);
    expect(mode(file)).toBe(0o640);
    expect(mode(`${file}-locks`)).toBe(0o644);
    await lock.close();
    await store.close();
  });

  it('never follows a path that existed, nor a symlink: only a created regular file is changed', async () => {
    const target = path.join(dir, 'target');
    writeFileSync(target, '');
    chmodSync(target, 0o644);
    const link = path.join(dir, 'link');
    symlinkSync(target, link);
    await restrictIfCreated(link, true);
    await restrictIfCreated(link, false); // even if it were thought new: a symlink is not a regular file
    expect(mode(target)).toBe(0o644);
  });
});
