/**
 * Reading files a user names (components, manifests, keys, credentials) without ever blocking on
 * one that is not a regular file. A plain `open` of a FIFO waits for a writer inside a libuv thread,
 * and process exit then waits for that thread: the process hangs until SIGKILL. Opening with
 * O_NONBLOCK returns at once for FIFOs and devices (and changes nothing for regular files), and the
 * type is checked on the opened descriptor, so a file swapped between a check and the open is caught.
 */
import { constants } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join, parse, resolve, sep } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import {
  FileNotFoundError,
  FileTooLargeError,
  FileUnreadableError,
  NotARegularFileError,
} from '@cirrus/protocol';

export interface RegularFileOptions {
  /** What the file is, for messages: `component file`, `application file`, `seed file`. */
  what: string;
  /** Largest size accepted (FILE_TOO_LARGE above it). */
  maxBytes: number;
  /** The limit to raise, named in the hint of FILE_TOO_LARGE. */
  limitName?: string;
}

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

function failure(err: unknown, path: string, what: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new FileNotFoundError(`${what} ${path} does not exist`, { hint: 'check the path' });
  }
  if (code === 'EISDIR') return notRegular(path, what, 'a directory');
  return new FileUnreadableError(`cannot read ${what} ${path}: ${(err as Error).message}`, {
    hint: 'check that the file exists and that this user may read it',
  });
}

function notRegular(path: string, what: string, kind: string): NotARegularFileError {
  return new NotARegularFileError(`${what} ${path} is ${kind}, not a regular file`, {
    hint: 'give the path of a regular file',
  });
}

function checkStats(stats: Stats, path: string, options: RegularFileOptions): void {
  if (!stats.isFile()) throw notRegular(path, options.what, kindOf(stats));
  if (stats.size > options.maxBytes) {
    throw new FileTooLargeError(
      `${options.what} ${path} is ${stats.size} bytes, above the ${options.maxBytes}-byte limit`,
      {
        hint:
          options.limitName === undefined
            ? 'give a smaller file'
            : `give a smaller file or raise ${options.limitName}`,
      },
    );
  }
}

/** Checks, without opening it, that `path` is a regular file within the size limit. */
export async function checkRegularFile(path: string, options: RegularFileOptions): Promise<void> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (err) {
    throw failure(err, path, options.what);
  }
  checkStats(stats, path, options);
}

/** Reads a whole regular file of at most `maxBytes`; anything else fails with a typed error at once. */
export async function readRegularFile(path: string, options: RegularFileOptions): Promise<Uint8Array> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (err) {
    throw failure(err, path, options.what);
  }
  try {
    let stats: Stats;
    try {
      stats = await handle.stat();
    } catch (err) {
      throw failure(err, path, options.what);
    }
    checkStats(stats, path, options);
    const bytes = new Uint8Array(stats.size);
    let offset = 0;
    while (offset < bytes.byteLength) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(bytes, offset, bytes.byteLength - offset, offset));
      } catch (err) {
        throw failure(err, path, options.what);
      }
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return offset === bytes.byteLength ? bytes : bytes.subarray(0, offset);
  } finally {
    await handle.close();
  }
}

/** `readRegularFile` decoded as UTF-8. */
export async function readRegularTextFile(path: string, options: RegularFileOptions): Promise<string> {
  return new TextDecoder().decode(await readRegularFile(path, options));
}

/** How directories are made: Node's file system, or a test's fault injection. */
export interface DirectoryOps {
  /** Creates one directory (never its parents); rejects with EEXIST when something is there. */
  mkdir(path: string, mode: number): Promise<void>;
  isDirectory(path: string): Promise<boolean>;
}

const nodeDirectoryOps: DirectoryOps = {
  mkdir: async (path, mode) => {
    await mkdir(path, { mode });
  },
  isDirectory: async (path) => (await stat(path)).isDirectory(),
};

/**
 * Creates `path` and its missing parents one directory at a time, so the work is bounded by the
 * number of path components. Node's recursive mkdir retries forever where mkdir keeps failing with
 * ENOENT (measured on Node 24: `/proc/x/y` never settles, and the process cannot exit meanwhile), so
 * it is never used on a path a user gives.
 */
export async function makeDirectories(
  path: string,
  options: { mode?: number; ops?: DirectoryOps } = {},
): Promise<void> {
  const { mode = 0o777, ops = nodeDirectoryOps } = options;
  const absolute = resolve(path);
  const root = parse(absolute).root;
  let current = root;
  for (const part of absolute.slice(root.length).split(sep)) {
    if (part === '') continue;
    current = join(current, part);
    try {
      await ops.mkdir(current, mode);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (!(await ops.isDirectory(absolute))) {
    throw Object.assign(new Error(`ENOTDIR: not a directory, ${absolute}`), { code: 'ENOTDIR' });
  }
}
