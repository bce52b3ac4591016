import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  path: string;
  [Symbol.asyncDispose](): Promise<void>;
  remove(): Promise<void>;
}

/** A private temporary directory, removed by `remove()` or `await using`. */
export async function tempDir(prefix = 'cirrus-test-'): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  // Retried: a worker that has just exited may still be writing Node's compile cache into the
  // tree, and a file appearing mid-removal fails it with ENOTEMPTY.
  const remove = (): Promise<void> =>
    rm(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  return { path, remove, [Symbol.asyncDispose]: remove };
}
