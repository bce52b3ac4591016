/**
 * Resources a component exports, used from the host as another component's calls use them: the
 * counter-resource fixture's counters live in one instance, every call on one reaches that instance,
 * `own` arguments take a counter over, drops reach the guest, and a counter ends with its instance.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { resolveLimits } from '@cirrus/protocol';
import { tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createComponentRuntime, ExportedResource } from '../src/index.ts';
import type { ComponentPool, ComponentRuntime, PreparedComponent } from '../src/index.ts';

const COUNTERS = 'example:counter/counters';
const FIXTURE = fileURLToPath(
  new URL('../../testing/fixtures/counter-resource/build/counter-resource.wasm', import.meta.url),
);

interface Stats {
  live: number;
  created: number;
  dropped: number;
  instance: number;
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

/** The counter API over a pool, as the host drives it for an importing component. */
function counters(pool: ComponentPool) {
  const method = (self: ExportedResource, fn: string, ...args: unknown[]) =>
    pool.invokeResource(COUNTERS, { resource: 'counter', fn, self, args });
  return {
    create: async (start: number) => {
      const made = await pool.invokeResource(COUNTERS, {
        resource: 'counter',
        fn: '[constructor]',
        args: [start],
      });
      assert.ok(made instanceof ExportedResource);
      return made;
    },
    method,
    call: (fn: string, ...args: unknown[]) => pool.invoke(COUNTERS, fn, args),
    stats: async () => (await pool.invoke(COUNTERS, 'stats', [])) as Stats,
  };
}

describe('resources exported to other components', () => {
  let dir: TempDir;
  let runtime: ComponentRuntime;
  let component: PreparedComponent;

  before(async () => {
    dir = await tempDir();
    runtime = createComponentRuntime({
      cacheDir: join(dir.path, 'cache'),
      limits: resolveLimits({ invocationTimeoutMs: 5000, poolAcquireTimeoutMs: 5000, instanceMaxCalls: 4 }),
    });
    component = await runtime.load(FIXTURE, { allowFileLoad: true });
  });

  after(async () => {
    await runtime.close();
    await dir.remove();
  });

  it('constructs, calls methods and statics, lends with borrow and hands over with own', async () => {
    const pool = runtime.createPool(component, { componentId: 'counters', maxInstances: 1 });
    const api = counters(pool);
    const counter = await api.create(5);
    assert.equal(counter.interface, COUNTERS);
    assert.equal(counter.resource, 'counter');
    assert.equal(await api.method(counter, 'increment'), 6);
    assert.equal(await api.method(counter, 'get'), 6);
    assert.equal(await api.call('peek', counter), 6, 'borrowed for the call');
    assert.equal(await api.call('add', counter, 3), 9);
    assert.equal(await api.method(counter, 'get'), 9, 'a borrow leaves the counter with its holder');

    const fromStatic = await pool.invokeResource(COUNTERS, {
      resource: 'counter',
      fn: 'starting-at',
      args: [40],
    });
    const made = await api.call('make', 7);
    assert.ok(fromStatic instanceof ExportedResource && made instanceof ExportedResource);
    assert.equal(await api.method(fromStatic, 'increment'), 41);
    assert.equal(await api.method(made, 'increment'), 8);

    assert.equal(await api.call('consume', counter), 9);
    assert.equal(counter.live, false, 'own: the exporting component took it over');
    for (const again of [api.method(counter, 'get'), api.call('peek', counter)]) {
      await assert.rejects(again, (err) => {
        assert.equal(codeOf(err), 'RESOURCE_LOST');
        assert.match(
          String((err as Error).message),
          /counter \d+ of example:counter\/counters .*handed it over/,
        );
        return true;
      });
    }
    fromStatic[Symbol.dispose]();
    made[Symbol.dispose]();
    await pool.close();
  });

  it('drops the guest handle when the holder disposes it', async () => {
    const pool = runtime.createPool(component, { componentId: 'counters', maxInstances: 1 });
    const api = counters(pool);
    const before = await api.stats();
    const held = [await api.create(1), await api.create(2), (await api.call('make', 3)) as ExportedResource];
    assert.equal((await api.stats()).live, before.live + 3);
    for (const counter of held) counter[Symbol.dispose]();
    held[0]?.[Symbol.dispose](); // twice is harmless
    const after = await api.stats();
    assert.equal(after.live, before.live);
    assert.equal(after.dropped, before.dropped + 3);
    await assert.rejects(api.method(held[1] as ExportedResource, 'get'), /RESOURCE_LOST|it was dropped/);
    await pool.close();
  });

  it('runs every call on a counter in the instance that holds it, and keeps that instance from recycling', async () => {
    const pool = runtime.createPool(component, { componentId: 'counters', maxInstances: 3 });
    const api = counters(pool);
    const counter = await api.create(0);
    const home = await api.method(counter, 'where');
    // More calls than instanceMaxCalls (4), long enough for more instances and replacements to start,
    // side by side with calls any instance serves.
    const onCounter = Array.from({ length: 12 }, () => api.method(counter, 'hold', 80));
    const elsewhere = Array.from({ length: 12 }, () => api.stats());
    const places = await withDeadline(Promise.all(onCounter), 20_000, 'the calls on the counter');
    const served = new Set((await Promise.all(elsewhere)).map((s) => s.instance));
    assert.deepEqual(new Set(places), new Set([home]));
    await withDeadline(
      (async () => {
        while (pool.stats.starting > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      })(),
      20_000,
      'the pool to finish starting instances',
    );
    assert.ok(served.size > 1 || pool.stats.instances > 1, 'other instances served the other calls');
    assert.equal(await api.call('add', counter, 2), 2, 'the counter kept its count through it all');
    assert.equal(await api.method(counter, 'where'), home);
    counter[Symbol.dispose]();
    await pool.close();
  });

  it('ends the counters of an instance that traps with RESOURCE_LOST, and serves new ones', async () => {
    const pool = runtime.createPool(component, { componentId: 'counters', maxInstances: 1 });
    const api = counters(pool);
    const doomed = await api.create(1);
    const neighbour = await api.create(2);
    await assert.rejects(api.method(doomed, 'crash'), (err) => codeOf(err) === 'GUEST_TRAP');
    for (const lost of [api.method(neighbour, 'increment'), api.call('peek', doomed)]) {
      await assert.rejects(lost, (err) => {
        assert.equal(codeOf(err), 'RESOURCE_LOST');
        assert.match(String((err as Error).message), /instance that held it ended \(GUEST_TRAP/);
        return true;
      });
    }
    neighbour[Symbol.dispose]();
    const fresh = await api.create(10);
    assert.equal(await api.method(fresh, 'increment'), 11);
    assert.equal((await api.stats()).live, 1);
    await pool.close();
    await assert.rejects(api.method(fresh, 'get'), (err) => codeOf(err) === 'RESOURCE_LOST');
  });

  it("refuses another component's resource with RESOURCE_NOT_ROUTABLE", async () => {
    const first = runtime.createPool(component, { componentId: 'first', maxInstances: 1 });
    const second = runtime.createPool(component, { componentId: 'second', maxInstances: 1 });
    const counter = await counters(first).create(1);
    await assert.rejects(counters(second).call('peek', counter), (err) => {
      assert.equal(codeOf(err), 'RESOURCE_NOT_ROUTABLE');
      assert.match(String((err as Error).message), /example:counter\/counters#peek of component second/);
      return true;
    });
    await Promise.all([first.close(), second.close()]);
  });
});
