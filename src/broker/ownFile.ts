// File modes for the gateway's own files: a file it created is restricted to its owner; any other path is left alone.
import { chmod, lstat } from 'node:fs/promises';

/** Whether `path` exists (a link, a device, anything); an unreadable answer counts as existing. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/**
 * Sets mode 0600 on `path` only when it did not exist before the gateway opened it and is now a regular
 * file: a config may name `/dev/null`, a symlink or an operator's own file, whose mode is not ours to change.
 */
export async function restrictIfCreated(path: string, existedBefore: boolean): Promise<void> {
  if (existedBefore) return;
  const st = await lstat(path).catch(() => undefined);
  if (st?.isFile()) await chmod(path, 0o600).catch(() => undefined);
}
