/**
 * Disk faults never stop `cirrus up`. Its transpile cache is an optimisation: a cache directory that
 * cannot be used (on /proc, under a regular file, on a full disk) leaves a host that serves, having
 * said once why the cache is off (CACHE_UNAVAILABLE), and a damaged cache entry is replaced while the
 * host serves (CACHE_ENTRY_DAMAGED, once). A state directory that cannot be written leaves a host
 * that serves without its local endpoint (LOCAL_ENDPOINT_UNAVAILABLE, once). Each host then stops
 * cleanly on SIGTERM. Before, `CIRRUS_CACHE_DIR=/proc/x` spun at 100% CPU forever, a read-only cache
 * stopped the host with a stack trace, and a truncated entry failed every later start.
 *
 * The full disk is a 1 MiB tmpfs, which needs root (as on CI); elsewhere that case is skipped.
 * Measured (test diagnostics): how long each host took to serve its first request.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { killAll, startHelloHost } from './support.ts';
import type { CirrusProcess } from './support.ts';

const run = promisify(execFile);

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.text() };
}

function warnings(host: CirrusProcess, code: string): number {
  return host.records().filter((r) => r.level === 'warn' && JSON.stringify(r).includes(code)).length;
}

describe('disk faults', () => {
  let dir: TempDir;
  let count = 0;

  before(async () => {
    dir = await tempDir();
  });

  after(async () => {
    killAll();
    await dir.remove();
  });

  /** A hello host with the given environment; asserts that it serves, and returns it running. */
  async function serving(t: TestContext, env: Record<string, string>): Promise<CirrusProcess> {
    const started = performance.now();
    const { host, url } = await startHelloHost({
      dir: join(dir.path, `host-${++count}`),
      appName: `disk${count}`,
      instances: 1,
      args: ['--log-format', 'json'],
      env,
    });
    const reply = await get(url);
    t.diagnostic(`served ${reply.status} ${Math.round(performance.now() - started)} ms after the start`);
    assert.equal(reply.status, 200, host.tail());
    assert.match(reply.body, /^Hello from Cirrus/);
    return host;
  }

  async function stopsCleanly(host: CirrusProcess): Promise<void> {
    assert.deepEqual(await host.stop(), { code: 0, signal: null }, host.tail());
  }

  for (const [what, cacheDir] of [
    ['on /proc', () => '/proc/cirrus-cache'],
    ['under a regular file', () => join(dir.path, 'a-file', 'cache')],
  ] as const) {
    it(`serves with a cache directory ${what}, saying once that the cache is off`, async (t) => {
      await writeFile(join(dir.path, 'a-file'), 'not a directory');
      const host = await serving(t, { CIRRUS_CACHE_DIR: cacheDir() });
      assert.equal(warnings(host, 'CACHE_UNAVAILABLE'), 1, host.tail());
      await stopsCleanly(host);
    });
  }

  it('serves from a cache on a full disk, saying once that the cache is off', async (t) => {
    const full = join(dir.path, 'full');
    await mkdir(full);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', full]);
    } catch {
      t.skip('mounting a tmpfs needs root (CAP_SYS_ADMIN)');
      return;
    }
    try {
      const host = await serving(t, { CIRRUS_CACHE_DIR: full });
      assert.equal(warnings(host, 'CACHE_UNAVAILABLE'), 1, host.tail());
      await stopsCleanly(host);
    } finally {
      await run('umount', [full]);
    }
  });

  it('replaces a truncated cache entry and serves, with one CACHE_ENTRY_DAMAGED warning', async (t) => {
    const cacheDir = join(dir.path, 'damaged-cache');
    await stopsCleanly(await serving(t, { CIRRUS_CACHE_DIR: cacheDir }));
    const components = join(cacheDir, 'components');
    const entries = (await readdir(components)).filter((name) => !name.startsWith('.'));
    assert.equal(entries.length, 1, `one cache entry: ${entries.join(', ')}`);
    const entry = join(components, entries[0] as string);
    const core = (await readdir(entry)).find((name) => name.endsWith('.wasm'));
    assert.ok(core !== undefined, 'the entry holds a core module');
    await truncate(join(entry, core), 1000);

    const host = await serving(t, { CIRRUS_CACHE_DIR: cacheDir });
    assert.equal(warnings(host, 'CACHE_ENTRY_DAMAGED'), 1, host.tail());
    await stopsCleanly(host);
    // The entry was written again: the next start has nothing to repair.
    const next = await serving(t, { CIRRUS_CACHE_DIR: cacheDir });
    assert.equal(warnings(next, 'CACHE_ENTRY_DAMAGED'), 0, next.tail());
    await stopsCleanly(next);
  });

  it('serves without its local endpoint when the state directory cannot be written', async (t) => {
    const host = await serving(t, { CIRRUS_STATE_DIR: '/proc/cirrus-state' });
    assert.equal(warnings(host, 'LOCAL_ENDPOINT_UNAVAILABLE'), 1, host.tail());
    await stopsCleanly(host);
  });
});
