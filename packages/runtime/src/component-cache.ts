/**
 * The on-disk cache of transpiled components, an optimisation the host must survive without. A cache
 * directory that cannot be created or written (read-only, full disk, a regular file on its path, a
 * path under /proc) turns the cache off with one warning; the host then transpiles in memory.
 *
 * Entries verify themselves: `meta.json` records the SHA-256 of every file, checked on each read, and
 * a damaged entry is discarded and rewritten. Writes go to a private temp directory, every file and
 * the directory are fsynced, then the directory is renamed into place and its parent fsynced, so a
 * crash or power loss leaves either a whole entry or a temp directory that a later start removes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CacheEntryDamagedError, CacheUnavailableError } from '@cirrus/protocol';
import { makeDirectories } from './files.ts';
import type { CirrusError, Logger } from '@cirrus/protocol';

/** What the cache holds for one component. */
export interface CacheEntry {
  /** jco's JavaScript bindings (an ES module). */
  bindings: string;
  /** Core modules in the order the bindings ask for them. */
  coreModules: { name: string; bytes: Uint8Array }[];
  /** Unversioned import names, e.g. `wasi:http/types`. */
  imports: string[];
  /** Export names as jco exposes them on the instance, e.g. `wasi:http/incoming-handler@0.2.12`. */
  exports: string[];
}

/**
 * The file system operations the cache makes. Tests replace it to inject faults that a machine cannot
 * produce for real; everything else uses `nodeCacheFs`.
 */
export interface CacheFs {
  /** Creates one directory (never its parents); rejects with EEXIST when something is there. */
  mkdir(path: string): Promise<void>;
  isDirectory(path: string): Promise<boolean>;
  /** Milliseconds since the epoch of the last change to `path`. */
  modifiedAt(path: string): Promise<number>;
  readdir(path: string): Promise<string[]>;
  readFile(path: string): Promise<Uint8Array>;
  /** Creates `path` (which must not exist), writes `data` and fsyncs the file before closing it. */
  writeFileDurably(path: string, data: Uint8Array): Promise<void>;
  /** Fsyncs a directory, making the entries created or renamed in it durable. */
  syncDirectory(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  removeTree(path: string): Promise<void>;
}

export const nodeCacheFs: CacheFs = {
  mkdir: async (path) => {
    await mkdir(path, { mode: 0o700 });
  },
  isDirectory: async (path) => (await stat(path)).isDirectory(),
  modifiedAt: async (path) => (await stat(path)).mtimeMs,
  readdir: (path) => readdir(path),
  readFile: (path) => readFile(path),
  async writeFileDurably(path, data) {
    const file = await open(path, 'wx', 0o600);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
  },
  async syncDirectory(path) {
    const dir = await open(path, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  },
  rename: (from, to) => rename(from, to),
  removeTree: (path) => rm(path, { recursive: true, force: true }),
};

const META = 'meta.json';
const FORMAT = 2;
const TEMP_PREFIX = '.tmp-';
/** A temp directory untouched this long belongs to a writer that died; none takes a minute. */
export const STALE_TEMP_MS = 10 * 60 * 1000;

interface Meta {
  format: typeof FORMAT;
  key: string;
  bindings: string;
  coreModules: string[];
  imports: string[];
  exports: string[];
  /** Every file of the entry but meta.json: its size and SHA-256. */
  files: Record<string, { bytes: number; sha256: string }>;
}

const BINDINGS_FILE = 'component.mjs';

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

class Damaged extends Error {}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** A file name jco produced: no path separators, nothing hidden. */
function isPlainName(name: string): boolean {
  return /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) && name !== META;
}

function parseMeta(text: string, key: string): Meta {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Damaged(`${META} is not valid JSON`);
  }
  const meta = value as Partial<Meta> | null;
  if (
    typeof meta !== 'object' ||
    meta === null ||
    meta.format !== FORMAT ||
    meta.key !== key ||
    typeof meta.bindings !== 'string' ||
    !isStringArray(meta.coreModules) ||
    !isStringArray(meta.imports) ||
    !isStringArray(meta.exports) ||
    typeof meta.files !== 'object' ||
    meta.files === null
  ) {
    throw new Damaged(`${META} does not describe this entry`);
  }
  for (const name of [meta.bindings, ...meta.coreModules]) {
    const file = meta.files[name];
    if (!isPlainName(name) || typeof file?.bytes !== 'number' || typeof file.sha256 !== 'string') {
      throw new Damaged(`${META} has no digest for ${JSON.stringify(name)}`);
    }
  }
  return meta as Meta;
}

