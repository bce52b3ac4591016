/**
 * A host asked to stop while workloads are still starting (Ctrl+C during `cirrus up`) ends with
 * nothing running: the starts in flight fail with HOST_STOPPED, every pool they created is closed,
 * every provider they started is shut down, and nothing is logged as started after `host stopped`.
 * Before, a component whose first instance was still warming came up 130 ms after `host stopped` and
 * kept the process alive forever.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { Logger } from '@cirrus/protocol';
import { createComponentRuntime } from '@cirrus/runtime';
import type { ComponentPool, ComponentRuntime } from '@cirrus/runtime';
import { tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost, createLogger } from '../src/index.ts';
import type { BuiltinProvider } from '@cirrus/provider-core';
import { WITH_BUILTINS } from './support.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

interface ObservedRuntime {
  runtime: ComponentRuntime;
  loads: number;
  pools: { closed: boolean }[];
}

/** A runtime that counts its loads and records whether each pool it creates was closed. */
function observedRuntime(inner: ComponentRuntime): ObservedRuntime {
  const observed: ObservedRuntime = {
    loads: 0,
    pools: [],
    runtime: {
      load: (ref, options) => {
        observed.loads++;
        return inner.load(ref, options);
      },
      createPool: (component, config): ComponentPool => {
        const pool = inner.createPool(component, config);
        const entry = { closed: false };
        observed.pools.push(entry);
        return Object.assign(Object.create(pool) as ComponentPool, {
          close: (drainMs?: number) => {
            entry.closed = true;
            return pool.close(drainMs);
          },
        });
      },
      standBy: () => inner.standBy(),
      get workerStats() {
        return inner.workerStats;
      },
      close: () => inner.close(),
    },
  };
  return observed;
}

function recordingLogger(lines: string[]): Logger {
  return createLogger({ format: 'json', level: 'debug', write: (line) => lines.push(line) });
}

function messages(lines: string[]): string[] {
  return lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
}

describe('stopping a host while workloads start', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let inner: ComponentRuntime;

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    inner = createComponentRuntime({ cacheDir: join(dir.path, 'cache') });
    // Warm the transpile cache so both phases below are reached quickly.
    await inner.load(HELLO_WASM, { allowFileLoad: true });
  });

  after(async () => {
    await inner.close();
    await lattice.close();
    await dir.remove();
  });

  for (const phase of ['while the component loads', 'while its first instance starts'] as const) {
    it(`fails the start with HOST_STOPPED and closes its pool when stopped ${phase}`, async () => {
      const lines: string[] = [];
      const observed = observedRuntime(inner);
      const host = await createHost({
        ...WITH_BUILTINS,
        lattice: lattice.connect(),
        runtime: observed.runtime,
        allowFileLoad: true,
        limits: resolveLimits({}),
        logger: recordingLogger(lines),
        heartbeatIntervalMs: 0,
      });
      const scale = host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'hello', count: 1 });
      const outcome = scale.then(
        () => 'started',
        (err: unknown) => codeOf(err),
      );
      if (phase === 'while the component loads') await waitFor(() => observed.loads > 0, 5000, 'the load');
      else await waitFor(() => observed.pools.length > 0, 10_000, 'the pool');
      await withDeadline(host.stop(), 10_000, 'the host to stop');
      assert.equal(await withDeadline(outcome, 10_000, 'the scale to settle'), 'HOST_STOPPED');
      for (const { closed } of observed.pools) assert.ok(closed, 'every pool the start created is closed');
      assert.deepEqual(host.inventory().components, []);
      const said = messages(lines);
      assert.ok(!said.includes('component started'), `nothing started: ${said.join(' | ')}`);
      assert.equal(said.at(-1), 'host stopped');
    });
  }

  it('shuts down a provider whose start finishes after the host stopped', async () => {
    let finishStart!: () => void;
    let shutdowns = 0;
    const slow: BuiltinProvider = {
      name: 'slow',
      start: async () => {
        await new Promise<void>((resolve) => (finishStart = resolve));
        return {
          shutdown: async () => {
            shutdowns++;
          },
        };
      },
    };
    const lines: string[] = [];
    const host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      runtime: inner,
      builtinProviders: { slow },
      logger: recordingLogger(lines),
      heartbeatIntervalMs: 0,
    });
    const start = host.startProvider({ providerRef: 'wasmcloud+builtin://slow', providerId: 'slow' }).then(
      () => 'started',
      (err: unknown) => codeOf(err),
    );
    await waitFor(() => finishStart !== undefined, 5000, 'the provider start');
    const stopped = host.stop();
    finishStart();
    await withDeadline(stopped, 5000, 'the host to stop');
    assert.equal(await start, 'HOST_STOPPED');
    assert.equal(shutdowns, 1);
    assert.deepEqual(host.inventory().providers, []);
    assert.ok(!messages(lines).includes('provider started'));
  });

  it('refuses new starts once stopping, with HOST_STOPPED', async () => {
    const host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      runtime: inner,
      heartbeatIntervalMs: 0,
    });
    await host.stop();
    await assert.rejects(
      host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'late', count: 1 }),
      (err) => codeOf(err) === 'HOST_STOPPED',
    );
  });
});
