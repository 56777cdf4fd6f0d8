// Reads a jsonl audit log with its rotated files, oldest first, and verifies the writers' hash chains together.
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { type ChainReport, verifyChain } from './chain.js';

/** The log's files in writing order: rotated ones (`<name>.<ISO time>.<rand>`) by name, the live file last. */
export async function auditFiles(path: string): Promise<string[]> {
  const dir = dirname(path);
  const name = basename(path);
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [] as string[];
    throw err;
  });
  const rotated = entries.filter((e) => e.startsWith(`${name}.`)).sort();
  return [...rotated.map((e) => join(dir, e)), ...(entries.includes(name) ? [path] : [])];
}

async function* linesOf(files: string[]): AsyncGenerator<{ file: string; line: number; text: string }> {
  for (const file of files) {
    let line = 0;
    const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
    for await (const text of rl) {
      line += 1;
      yield { file, line, text };
    }
  }
}

export async function verifyAuditLog(path: string): Promise<ChainReport & { files: string[] }> {
  const files = await auditFiles(path);
  const lines: { file: string; line: number; text: string }[] = [];
  for await (const l of linesOf(files)) lines.push(l);
  return { ...verifyChain(lines), files };
}
