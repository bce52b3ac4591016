/**
 * Resources between components: counter-user imports example:counter/counters, whose `counter`
 * resource counter-resource exports. On one host every handle the user holds is a host resource whose
 * calls reach the exporting instance that holds the counter (own and borrow alike), drops reach it,
 * and a counter ends with its instance. Across hosts, calls that carry resources are refused with
 * an error naming the interface and the function.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { LogFields, Logger } from '@cirrus/protocol';
import { freePort, tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { httpGet, routeHttp, serveOverHttp, WITH_BUILTINS } from './support.ts';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../testing/fixtures/${name}/build/${name}.wasm`, import.meta.url));

const COUNTERS_LINK = {
  target: 'counters',
  wit_namespace: 'example',
  wit_package: 'counter',
  interfaces: ['counters'],
};

interface Stats {
  live: number;
  created: number;
  dropped: number;
  instance: number;
}

/** One JSON line from a counter-user route, which must answer 200. */
async function json<T = Record<string, unknown>>(port: number, path: string): Promise<T> {
  const reply = await httpGet(port, path);
  assert.equal(reply.status, 200, `${path}: ${reply.body}`);
  return JSON.parse(reply.body) as T;
}

/** Keeps every log record, so a test can read the message of an error an HTTP client only sees the code of. */
interface LogRecord {
  message: string;
  fields: LogFields;
}

function recordingLogger(records: LogRecord[], base: LogFields = {}): Logger {
  const log = (message: string, fields: LogFields = {}): void => {
    records.push({ message, fields: { ...base, ...fields } });
  };
  return {
    debug: log,
    info: log,
    warn: log,
    error: log,
    child: (fields) => recordingLogger(records, { ...base, ...fields }),
  };
}

/** The message of the error the HTTP server logged for the failed request `path` with `code`. */
function failure(records: readonly LogRecord[], path: string, code: string): unknown {
  const route = path.replace(/\?.*$/, '');
  return records.findLast((r) => r.fields['path'] === route && r.fields['code'] === code)?.fields['error'];
}

function hostOn(lattice: MemoryLattice, dir: TempDir, name: string, logger?: Logger): Promise<Host> {
  return createHost({
    ...WITH_BUILTINS,
    lattice: lattice.connect(),
    friendlyName: `host-${name}`,
    cacheDir: join(dir.path, 'cache'),
    allowFileLoad: true,
    heartbeatIntervalMs: 0,
    limits: resolveLimits({ maxInstances: 10 }),
    ...(logger === undefined ? {} : { logger }),
  });
}

