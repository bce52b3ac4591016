/**
 * Instances sharing worker threads, with a runtime of one shared worker so that every instance that
 * can share lands on it. Signals: where instances run (the runtime's worker stats), what a call
 * beside a runaway instance gets (its code, and when), and whether the pools refill afterwards.
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

  it('runs instances of several components on one thread, and a component with linked imports alone', async () => {
    const hello = await runtime.load(HELLO_WASM, { allowFileLoad: true });
    const a = runtime.createPool(hello, { componentId: 'a', maxInstances: 2 });
    const b = runtime.createPool(hello, { componentId: 'b', maxInstances: 1 });
    const linked = runtime.createPool(
      await runtime.load(files['unknown'] as string, { allowFileLoad: true }),
      {
        componentId: 'linked',
        maxInstances: 1,
      },
    );
    await Promise.all([a.warm(), b.warm(), linked.warm()]);
    // Two calls at once on `a` need its second instance.
    const calls = [sink(), sink(), sink()];
    await Promise.all([
      a.handleHttp(GET, null, (calls[0] as ReturnType<typeof sink>).sink),
      a.handleHttp(GET, null, (calls[1] as ReturnType<typeof sink>).sink),
      b.handleHttp(GET, null, (calls[2] as ReturnType<typeof sink>).sink),
    ]);
    assert.deepEqual(
      calls.map((c) => c.status()),
      [200, 200, 200],
    );
    assert.deepEqual(runtime.workerStats, { shared: [3], dedicated: 1 });

    // A fifth instance finds the shared thread full (4) and starts another.
    const c = runtime.createPool(hello, { componentId: 'c', maxInstances: 2 });
    await c.warm();
    const more = [sink(), sink()];
    await Promise.all(more.map((m) => c.handleHttp(GET, null, m.sink)));
    assert.deepEqual(runtime.workerStats.shared.toSorted(), [1, 4]);
    await Promise.all([a.close(), b.close(), c.close(), linked.close()]);
    // An instance still starting when its pool closed ends once it has started.
    await waitFor(
      () => JSON.stringify(runtime.workerStats) === JSON.stringify({ shared: [0], dedicated: 0 }),
      5_000,
      'the threads beyond one to end',
    );
  });

  it('ends a trapping instance alone', async () => {
    const hello = runtime.createPool(await runtime.load(HELLO_WASM, { allowFileLoad: true }), {
      componentId: 'hello-beside-trap',
      maxInstances: 1,
    });
    const trap = runtime.createPool(await runtime.load(files['trap'] as string, { allowFileLoad: true }), {
      componentId: 'trap',
      maxInstances: 1,
    });
    await Promise.all([hello.warm(), trap.warm()]);
    const before = runtime.workerStats.shared.reduce((n, x) => n + x, 0);
    assert.equal(
      codeOf(await trap.handleHttp(GET, null, sink().sink).catch((e: unknown) => e)),
      'GUEST_TRAP',
    );
    const served = sink();
    await hello.handleHttp(GET, null, served.sink);
    assert.equal(served.status(), 200, 'the instance beside it serves on, on the same thread');
    assert.equal(
      runtime.workerStats.shared.reduce((n, x) => n + x, 0),
      before,
      'the trap was replaced',
    );
    await Promise.all([hello.close(), trap.close()]);
  });

  it('stops a runaway call at its deadline; a call beside it fails with WORKER_STOPPED, and both pools refill', async () => {
    const loop = runtime.createPool(await runtime.load(files['loop'] as string, { allowFileLoad: true }), {
      componentId: 'loop',
      maxInstances: 1,
      invocationTimeoutMs: 300,
    });
    const hello = runtime.createPool(await runtime.load(HELLO_WASM, { allowFileLoad: true }), {
      componentId: 'hello-beside-loop',
      maxInstances: 1,
    });
    await Promise.all([loop.warm(), hello.warm()]);
    assert.equal(runtime.workerStats.shared.filter((n) => n > 0).length, 1, 'both on one thread');
    const started = performance.now();
    const stuck = loop.handleHttp(GET, null, sink().sink).catch((e: unknown) => e);
    // Posted while the thread spins: it waits behind the runaway call.
    const beside = hello.handleHttp(GET, null, sink().sink).then(
      () => undefined,
      (e: unknown) => ({ e, ms: performance.now() - started }),
    );
    assert.equal(codeOf(await withDeadline(stuck, 1_500, 'the runaway call to end')), 'DEADLINE_EXCEEDED');
    const outcome = await withDeadline(beside, 1_500, 'the call beside it to end');
    assert.equal(codeOf(outcome?.e), 'WORKER_STOPPED');
    assert.match((outcome?.e as Error).message, /an instance of loop beside it overran its deadline/);
    assert.ok((outcome?.ms ?? Infinity) < 1_000, `failed after ${Math.round(outcome?.ms ?? -1)} ms`);

    const again = sink();
    await hello.handleHttp(GET, null, again.sink);
    assert.equal(again.status(), 200, 'a replacement serves on a new thread');
    assert.equal(
      codeOf(await loop.handleHttp(GET, null, sink().sink).catch((e: unknown) => e)),
      'DEADLINE_EXCEEDED',
      'and so does the runaway component',
    );
    await Promise.all([loop.close(), hello.close()]);
  });
});
