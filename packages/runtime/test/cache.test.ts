/**
 * The component cache is an optimisation the host survives without. Signals: whether a load
 * completes (within a deadline) and its instance runs, whether the entry came from the cache, and
 * the warnings logged with their codes (exactly one per fault).
 *
 * Faults are real where the machine allows: `/proc/x` and a path under a regular file everywhere; a
 * read-only bind mount and a full tmpfs need root (CAP_SYS_ADMIN), as on CI, and are skipped with a
 * reason elsewhere (chmod does not stop root). An I/O error (EIO) cannot be produced on demand at
 * all: it is injected through the cache's file-system port (`CacheFs`), as is the order of
 * operations a durable write makes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import type { LogFields, Logger } from '@cirrus/protocol';
import { assemble, tempDir, TRAP_WAT, UNKNOWN_IMPORT_WAT, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { ComponentCache, nodeCacheFs, STALE_TEMP_MS } from '../src/component-cache.ts';
import { makeDirectories } from '../src/files.ts';
import type { CacheEntry, CacheFs } from '../src/component-cache.ts';
import { createComponentRuntime } from '../src/index.ts';
import type { HttpResponseSink } from '../src/index.ts';
import { HELLO_WASM } from './hello.ts';

const run = promisify(execFile);

interface Line {
  level: string;
  message: string;
  fields: LogFields;
}

function recordingLogger(): { logger: Logger; lines: Line[]; warnings: () => string[] } {
  const lines: Line[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message, fields = {}) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields = {}) => lines.push({ level: 'error', message, fields }),
    child: () => logger,
  };
  return { logger, lines, warnings: () => lines.map((l) => `${l.level} ${String(l.fields['code'])}`) };
}

const GET = { method: 'GET', pathWithQuery: '/', scheme: 'http' as const, authority: 'test', headers: [] };

function collector(): { sink: HttpResponseSink; status: () => number | undefined } {
  let status: number | undefined;
  return {
    status: () => status,
    sink: { head: (s) => void (status = s), write: () => Promise.resolve(), end: () => undefined },
  };
}

/** A deadline for a load: a regression (a cache that spins) must fail the test, not hang it. */
const LOAD_MS = 60_000;

interface Loaded {
  fromCache: boolean;
  /** How the instance's call ended: the trap component's code and message. */
  call: string;
}

/** Loads the trap component with a fresh runtime and runs one call on an instance of it. */
async function loadAndRun(cacheDir: string, file: string, logger: Logger): Promise<Loaded> {
  const runtime = createComponentRuntime({ cacheDir, logger });
  try {
    const component = await withDeadline(runtime.load(file, { allowFileLoad: true }), LOAD_MS, 'load');
    const pool = runtime.createPool(component, { componentId: 'trap', maxInstances: 1 });
    const err = await pool.handleHttp(GET, null, collector().sink).catch((e: unknown) => e);
    await pool.close();
    const { code, message } = err as { code?: string; message?: string };
    return { fromCache: component.fromCache, call: `${code}: ${message}` };
  } finally {
    await runtime.close();
  }
}

const TRAPPED = /^GUEST_TRAP: .*unreachable/;

/** The one complete entry of a cache directory. */
async function entryOf(cacheDir: string): Promise<string> {
  const names = (await readdir(join(cacheDir, 'components'))).filter((n) => !n.startsWith('.'));
  assert.equal(names.length, 1, `entries: ${names.join(', ')}`);
  return join(cacheDir, 'components', names[0] as string);
}

/** Runs a mount command; false where this machine does not allow mounting (not root). */
async function tryMount(args: string[]): Promise<boolean> {
  try {
    await run('mount', args);
    return true;
  } catch {
    return false;
  }
}

/**
 * Unmounts `path`. Another process of the test run that is scanning /tmp at that moment makes the
 * mount busy for an instant: a busy mount is detached lazily, and is gone once nothing uses it.
 */
async function unmount(path: string): Promise<void> {
  try {
    await run('umount', [path]);
  } catch {
    await run('umount', ['--lazy', path]);
  }
}

/** Makes `path` read-only in place; a bind mount takes `ro` only on a remount with older tools. */
async function mountReadOnly(path: string): Promise<boolean> {
  if (!(await tryMount(['--bind', path, path]))) return false;
  if (await tryMount(['-o', 'remount,bind,ro', path])) return true;
  await unmount(path);
  return false;
}