describe('resources between components on one host', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;
  /** Two importing components, each behind its own port, sharing the one exporting instance. */
  const ports = { a: 0, b: 0 };
  const records: LogRecord[] = [];

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    host = await hostOn(lattice, dir, 'one', recordingLogger(records));
    await host.scaleComponent({
      componentRef: fixture('counter-resource'),
      componentId: 'counters',
      count: 1,
    });
    for (const id of ['a', 'b'] as const) {
      await host.scaleComponent({
        componentRef: fixture('counter-user'),
        componentId: `user-${id}`,
        count: 1,
      });
      await host.putLink({ source_id: `user-${id}`, ...COUNTERS_LINK });
      ports[id] = await freePort();
    }
    await serveOverHttp(host, 'user-a', ports.a);
    await routeHttp(host, 'user-b', ports.b, 'user-b');
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  it('constructs a counter the user owns, calls its methods and hands it over with own', async () => {
    assert.deepEqual(await json(ports.a, '/own?start=5&n=3'), { before: 8, consumed: 8 });
  });

  it('lends a counter with borrow and keeps using it', async () => {
    assert.deepEqual(await json(ports.a, '/borrow?start=1&by=4'), { added: 5, peeked: 5, after: 6 });
  });

  it('uses counters a function and a static function returned', async () => {
    assert.deepEqual(await json(ports.a, '/make?start=2'), { made: 3, fromStatic: 3, peeked: 3 });
  });

  it('refuses a counter the user handed over with RESOURCE_LOST, and serves on', async () => {
    const reused = await httpGet(ports.a, '/reuse?start=9');
    assert.equal(reused.status, 500);
    assert.match(reused.body, /RESOURCE_LOST/);
    assert.equal(
      failure(records, '/reuse', 'RESOURCE_LOST'),
      'example:counter/counters#counter.get was called on a counter the component had dropped or handed over',
    );
    assert.deepEqual(await json(ports.a, '/own?start=1&n=1'), { before: 2, consumed: 2 });
  });

  it("releases the exporter's counter when the user drops its handle", async () => {
    const before = await json<Stats>(ports.a, '/stats');
    const { key } = await json<{ key: number }>(ports.a, '/keep?start=1');
    assert.equal((await json<Stats>(ports.a, '/stats')).live, before.live + 1);
    assert.deepEqual(await json(ports.a, `/use?key=${key}`), { value: 2 });
    assert.deepEqual(await json(ports.a, `/release?key=${key}`), { released: true });
    const released = await json<Stats>(ports.a, '/stats');
    assert.equal(released.live, before.live);

    await json(ports.a, '/cycle?n=5');
    const cycled = await json<Stats>(ports.a, '/stats');
    assert.equal(cycled.live, before.live, 'dropped, consumed and made counters all go');
    assert.equal(cycled.created, released.created + 15);
  });

  it('ends the counters of an exporting instance that crashes with RESOURCE_LOST, and serves new ones', async () => {
    const { key: kept } = await json<{ key: number }>(ports.a, '/keep?start=1');
    const { key: doomed } = await json<{ key: number }>(ports.b, '/keep?start=1');
    const crash = await httpGet(ports.b, `/crash?key=${doomed}`);
    assert.equal(crash.status, 500);
    assert.match(crash.body, /GUEST_TRAP/);

    const lost = await httpGet(ports.a, `/use?key=${kept}`);
    assert.equal(lost.status, 500);
    assert.match(lost.body, /RESOURCE_LOST/);
    assert.match(
      String(failure(records, '/use', 'RESOURCE_LOST')),
      /^counter \d+ of example:counter\/counters \(component counters\) is gone: the instance that held it ended \(GUEST_TRAP: /,
    );

    const { key } = await json<{ key: number }>(ports.a, '/keep?start=10');
    assert.deepEqual(await json(ports.a, `/use?key=${key}`), { value: 11 });
    assert.equal((await json<Stats>(ports.a, '/stats')).live, 1, 'a fresh instance, holding the new counter');
  });
});

describe('resources between components across hosts', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let a: Host;
  let b: Host;
  let port: number;
  const records: LogRecord[] = [];

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    a = await hostOn(lattice, dir, 'a', recordingLogger(records));
    b = await hostOn(lattice, dir, 'b');
    await b.scaleComponent({ componentRef: fixture('counter-resource'), componentId: 'counters', count: 1 });
    await a.scaleComponent({ componentRef: fixture('counter-user'), componentId: 'user', count: 1 });
    await a.putLink({ source_id: 'user', ...COUNTERS_LINK });
    port = await freePort();
    await serveOverHttp(a, 'user', port);
  });

  after(async () => {
    await a.stop();
    await b.stop();
    await lattice.close();
    await dir.remove();
  });

  it('calls a function without resources on the other host', async () => {
    const stats = await json<Stats>(port, '/stats');
    assert.equal(stats.live, 0);
  });

  it('refuses a constructor and functions that carry resources, naming the interface and the function', async () => {
    for (const [path, call] of [
      ['/keep?start=1', 'example:counter/counters#[constructor]counter'],
      ['/make?start=1', 'example:counter/counters#make'],
    ] as const) {
      const reply = await httpGet(port, path);
      assert.equal(reply.status, 500);
      assert.match(reply.body, /RESOURCE_NOT_ROUTABLE/);
      assert.equal(
        failure(records, path, 'RESOURCE_NOT_ROUTABLE'),
        `${call} passes resources to counters, which runs on another host`,
      );
    }
  });
});
