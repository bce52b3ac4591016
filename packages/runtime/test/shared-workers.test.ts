/**
 * Instances sharing worker threads, with a runtime of one shared worker per component so that every
 * instance of a component that can share lands on one. Signals: where instances run (the runtime's
 * worker stats), what a call beside a runaway instance gets (its code, and when), whether another
 * component keeps answering meanwhile, and whether the pool refills afterwards.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveLimits } from '@cirrus/protocol';
import {
  assemble,
  BUSY_LOOP_WAT,
  tempDir,
  TRAP_WAT,
  UNKNOWN_IMPORT_WAT,
  waitFor,
  withDeadline,
} from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createComponentRuntime } from '../src/index.ts';
import type { ComponentRuntime, HttpResponseSink } from '../src/index.ts';
import { HELLO_WASM } from './hello.ts';

const GET = { method: 'GET', pathWithQuery: '/x', scheme: 'http' as const, authority: 'test', headers: [] };

function sink(): { sink: HttpResponseSink; status: () => number | undefined } {
  let status: number | undefined;
  return {
    status: () => status,
    sink: {
      head: (s) => void (status = s),
      write: async () => undefined,
      end: () => undefined,
    },
  };
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

describe('shared worker threads', () => {
  let dir: TempDir;
  let runtime: ComponentRuntime;
  const files: Record<string, string> = {};

  before(async () => {
    dir = await tempDir();
    runtime = createComponentRuntime({
      cacheDir: join(dir.path, 'cache'),
      limits: resolveLimits({ runtimeWorkers: 1, workerInstancesMax: 4, invocationTimeoutMs: 2_000 }),
    });
    for (const [name, wat] of Object.entries({
      loop: BUSY_LOOP_WAT,
      trap: TRAP_WAT,
      unknown: UNKNOWN_IMPORT_WAT,
    })) {
      files[name] = join(dir.path, `${name}.wasm`);
      await writeFile(files[name], await assemble(wat));
    }
  });

  after(async () => {
    await runtime.close();
    await dir.remove();
  });

  it("runs a component's instances on one thread, another component on its own, and one with linked imports alone", async () => {
    const hello = await runtime.load(HELLO_WASM, { allowFileLoad: true });
    const a = runtime.createPool(hello, { componentId: 'a', maxInstances: 5 });
    const b = runtime.createPool(hello, { componentId: 'b', maxInstances: 1 });
    const linked = runtime.createPool(
      await runtime.load(files['unknown'] as string, { allowFileLoad: true }),
      {
        componentId: 'linked',
        maxInstances: 1,
      },
    );
    await Promise.all([a.warm(), b.warm(), linked.warm()]);
    // Calls at once on `a` until it runs five instances: four fill its thread, the fifth starts another.
    while (a.stats.instances < 5) {
      const calls = Array.from({ length: 5 }, () => sink());
      await Promise.all(calls.map((c) => a.handleHttp(GET, null, c.sink)));
      assert.deepEqual(
        calls.map((c) => c.status()),
        [200, 200, 200, 200, 200],
      );
    }
    const served = sink();
    await b.handleHttp(GET, null, served.sink);
    assert.equal(served.status(), 200);
    assert.deepEqual(runtime.workerStats.shared.toSorted(), [1, 1, 4]);
    assert.equal(runtime.workerStats.dedicated, 1);
    await Promise.all([a.close(), b.close(), linked.close()]);
    // An instance still starting when its pool closed ends once it has started.
    await waitFor(
      () => JSON.stringify(runtime.workerStats) === JSON.stringify({ shared: [0], dedicated: 0 }),
      5_000,
      'the threads beyond one to end',
    );
  });

  it('ends a trapping instance alone', async () => {
    const trap = runtime.createPool(await runtime.load(files['trap'] as string, { allowFileLoad: true }), {
      componentId: 'trap',
      maxInstances: 2,
    });
    await trap.warm();
    // Two calls at once: two instances on one thread, both trapping, each replaced.
    const outcomes = await Promise.all(
      [sink(), sink()].map((s) => trap.handleHttp(GET, null, s.sink).catch((e: unknown) => e)),
    );
    assert.deepEqual(outcomes.map(codeOf), ['GUEST_TRAP', 'GUEST_TRAP']);
    assert.equal(
      codeOf(await trap.handleHttp(GET, null, sink().sink).catch((e: unknown) => e)),
      'GUEST_TRAP',
    );
    assert.equal(runtime.workerStats.shared.filter((n) => n > 0).length, 1, 'one thread serves on');
    await trap.close();
  });

  it('stops a runaway call at its deadline; a call beside it fails with WORKER_STOPPED; another component answers throughout', async () => {
    const loop = runtime.createPool(await runtime.load(files['loop'] as string, { allowFileLoad: true }), {
      componentId: 'loop',
      maxInstances: 2,
      invocationTimeoutMs: 300,
    });
    const hello = runtime.createPool(await runtime.load(HELLO_WASM, { allowFileLoad: true }), {
      componentId: 'hello-beside-loop',
      maxInstances: 1,
    });
    await Promise.all([loop.warm(), hello.warm()]);
    const started = performance.now();
    const stuck = loop.handleHttp(GET, null, sink().sink).catch((e: unknown) => e);
    // The second call needs the second instance, on the same thread: it waits behind the first.
    const beside = loop.handleHttp(GET, null, sink().sink).catch((e: unknown) => e);
    let answered = 0;
    while (performance.now() - started < 250) {
      const served = sink();
      await hello.handleHttp(GET, null, served.sink);
      assert.equal(served.status(), 200, 'hello, on a thread of its own, answers while the loop spins');
      answered += 1;
    }
    assert.ok(answered > 3, `hello answered ${answered} requests`);
    const outcomes = [
      await withDeadline(stuck, 1_500, 'the runaway call to end'),
      await withDeadline(beside, 1_500, 'the call beside it to end'),
    ].map(codeOf);
    // Whichever reached the thread first is the runaway; the other waited behind it.
    assert.deepEqual(outcomes.toSorted(), ['DEADLINE_EXCEEDED', 'WORKER_STOPPED']);
    assert.equal(
      codeOf(await loop.handleHttp(GET, null, sink().sink).catch((e: unknown) => e)),
      'DEADLINE_EXCEEDED',
      'a replacement instance serves the next call',
    );
    await Promise.all([loop.close(), hello.close()]);
  });

  it('keeps a spare thread started once standing by, and replaces it when a component takes it', async () => {
    const spares = createComponentRuntime({
      cacheDir: join(dir.path, 'cache'),
      limits: resolveLimits({ runtimeWorkers: 1, runtimeSpareWorkers: 1 }),
    });
    try {
      assert.deepEqual(spares.workerStats.shared, [], 'no thread before standing by');
      spares.standBy();
      assert.deepEqual(spares.workerStats.shared, [0]);
      const hello = spares.createPool(await spares.load(HELLO_WASM, { allowFileLoad: true }), {
        componentId: 'hello',
        maxInstances: 1,
      });
      await hello.warm();
      // The spare took the instance; a new spare starts once the instance has started.
      assert.deepEqual(spares.workerStats.shared, [1, 0]);
      await hello.close();
      // Left empty beyond runtimeWorkers, the first thread ends: one empty thread stays.
      await waitFor(
        () => JSON.stringify(spares.workerStats.shared) === '[0]',
        5_000,
        'one empty thread to stay',
      );
    } finally {
      await spares.close();
    }
    const none = createComponentRuntime({
      cacheDir: join(dir.path, 'cache'),
      limits: resolveLimits({ runtimeSpareWorkers: 0 }),
    });
    none.standBy();
    assert.deepEqual(none.workerStats.shared, []);
    await none.close();
    const closed = createComponentRuntime({ cacheDir: join(dir.path, 'cache') });
    await closed.close();
    closed.standBy();
    assert.deepEqual(closed.workerStats.shared, [], 'a closed runtime starts no spare');
  });
});