describe('a cache directory that cannot be used', () => {
  let dir: TempDir;
  let trap: string;
  let other: string;

  before(async () => {
    dir = await tempDir();
    trap = join(dir.path, 'trap.wasm');
    other = join(dir.path, 'other.wasm');
    await writeFile(trap, await assemble(TRAP_WAT));
    await writeFile(other, await assemble(UNKNOWN_IMPORT_WAT));
  });

  after(() => dir.remove());

  it('under /proc: the host transpiles in memory, serves, and warns once with CACHE_UNAVAILABLE', async () => {
    const { logger, warnings } = recordingLogger();
    const runtime = createComponentRuntime({ cacheDir: '/proc/x', logger });
    try {
      const hello = await withDeadline(runtime.load(HELLO_WASM, { allowFileLoad: true }), LOAD_MS, 'load');
      assert.equal(hello.fromCache, false);
      const pool = runtime.createPool(hello, { componentId: 'hello', maxInstances: 1 });
      const response = collector();
      await withDeadline(pool.handleHttp(GET, null, response.sink), LOAD_MS, 'a request');
      assert.equal(response.status(), 200);
      await pool.close();
      await withDeadline(runtime.load(trap, { allowFileLoad: true }), LOAD_MS, 'a second load');
      assert.deepEqual(warnings(), ['warn CACHE_UNAVAILABLE']);
    } finally {
      await runtime.close();
    }
  });

  it('under a regular file (ENOTDIR): loads work in memory with one warning, the file is untouched', async () => {
    const file = join(dir.path, 'a-file');
    await writeFile(file, 'not a directory');
    const { logger, lines, warnings } = recordingLogger();
    const loaded = await loadAndRun(join(file, 'cache'), trap, logger);
    assert.deepEqual(loaded.fromCache, false);
    assert.match(loaded.call, TRAPPED, 'the instance ran');
    assert.deepEqual(warnings(), ['warn CACHE_UNAVAILABLE']);
    assert.match(String(lines[0]?.fields['error']), /ENOTDIR/);
    assert.equal(await readFile(file, 'utf8'), 'not a directory');
  });

  it('read-only (bind mount): cached entries still load, others load in memory with one warning', async (t: TestContext) => {
    const cacheDir = join(dir.path, 'ro-cache');
    const seeded = await loadAndRun(cacheDir, trap, recordingLogger().logger);
    assert.equal(seeded.fromCache, false);
    if (!(await mountReadOnly(cacheDir))) {
      t.skip('mounting needs root (CAP_SYS_ADMIN)');
      return;
    }
    try {
      const { logger, lines, warnings } = recordingLogger();
      const runtime = createComponentRuntime({ cacheDir, logger });
      try {
        const cached = await withDeadline(runtime.load(trap, { allowFileLoad: true }), LOAD_MS, 'load');
        assert.equal(cached.fromCache, true, 'a cached entry is read from the read-only cache');
        assert.deepEqual(warnings(), []);
        const fresh = await withDeadline(runtime.load(other, { allowFileLoad: true }), LOAD_MS, 'load');
        assert.equal(fresh.fromCache, false);
        assert.deepEqual(warnings(), ['warn CACHE_UNAVAILABLE']);
        assert.match(String(lines[0]?.fields['error']), /EROFS/);
      } finally {
        await runtime.close();
      }
      // A cache directory still to be made inside a read-only one: the report that started this.
      const { logger: inner, warnings: innerWarnings } = recordingLogger();
      const loaded = await loadAndRun(join(cacheDir, 'sub', 'cache'), other, inner);
      assert.match(loaded.call, /^LINK_NOT_FOUND/, 'the instance ran');
      assert.deepEqual(innerWarnings(), ['warn CACHE_UNAVAILABLE']);
    } finally {
      await unmount(cacheDir);
    }
  });

  it('on a disk that fills up while the host runs: the failed write leaves nothing, one warning', async (t: TestContext) => {
    const cacheDir = join(dir.path, 'small-disk');
    await mkdir(cacheDir);
    // Room for the trap component's entry and V8's compile cache, not for hello's 14 MB.
    if (!(await tryMount(['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', cacheDir]))) {
      t.skip('mounting needs root (CAP_SYS_ADMIN)');
      return;
    }
    try {
      const { logger, lines, warnings } = recordingLogger();
      const runtime = createComponentRuntime({ cacheDir, logger });
      try {
        const first = await withDeadline(runtime.load(trap, { allowFileLoad: true }), LOAD_MS, 'load');
        assert.equal(first.fromCache, false);
        assert.deepEqual(warnings(), []);
        const hello = await withDeadline(runtime.load(HELLO_WASM, { allowFileLoad: true }), LOAD_MS, 'load');
        assert.equal(hello.fromCache, false);
        assert.deepEqual(warnings(), ['warn CACHE_UNAVAILABLE']);
        assert.match(String(lines[0]?.fields['error']), /ENOSPC/);
        const pool = runtime.createPool(hello, { componentId: 'hello', maxInstances: 1 });
        const response = collector();
        await withDeadline(pool.handleHttp(GET, null, response.sink), LOAD_MS, 'a request');
        assert.equal(response.status(), 200);
        await pool.close();
        await withDeadline(runtime.load(other, { allowFileLoad: true }), LOAD_MS, 'load');
        assert.deepEqual(warnings(), ['warn CACHE_UNAVAILABLE'], 'said once');
      } finally {
        await runtime.close();
      }
      const names = await readdir(join(cacheDir, 'components'));
      assert.deepEqual(
        names.filter((n) => n.startsWith('.')),
        [],
        'no partial entry is left',
      );
      const again = await loadAndRun(cacheDir, trap, recordingLogger().logger);
      assert.equal(again.fromCache, true, 'what was written before the disk filled is still good');
    } finally {
      await unmount(cacheDir);
    }
  });
});

