/**
 * The blobstore's storage: containers are directories under a root, objects files in them (names
 * mapped by names.ts). Every path is built from checked names and checked again to lie directly
 * inside its parent; symbolic links are never followed (containers and objects are looked at with
 * lstat and opened with O_NOFOLLOW) and an entry that is one is refused. Objects are written to a
 * temporary file in the root and renamed into place, so a reader or a crash sees the old bytes or
 * the new ones, never a part.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import type { Dir, Stats } from 'node:fs';
import { lstat, mkdir, open, opendir, readdir, realpath, rename, rm, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  BlobstoreAccessDeniedError,
  BlobstoreIoFailedError,
  BlobstoreNotFoundError,
  BlobstoreTooLargeError,
  CirrusError,
  InvalidArgumentError,
} from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';
import { makeDirectories } from '@cirrus/runtime';
import { checkContainerName, objectFileName, objectNameOf } from './names.ts';

export type BlobstoreLimits = Pick<
  Limits,
  'blobstoreMaxObjectBytes' | 'blobstoreMaxSyncReadBytes' | 'blobstoreListMaxNames'
>;

export interface ContainerInfo {
  name: string;
  /** Seconds since the Unix epoch. */
  createdAt: bigint;
}

export interface ObjectInfo {
  name: string;
  container: string;
  /** Seconds since the Unix epoch. */
  createdAt: bigint;
  size: bigint;
}

export interface ObjectId {
  container: string;
  object: string;
}

/** The root's own directory, for files being written and containers being deleted. */
export const TEMP_DIR = '.cirrus-tmp';
/** Temporary files this old are left over from a crash and removed when a store opens its root. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** Bytes moved per step when copying an object. */
const COPY_CHUNK_BYTES = 1024 * 1024;
const U64_MAX = 2n ** 64n - 1n;

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A failure of the filesystem, described without the host's paths (the guest reads the message). */
function ioFailure(err: unknown, what: string): CirrusError {
  if (err instanceof CirrusError) return err;
  const code = errnoOf(err);
  if (code === 'ELOOP') {
    return new BlobstoreAccessDeniedError(
      `${what}: it is a symbolic link, which the blobstore does not follow`,
    );
  }
  return new BlobstoreIoFailedError(`${what}: ${code ?? (err instanceof Error ? err.message : String(err))}`);
}

function createdAt(stats: Stats): bigint {
  const ms = stats.birthtimeMs > 0 ? stats.birthtimeMs : stats.mtimeMs;
  return BigInt(Math.floor(ms / 1000));
}

function token(): string {
  return randomBytes(12).toString('hex');
}

function describeObject(container: string, name: string): string {
  return `object ${JSON.stringify(name)} in container ${JSON.stringify(container)}`;
}

interface ObjectPath {
  container: string;
  name: string;
  path: string;
}

export class DirectoryStore {
  readonly root: string;
  readonly limits: BlobstoreLimits;
  readonly #temp: string;

  private constructor(root: string, limits: BlobstoreLimits) {
    this.root = root;
    this.limits = limits;
    this.#temp = join(root, TEMP_DIR);
  }

  /** Opens (creating it if needed) the store rooted at `root`. */
  static async open(root: string, limits: BlobstoreLimits): Promise<DirectoryStore> {
    const hint = 'check the root of the blobstore link: it must be a directory the host can write';
    try {
      await makeDirectories(root, { mode: 0o700 });
      // The root itself may be reached through a symbolic link the operator chose; what lies under it may not.
      const store = new DirectoryStore(await realpath(root), limits);
      await mkdir(store.#temp, { mode: 0o700 }).catch((err: unknown) => {
        if (errnoOf(err) !== 'EEXIST') throw err;
      });
      const temp = await lstat(store.#temp);
      if (!temp.isDirectory()) {
        throw new BlobstoreAccessDeniedError(`${TEMP_DIR} in the blobstore root is not a directory`, {
          hint,
        });
      }
      await store.#sweep();
      return store;
    } catch (err) {
      if (err instanceof CirrusError) throw err;
      throw new BlobstoreIoFailedError(`cannot open the blobstore root ${root}: ${String(err)}`, { hint });
    }
  }