export interface ComponentCacheOptions {
  dir: string;
  logger: Logger;
  fs?: CacheFs;
}

/**
 * One host's view of a cache directory. It is opened on first use; when that fails, or a write
 * fails later, it says so once and stops writing (entries it can still read are still used).
 */
export class ComponentCache {
  readonly dir: string;
  readonly #components: string;
  readonly #compileCache: string;
  readonly #logger: Logger;
  readonly #fs: CacheFs;
  #opened: Promise<boolean> | undefined;
  #writable = true;
  /** Whether `v8/` exists because this cache made sure of it (Node's own mkdir could spin). */
  #compileCacheReady = false;

  constructor(options: ComponentCacheOptions) {
    this.dir = resolve(options.dir);
    this.#components = join(this.dir, 'components');
    this.#compileCache = join(this.dir, 'v8');
    this.#logger = options.logger;
    this.#fs = options.fs ?? nodeCacheFs;
  }

  /** Where workers keep V8's compile cache; undefined once the cache cannot be written. */
  get compileCacheDir(): string | undefined {
    return this.#compileCacheReady && this.#writable ? this.#compileCache : undefined;
  }

  /** Creates the directories and removes what interrupted writes left; false when unusable. */
  open(): Promise<boolean> {
    this.#opened ??= (async () => {
      try {
        await makeDirectories(this.#components, { mode: 0o700, ops: this.#fs });
        await makeDirectories(this.#compileCache, { mode: 0o700, ops: this.#fs });
        this.#compileCacheReady = true;
      } catch (err) {
        this.#turnOff(`cannot create its directories: ${reasonOf(err)}`);
        return false;
      }
      await this.#removeStaleTemps();
      return true;
    })();
    return this.#opened;
  }

  /** The verified entry for `key`; undefined when there is none or it was damaged (and discarded). */
  async read(key: string): Promise<CacheEntry | undefined> {
    if (!(await this.open())) return undefined;
    const dir = join(this.#components, key);
    try {
      return await this.#readVerified(dir, key);
    } catch (err) {
      if (!(err instanceof Damaged)) throw err;
      this.#warn(
        'component cache entry damaged; transpiling again',
        new CacheEntryDamagedError(`cache entry ${dir}: ${err.message}`, {
          hint: 'the entry is replaced; repeated damage points at the disk or another writer',
        }),
      );
      await this.#discard(dir);
      return undefined;
    }
  }