describe('damaged cache entries', () => {
  let dir: TempDir;
  let trap: string;

  before(async () => {
    dir = await tempDir();
    trap = join(dir.path, 'trap.wasm');
    await writeFile(trap, await assemble(TRAP_WAT));
  });

  after(() => dir.remove());

  /**
   * Seeds a cache, damages it, and checks: the next load works with one CACHE_ENTRY_DAMAGED warning,
   * and the one after reads a good entry again without a warning.
   */
  async function damagedThenRepaired(name: string, damage: (entry: string) => Promise<void>): Promise<void> {
    const cacheDir = join(dir.path, name);
    await loadAndRun(cacheDir, trap, recordingLogger().logger);
    await damage(await entryOf(cacheDir));

    const { logger, warnings } = recordingLogger();
    const next = await loadAndRun(cacheDir, trap, logger);
    assert.equal(next.fromCache, false);
    assert.match(next.call, TRAPPED, 'the instance ran');
    assert.deepEqual(warnings(), ['warn CACHE_ENTRY_DAMAGED']);

    const { logger: quiet, warnings: none } = recordingLogger();
    const repaired = await loadAndRun(cacheDir, trap, quiet);
    assert.equal(repaired.fromCache, true, 'the entry was replaced');
    assert.deepEqual(none(), []);
  }

  it('a truncated core module is discarded and replaced', () =>
    damagedThenRepaired('truncated', async (entry) => {
      await truncate(join(entry, 'component.core.wasm'), 20);
    }));

  it('a core module with changed bytes of the same length is discarded and replaced', () =>
    damagedThenRepaired('corrupted', async (entry) => {
      const path = join(entry, 'component.core.wasm');
      const bytes = await readFile(path);
      const at = Math.floor(bytes.byteLength / 2);
      bytes[at] = (bytes[at] as number) ^ 0xff;
      await writeFile(path, bytes);
    }));

  it('an entry missing a file is discarded and replaced', () =>
    damagedThenRepaired('deleted', async (entry) => {
      await rm(join(entry, 'component.mjs'));
    }));

  it('an entry whose meta.json is garbage is discarded and replaced', () =>
    damagedThenRepaired('garbage-meta', async (entry) => {
      await writeFile(join(entry, 'meta.json'), '{"format": 2, "key": tru');
    }));

  it('a partial entry an interrupted write left behind is removed with one warning', async () => {
    const cacheDir = join(dir.path, 'leftover');
    const temp = join(cacheDir, 'components', '.tmp-0123456789ab');
    await mkdir(temp, { recursive: true });
    await writeFile(join(temp, 'component.core.wasm'), new Uint8Array(100));
    const longAgo = new Date(Date.now() - 2 * STALE_TEMP_MS);
    await utimes(temp, longAgo, longAgo);

    const { logger, warnings } = recordingLogger();
    const loaded = await loadAndRun(cacheDir, trap, logger);
    assert.match(loaded.call, TRAPPED);
    assert.deepEqual(warnings(), ['warn CACHE_ENTRY_DAMAGED']);
    assert.deepEqual(
      (await readdir(join(cacheDir, 'components'))).filter((n) => n.startsWith('.')),
      [],
    );
  });
});