  /** Removes what a crash left in the temporary directory; recent files may belong to writes in flight. */
  async #sweep(): Promise<void> {
    const cutoff = Date.now() - STALE_TEMP_MS;
    for (const entry of await readdir(this.#temp)) {
      const path = join(this.#temp, entry);
      const stats = await lstat(path).catch(() => undefined);
      if (stats !== undefined && stats.mtimeMs < cutoff) await rm(path, { recursive: true, force: true });
    }
  }

  /** `path` as built from checked names: directly inside `parent`, never the root or above it. */
  #within(parent: string, name: string): string {
    const path = join(parent, name);
    if (dirname(path) !== parent || basename(path) !== name || path === this.root) {
      throw new BlobstoreAccessDeniedError(`${JSON.stringify(name)} resolves outside its directory`);
    }
    return path;
  }

  async #container(name: unknown): Promise<{ name: string; path: string; stats: Stats }> {
    const checked = checkContainerName(name);
    const path = this.#within(this.root, checked);
    const what = `container ${JSON.stringify(checked)}`;
    let stats: Stats;
    try {
      stats = await lstat(path);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new BlobstoreNotFoundError(`${what} does not exist`);
      throw ioFailure(err, what);
    }
    if (stats.isSymbolicLink()) {
      throw new BlobstoreAccessDeniedError(`${what} is a symbolic link, which the blobstore does not follow`);
    }
    if (!stats.isDirectory()) throw new BlobstoreAccessDeniedError(`${what} is not a directory`);
    return { name: checked, path, stats };
  }

  async #object(container: unknown, name: unknown): Promise<ObjectPath> {
    const file = objectFileName(name);
    const dir = await this.#container(container);
    return { container: dir.name, name: name as string, path: this.#within(dir.path, file) };
  }

  /** The object's own stats: it must be a regular file (a link or a directory is refused). */
  async #objectStats(object: ObjectPath): Promise<Stats> {
    const what = describeObject(object.container, object.name);
    let stats: Stats;
    try {
      stats = await lstat(object.path);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new BlobstoreNotFoundError(`${what} does not exist`);
      throw ioFailure(err, what);
    }
    if (stats.isSymbolicLink()) {
      throw new BlobstoreAccessDeniedError(`${what} is a symbolic link, which the blobstore does not follow`);
    }
    if (!stats.isFile()) throw new BlobstoreAccessDeniedError(`${what} is not a regular file`);
    return stats;
  }

  /** Refuses to replace anything but a regular file (or nothing) at `object`. */
  async #checkReplaceable(object: ObjectPath): Promise<void> {
    try {
      await this.#objectStats(object);
    } catch (err) {
      if (!(err instanceof BlobstoreNotFoundError)) throw err;
    }
  }

  /** Creates the container; one that exists already is fine (as with wasmCloud's filesystem provider). */
  async createContainer(name: unknown): Promise<ContainerInfo> {
    const checked = checkContainerName(name);
    try {
      await mkdir(this.#within(this.root, checked), { mode: 0o700 });
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw ioFailure(err, `creating container ${JSON.stringify(checked)}`);
    }
    return this.containerInfo(checked);
  }

  async containerInfo(name: unknown): Promise<ContainerInfo> {
    const dir = await this.#container(name);
    return { name: dir.name, createdAt: createdAt(dir.stats) };
  }

  async containerExists(name: unknown): Promise<boolean> {
    try {
      await this.#container(name);
      return true;
    } catch (err) {
      if (err instanceof BlobstoreNotFoundError) return false;
      throw err;
    }
  }

  /** Deletes the container and its objects; it disappears at once, its files go afterwards. */
  async deleteContainer(name: unknown): Promise<void> {
    const dir = await this.#container(name);
    const grave = join(this.#temp, `deleted-${token()}`);
    try {
      await rename(dir.path, grave);
    } catch (err) {
      throw ioFailure(err, `deleting container ${JSON.stringify(dir.name)}`);
    }
    // rm unlinks symbolic links inside instead of following them.
    await rm(grave, { recursive: true, force: true });
  }

  async objectInfo(container: unknown, name: unknown): Promise<ObjectInfo> {
    const object = await this.#object(container, name);
    const stats = await this.#objectStats(object);
    return {
      name: object.name,
      container: object.container,
      createdAt: createdAt(stats),
      size: BigInt(stats.size),
    };
  }

  async hasObject(container: unknown, name: unknown): Promise<boolean> {
    const object = await this.#object(container, name);
    try {
      await this.#objectStats(object);
      return true;
    } catch (err) {
      if (err instanceof BlobstoreNotFoundError) return false;
      throw err;
    }
  }

  /** Deletes the object; one that does not exist is fine. */
  async deleteObject(container: unknown, name: unknown): Promise<void> {
    const object = await this.#object(container, name);
    try {
      await this.#objectStats(object);
      await unlink(object.path);
    } catch (err) {
      if (err instanceof BlobstoreNotFoundError || errnoOf(err) === 'ENOENT') return;
      throw ioFailure(err, `deleting ${describeObject(object.container, object.name)}`);
    }
  }

  /** Deletes the objects; every name is checked before the first is deleted. */
  async deleteObjects(container: unknown, names: readonly unknown[]): Promise<void> {
    for (const name of names) objectFileName(name);
    for (const name of names) await this.deleteObject(container, name);
  }

  /** Deletes every object of the container (the files listObjects shows); the container stays. */
  async clear(container: unknown): Promise<void> {
    const dir = await this.#container(container);
    try {
      for await (const entry of await opendir(dir.path)) {
        if (!entry.isFile() || objectNameOf(entry.name) === undefined) continue;
        await unlink(join(dir.path, entry.name)).catch((err: unknown) => {
          if (errnoOf(err) !== 'ENOENT') throw err;
        });
      }
    } catch (err) {
      throw ioFailure(err, `clearing container ${JSON.stringify(dir.name)}`);
    }
  }

  /** The names of the container's objects, read as they are needed. */
  async listObjects(container: unknown): Promise<NameLister> {
    const dir = await this.#container(container);
    try {
      return new NameLister(await opendir(dir.path), this.limits.blobstoreListMaxNames);
    } catch (err) {
      throw ioFailure(err, `listing container ${JSON.stringify(dir.name)}`);
    }
  }

  /**
   * Opens bytes `start` to `end` (both inclusive, `end` past the size meaning the rest) of an
   * object. The reader holds the file open, so it keeps its bytes if the object is replaced or
   * deleted meanwhile.
   */
  async read(container: unknown, name: unknown, start: bigint, end: bigint): Promise<BlobReader> {
    if (start > end) {
      throw new InvalidArgumentError(`the range ${start}..${end} ends before it starts`, {
        hint: 'start and end are both inclusive offsets',
      });
    }
    const object = await this.#object(container, name);
    const what = describeObject(object.container, object.name);
    let handle: FileHandle;
    try {
      handle = await open(object.path, READ_FLAGS);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new BlobstoreNotFoundError(`${what} does not exist`);
      throw ioFailure(err, `reading ${what}`);
    }
    try {
      // O_NONBLOCK kept a planted FIFO from blocking the open; only regular files are objects.
      const stats = await handle.stat();
      if (!stats.isFile()) throw new BlobstoreAccessDeniedError(`${what} is not a regular file`);
      const size = BigInt(stats.size);
      const from = start < size ? start : size;
      const to = end < size ? end + 1n : size;
      return new BlobReader(handle, Number(from), Number(to - from), this.limits.blobstoreMaxSyncReadBytes);
    } catch (err) {
      await handle.close();
      throw ioFailure(err, `reading ${what}`);
    }
  }

  /** A new object's bytes, kept in a temporary file until `commit` puts them in place. */
  async createWriter(): Promise<BlobWriter> {
    const path = join(this.#temp, `write-${token()}`);
    try {
      return new BlobWriter(this, path, await open(path, CREATE_FLAGS, 0o600));
    } catch (err) {
      throw ioFailure(err, 'creating a temporary file for a new object');
    }
  }

  /** Where `commit` renames a writer's file to: the target checked as for any write. */
  async commitTarget(container: unknown, name: unknown): Promise<ObjectPath> {
    const object = await this.#object(container, name);
    await this.#checkReplaceable(object);
    return object;
  }

  /** Duplicates an object, replacing the destination (whose container must exist). */
  async copyObject(src: ObjectId, dest: ObjectId): Promise<void> {
    await this.commitTarget(dest.container, dest.object);
    const reader = await this.read(src.container, src.object, 0n, U64_MAX);
    let writer: BlobWriter | undefined;
    try {
      if (reader.size > this.limits.blobstoreMaxObjectBytes) throw tooLarge(reader.size, this.limits);
      writer = await this.createWriter();
      for (;;) {
        const chunk = await reader.read(COPY_CHUNK_BYTES);
        if (chunk.byteLength === 0) break;
        await writer.write(chunk);
      }
      await writer.commit(dest.container, dest.object);
    } catch (err) {
      await writer?.abort();
      throw err;
    } finally {
      await reader.close();
    }
  }

  /** Moves or renames an object, replacing the destination (whose container must exist). */
  async moveObject(src: ObjectId, dest: ObjectId): Promise<void> {
    const from = await this.#object(src.container, src.object);
    const to = await this.commitTarget(dest.container, dest.object);
    await this.#objectStats(from);
    if (from.path === to.path) return;
    try {
      await rename(from.path, to.path);
    } catch (err) {
      throw ioFailure(err, `moving ${describeObject(from.container, from.name)}`);
    }
  }
}

function tooLarge(bytes: number, limits: BlobstoreLimits): BlobstoreTooLargeError {
  return new BlobstoreTooLargeError(
    `the object is larger than blobstoreMaxObjectBytes (${limits.blobstoreMaxObjectBytes} bytes): ${bytes} bytes or more`,
    { hint: 'raise CIRRUS_LIMIT_BLOBSTORE_MAX_OBJECT_BYTES on the host' },
  );
}

/** A range of one object's bytes, read from the file it had when it was opened. */
export class BlobReader {
  /** Bytes in the range. */
  readonly size: number;
  readonly #maxSyncBytes: number;
  #handle: FileHandle | undefined;
  #position: number;
  #remaining: number;

  constructor(handle: FileHandle, start: number, size: number, maxSyncBytes: number) {
    this.#handle = handle;
    this.#position = start;
    this.size = size;
    this.#remaining = size;
    this.#maxSyncBytes = maxSyncBytes;
  }

  /** Up to `max` next bytes; empty at the end of the range (the file is closed then). */
  async read(max: number): Promise<Uint8Array> {
    const handle = this.#handle;
    const want = Math.min(max, this.#remaining);
    if (handle === undefined || want <= 0) {
      if (this.#remaining === 0) await this.close();
      return new Uint8Array(0);
    }
    const buffer = new Uint8Array(want);
    let filled = 0;
    while (filled < want) {
      const { bytesRead } = await handle.read(buffer, filled, want - filled, this.#position + filled);
      // A file someone else shortened ends the range early rather than spinning.
      if (bytesRead === 0) {
        this.#remaining = filled;
        break;
      }
      filled += bytesRead;
    }
    this.#position += filled;
    this.#remaining -= filled;
    if (filled === 0) await this.close();
    return filled === want ? buffer : buffer.subarray(0, filled);
  }

  /** The whole range at once, if it is within blobstoreMaxSyncReadBytes. */
  async readAll(): Promise<Uint8Array> {
    if (this.#remaining > this.#maxSyncBytes) {
      await this.close();
      throw new BlobstoreTooLargeError(
        `${this.#remaining} bytes are more than blobstoreMaxSyncReadBytes (${this.#maxSyncBytes}) for one read`,
        { hint: 'read the value as a stream (incoming-value-consume-async) or a smaller range' },
      );
    }
    const bytes = await this.read(this.#remaining);
    await this.close();
    return bytes;
  }

  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    await handle?.close();
  }
}

/** A new object being written to a temporary file. */
export class BlobWriter {
  readonly #store: DirectoryStore;
  readonly #path: string;
  #handle: FileHandle | undefined;
  #bytes = 0;
  #failure: CirrusError | undefined;

  constructor(store: DirectoryStore, path: string, handle: FileHandle) {
    this.#store = store;
    this.#path = path;
    this.#handle = handle;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Why the writer can take no more bytes, if it failed. */
  get failure(): CirrusError | undefined {
    return this.#failure;
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const handle = this.#handle;
    if (handle === undefined) throw new InvalidArgumentError('the value was already written or discarded');
    const limit = this.#store.limits.blobstoreMaxObjectBytes;
    if (this.#bytes + bytes.byteLength > limit) {
      await this.#fail(tooLarge(this.#bytes + bytes.byteLength, this.#store.limits));
    }
    try {
      let offset = 0;
      while (offset < bytes.byteLength) {
        const { bytesWritten } = await handle.write(bytes, offset, bytes.byteLength - offset);
        offset += bytesWritten;
      }
      this.#bytes += bytes.byteLength;
    } catch (err) {
      await this.#fail(ioFailure(err, 'writing the value'));
    }
  }

  async #fail(err: CirrusError): Promise<never> {
    this.#failure = err;
    await this.abort();
    throw err;
  }

  /** Puts the bytes in place as the object (replacing it); the writer is done afterwards, even if it failed. */
  async commit(container: unknown, name: unknown): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const handle = this.#handle;
    if (handle === undefined) throw new InvalidArgumentError('the value was already written or discarded');
    let target: ObjectPath;
    try {
      target = await this.#store.commitTarget(container, name);
    } catch (err) {
      await this.abort();
      throw err;
    }
    this.#handle = undefined;
    try {
      // Durable before it is visible: after a crash the object is the old one or the whole new one.
      await handle.sync();
      await handle.close();
      await rename(this.#path, target.path);
    } catch (err) {
      await handle.close().catch(() => undefined);
      await unlink(this.#path).catch(() => undefined);
      throw ioFailure(err, `writing ${describeObject(target.container, target.name)}`);
    }
  }

  /** Discards the bytes; harmless after commit. */
  async abort(): Promise<void> {
    const handle = this.#handle;
    if (handle === undefined) return;
    this.#handle = undefined;
    await handle.close().catch(() => undefined);
    await unlink(this.#path).catch(() => undefined);
  }
}

/** An object listing, read from the directory a batch at a time. */
export class NameLister {
  readonly #maxNames: number;
  #dir: Dir | undefined;
  /** Names read ahead, so that `end` is known when a batch is handed out. */
  #ahead: string[] = [];

  constructor(dir: Dir, maxNames: number) {
    this.#dir = dir;
    this.#maxNames = maxNames;
  }

  /** Reads until `count` names are waiting, or the directory ends. */
  async #fill(count: number): Promise<void> {
    while (this.#ahead.length < count && this.#dir !== undefined) {
      const entry = await this.#dir.read();
      if (entry === null) {
        await this.close();
        break;
      }
      if (!entry.isFile()) continue;
      const name = objectNameOf(entry.name);
      if (name !== undefined) this.#ahead.push(name);
    }
  }

  /** Up to `count` (at most blobstoreListMaxNames) names, and whether the listing has ended. */
  async next(count: bigint): Promise<{ names: string[]; end: boolean }> {
    const n = count > BigInt(this.#maxNames) ? this.#maxNames : Number(count);
    await this.#fill(n + 1);
    const names = this.#ahead.splice(0, n);
    return { names, end: this.#ahead.length === 0 && this.#dir === undefined };
  }

  /** Passes over up to `count` names. */
  async skip(count: bigint): Promise<{ skipped: bigint; end: boolean }> {
    let skipped = 0n;
    for (;;) {
      const { names, end } = await this.next(count - skipped);
      skipped += BigInt(names.length);
      if (end || skipped >= count || names.length === 0) return { skipped, end };
    }
  }

  async close(): Promise<void> {
    const dir = this.#dir;
    this.#dir = undefined;
    await dir?.close().catch(() => undefined);
  }
}
