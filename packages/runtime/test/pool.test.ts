import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withDeadline } from '@cirrus/testing';
import { InstancePool } from '../src/pool.ts';
import type { PooledInstance } from '../src/pool.ts';

class FakeInstance implements PooledInstance {
  alive = true;
  #onExit: (() => void) | undefined;
  onExit(callback: () => void): void {
    this.#onExit = callback;
  }
  die(): void {
    this.alive = false;
    this.#onExit?.();
  }
  async terminate(): Promise<void> {
    this.die();
  }
}

function pool(options: {
  maxInstances: number;
  acquireTimeoutMs: number;
  startMs: number;
  maxCallsPerInstance?: number;
}) {
  const started: FakeInstance[] = [];
  const instances = new InstancePool<FakeInstance>({
    name: 'fake',
    maxInstances: options.maxInstances,
    minWarm: 0,
    acquireTimeoutMs: options.acquireTimeoutMs,
    startTimeoutMs: 5_000,
    maxWaiters: 10,
    maxCallsPerInstance: options.maxCallsPerInstance ?? 0,
    onStartError: () => undefined,
    start: async () => {
      await new Promise((resolve) => setTimeout(resolve, options.startMs));
      const instance = new FakeInstance();
      started.push(instance);
      return instance;
    },
  });
  return { instances, started };
}

describe('instance pool', () => {
  it('answers AT_CAPACITY after the acquire timeout when every instance stays busy', async () => {
    const { instances } = pool({ maxInstances: 1, acquireTimeoutMs: 50, startMs: 1 });
    await instances.acquire();
    const began = performance.now();
    await assert.rejects(instances.acquire(), { code: 'AT_CAPACITY' });
    assert.ok(performance.now() - began < 1_000);
    await instances.close();
  });

  it('lets a queued caller wait for the replacement of an instance that died', async () => {
    const { instances } = pool({ maxInstances: 1, acquireTimeoutMs: 50, startMs: 200 });
    const busy = await instances.acquire();
    const waiting = instances.acquire();
    busy.die();
    // The replacement takes 200 ms to start, four times the acquire timeout.
    const replacement = await withDeadline(waiting, 3_000, 'replacement instance');
    assert.notEqual(replacement, busy);
    assert.equal(replacement.alive, true);
    await instances.close();
  });

  it('hands a released instance to the longest waiting caller', async () => {
    const { instances } = pool({ maxInstances: 1, acquireTimeoutMs: 1_000, startMs: 1 });
    const first = await instances.acquire();
    const order: string[] = [];
    const a = instances.acquire().then((i) => (order.push('a'), i));
    const b = instances.acquire().then((i) => (order.push('b'), i));
    instances.release(first);
    instances.release(await a);
    await b;
    assert.deepEqual(order, ['a', 'b']);
    await instances.close();
  });

  it('replaces an instance after at most maxCallsPerInstance calls without leaving callers waiting', async () => {
    const recycling = pool({
      maxInstances: 1,
      acquireTimeoutMs: 1_000,
      startMs: 100,
      maxCallsPerInstance: 8,
    });
    const call = async (): Promise<{ instance: FakeInstance; waitedMs: number }> => {
      const began = performance.now();
      const instance = await recycling.instances.acquire();
      const waitedMs = performance.now() - began;
      recycling.instances.release(instance);
      return { instance, waitedMs };
    };
    const first = await call();
    let calls = 1;
    while (recycling.started.length < 2) {
      // Until its replacement has started, the first instance serves every call, at once.
      const next = await call();
      assert.equal(next.instance, first.instance);
      assert.ok(next.waitedMs < 50, `call ${calls + 1} waited ${next.waitedMs} ms`);
      calls++;
      if (calls > 8) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(calls < 100, 'the replacement started');
    }
    // Each instance's limit is the maximum less up to a quarter, so that they do not all restart at once.
    assert.ok(calls >= 6, `replaced after ${calls} calls, not before 6 (8 less a quarter)`);
    await withDeadline(
      (async () => {
        while (first.instance.alive) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      3_000,
      'the old instance to be retired',
    );
    const after = await call();
    assert.equal(after.instance, recycling.started[1]);
    assert.ok(after.waitedMs < 50, 'no call waited for the replacement');
    assert.equal(recycling.instances.stats.instances, 1);
    await recycling.instances.close();
  });

  it('terminates a replaced instance that was busy when its call ends', async () => {
    const { instances, started } = pool({
      maxInstances: 1,
      acquireTimeoutMs: 1_000,
      startMs: 50,
      maxCallsPerInstance: 1,
    });
    const first = await instances.acquire();
    instances.release(first);
    const busy = await instances.acquire();
    assert.equal(busy, first, 'it serves on while its replacement starts');
    await withDeadline(
      (async () => {
        while (started.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      3_000,
      'the replacement',
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(busy.alive, true, 'a busy instance is not cut off');
    instances.release(busy);
    assert.equal(busy.alive, false, 'it is terminated once its call ends');
    assert.equal((await instances.acquire()) === started[1], true);
    await instances.close();
  });
});