describe('cache directories are made one component at a time', () => {
  it('creates missing parents, and fails at once where a directory cannot be made', async () => {
    await using dir = await tempDir();
    const nested = join(dir.path, 'a', 'b', 'c');
    await makeDirectories(nested);
    await makeDirectories(nested);
    assert.deepEqual(await readdir(join(dir.path, 'a', 'b')), ['c']);

    // Node's recursive mkdir never settles on these paths under /proc.
    await assert.rejects(withDeadline(makeDirectories('/proc/x/y'), 5_000, 'mkdir under /proc'), {
      code: 'ENOENT',
    });
    await writeFile(join(dir.path, 'file'), '');
    await assert.rejects(makeDirectories(join(dir.path, 'file', 'x')), { code: 'ENOTDIR' });
    await assert.rejects(makeDirectories(join(dir.path, 'file')), { code: 'ENOTDIR' });
  });
});

describe('cache writes (injected through the file-system port)', () => {
  const entry: CacheEntry = {
    bindings: 'export function instantiate() {}',
    coreModules: [
      { name: 'component.core.wasm', bytes: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]) },
      { name: 'component.core2.wasm', bytes: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 0]) },
    ],
    imports: ['wasi:cli/environment'],
    exports: ['wasi:http/incoming-handler@0.2.0'],
  };

  /** Comparable whether the bytes are a Uint8Array or a Buffer. */
  const plain = (e: CacheEntry | undefined): unknown =>
    e && { ...e, coreModules: e.coreModules.map((m) => ({ name: m.name, bytes: [...m.bytes] })) };

  it('makes every file and the directory durable before the entry appears, and its parent after', async () => {
    await using dir = await tempDir();
    const ops: string[] = [];
    const short = (path: string): string => path.slice(dir.path.length).replace(/\.tmp-[0-9a-f]+/, '.tmp');
    const fs: CacheFs = {
      ...nodeCacheFs,
      writeFileDurably: async (path, data) => {
        ops.push(`write+fsync ${short(path)}`);
        await nodeCacheFs.writeFileDurably(path, data);
      },
      syncDirectory: async (path) => {
        ops.push(`fsync ${short(path)}`);
        await nodeCacheFs.syncDirectory(path);
      },
      rename: async (from, to) => {
        ops.push(`rename ${short(from)} ${short(to)}`);
        await nodeCacheFs.rename(from, to);
      },
    };
    const cache = new ComponentCache({ dir: dir.path, logger: recordingLogger().logger, fs });
    await cache.write('k', entry);
    assert.deepEqual(ops, [
      'write+fsync /components/.tmp/component.mjs',
      'write+fsync /components/.tmp/component.core.wasm',
      'write+fsync /components/.tmp/component.core2.wasm',
      'write+fsync /components/.tmp/meta.json',
      'fsync /components/.tmp',
      'rename /components/.tmp /components/k',
      'fsync /components',
    ]);
    assert.deepEqual(plain(await cache.read('k')), plain(entry));
  });

  it('an I/O error while writing turns writing off with one warning; reads go on', async () => {
    await using dir = await tempDir();
    const good = new ComponentCache({ dir: dir.path, logger: recordingLogger().logger });
    await good.write('stored', entry);

    let writes = 0;
    const fs: CacheFs = {
      ...nodeCacheFs,
      writeFileDurably: async () => {
        writes++;
        throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
      },
    };
    const { logger, lines, warnings } = recordingLogger();
    const cache = new ComponentCache({ dir: dir.path, logger, fs });
    await cache.open();
    assert.equal(cache.compileCacheDir, join(dir.path, 'v8'));
    await cache.write('a', entry);
    await cache.write('b', entry);
    assert.equal(writes, 1, 'no write is attempted once one failed');
    assert.deepEqual(warnings(), ['warn CACHE_UNAVAILABLE']);
    assert.match(String(lines[0]?.fields['error']), /EIO/);
    assert.equal(cache.compileCacheDir, undefined, 'new workers leave V8 compile cache off');
    assert.deepEqual(plain(await cache.read('stored')), plain(entry));
    assert.deepEqual(
      (await readdir(join(dir.path, 'components'))).filter((n) => n.startsWith('.')),
      [],
    );
  });
});