  async #readVerified(dir: string, key: string): Promise<CacheEntry | undefined> {
    let text: string;
    try {
      text = new TextDecoder().decode(await this.#fs.readFile(join(dir, META)));
    } catch (err) {
      if (codeOf(err) === 'ENOENT' && !(await this.#exists(dir))) return undefined;
      throw new Damaged(`${META} cannot be read: ${reasonOf(err)}`);
    }
    const meta = parseMeta(text, key);
    const read = async (name: string): Promise<Uint8Array> => {
      let bytes: Uint8Array;
      try {
        bytes = await this.#fs.readFile(join(dir, name));
      } catch (err) {
        throw new Damaged(`${name} cannot be read: ${reasonOf(err)}`);
      }
      const expected = meta.files[name] as Meta['files'][string];
      if (bytes.byteLength !== expected.bytes) {
        throw new Damaged(`${name} has ${bytes.byteLength} bytes, ${expected.bytes} expected`);
      }
      if (sha256(bytes) !== expected.sha256) throw new Damaged(`${name} does not match its SHA-256`);
      return bytes;
    };
    const [bindings, ...modules] = await Promise.all([meta.bindings, ...meta.coreModules].map(read));
    return {
      bindings: new TextDecoder().decode(bindings),
      coreModules: meta.coreModules.map((name, i) => ({ name, bytes: modules[i] as Uint8Array })),
      imports: meta.imports,
      exports: meta.exports,
    };
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await this.#fs.modifiedAt(path);
      return true;
    } catch {
      return false;
    }
  }

  /** Stores an entry; a failure turns writing off (with one warning) and is not thrown. */
  async write(key: string, entry: CacheEntry): Promise<void> {
    if (!(await this.open()) || !this.#writable) return;
    const dir = join(this.#components, key);
    const temp = join(this.#components, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    const bindings = new TextEncoder().encode(entry.bindings);
    const meta: Meta = {
      format: FORMAT,
      key,
      bindings: BINDINGS_FILE,
      coreModules: entry.coreModules.map((m) => m.name),
      imports: entry.imports,
      exports: entry.exports,
      files: {},
    };
    const files: [string, Uint8Array][] = [
      [BINDINGS_FILE, bindings],
      ...entry.coreModules.map((m): [string, Uint8Array] => [m.name, m.bytes]),
    ];
    for (const [name, bytes] of files) meta.files[name] = { bytes: bytes.byteLength, sha256: sha256(bytes) };
    try {
      await this.#fs.mkdir(temp);
      for (const [name, bytes] of files) await this.#fs.writeFileDurably(join(temp, name), bytes);
      await this.#fs.writeFileDurably(join(temp, META), new TextEncoder().encode(JSON.stringify(meta)));
      await this.#fs.syncDirectory(temp);
      try {
        await this.#fs.rename(temp, dir);
      } catch (err) {
        // Another host sharing the directory stored the same entry first.
        if (codeOf(err) !== 'ENOTEMPTY' && codeOf(err) !== 'EEXIST') throw err;
      }
      await this.#fs.syncDirectory(this.#components);
    } catch (err) {
      this.#turnOff(`cannot write an entry: ${reasonOf(err)}`);
    } finally {
      await this.#fs.removeTree(temp).catch(() => undefined);
    }
  }

  /** Moves a damaged entry out of the way first, so no reader sees it half removed. */
  async #discard(dir: string): Promise<void> {
    if (!this.#writable) return;
    const doomed = join(this.#components, `${TEMP_PREFIX}${randomBytes(6).toString('hex')}`);
    try {
      await this.#fs.rename(dir, doomed);
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return;
      this.#turnOff(`cannot remove the damaged entry ${dir}: ${reasonOf(err)}`);
      return;
    }
    await this.#fs.removeTree(doomed).catch(() => undefined);
  }

  async #removeStaleTemps(): Promise<void> {
    let names: string[];
    try {
      names = await this.#fs.readdir(this.#components);
    } catch (err) {
      this.#turnOff(`cannot list its entries: ${reasonOf(err)}`);
      return;
    }
    const now = Date.now();
    for (const name of names.filter((n) => n.startsWith(TEMP_PREFIX))) {
      const path = join(this.#components, name);
      const modified = await this.#fs.modifiedAt(path).catch(() => now);
      if (now - modified < STALE_TEMP_MS) continue;
      try {
        await this.#fs.removeTree(path);
      } catch (err) {
        this.#turnOff(`cannot remove the partial entry ${path}: ${reasonOf(err)}`);
        return;
      }
      this.#warn(
        'partial component cache entry removed',
        new CacheEntryDamagedError(`${path} is a partial entry an interrupted write left behind`, {
          hint: 'it was removed; the component it belonged to is transpiled again when it loads',
        }),
      );
    }
  }

  #turnOff(reason: string): void {
    if (!this.#writable) return;
    this.#writable = false;
    this.#warn(
      'component cache unavailable; transpiling in memory',
      new CacheUnavailableError(`component cache ${this.dir} is off: ${reason}`, {
        hint: 'point --cache-dir or CIRRUS_CACHE_DIR at a writable directory with free space, then restart',
      }),
    );
  }

  #warn(message: string, err: CirrusError): void {
    this.#logger.warn(message, { code: err.code, error: err.message, hint: err.hint });
  }
}
