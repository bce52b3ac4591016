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

function pool(options: { maxInstances: number; acquireTimeoutMs: number; startMs: number }) {
  const started: FakeInstance[] = [];
  const instances = new InstancePool<FakeInstance>({
    name: 'fake',
    maxInstances: options.maxInstances,
    minWarm: 0,
    acquireTimeoutMs: options.acquireTimeoutMs,
    startTimeoutMs: 5_000,
    maxWaiters: 10,
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
});
