/**
 * The call path's routing of a component's imports on its own: link lookup by namespace, package,
 * interface and link name, the link name a component picks with wasmcloud:bus/lattice (for the rest
 * of its current call), and the typed error when no link matches.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { DEFAULT_LIMITS, silentLogger } from '@cirrus/protocol';
import type { Link } from '@cirrus/protocol';
import { HostResource } from '@cirrus/runtime';
import type { ImportCall, ImportHandler } from '@cirrus/runtime';
import type { ImportSource } from '@cirrus/provider-core';
import { CallPath } from '../src/calls.ts';
import { HostMetricsRecorder } from '../src/metrics.ts';
import { LatticeState } from '../src/lattice-state.ts';
import { LocalTargets } from '../src/local-targets.ts';

function kvLink(target: string, name: string): Link {
  return {
    source_id: 'app',
    target,
    name,
    wit_namespace: 'wasi',
    wit_package: 'keyvalue',
    interfaces: ['store'],
    source_config: [],
    target_config: [],
  };
}

describe('import routing', () => {
  let lattice: MemoryLattice;
  let state: LatticeState;
  let handler: ImportHandler;
  const served: string[] = [];

  const open = (invocation: number): ImportCall => ({
    interface: 'wasi:keyvalue/store',
    fn: 'open',
    args: ['b'],
    invocation,
  });

  before(async () => {
    lattice = createMemoryLattice();
    state = await LatticeState.open(lattice.connect(), 'default', silentLogger);
    for (const link of [kvLink('cache-kv', 'default'), kvLink('secrets-kv', 'secrets')]) {
      await (
        await state.putLink(link)
      ).applied;
    }
    const targets = new LocalTargets();
    for (const id of ['cache-kv', 'secrets-kv']) {
      targets.providers.set(id, {
        id,
        ref: 'test',
        name: 'test',
        annotations: {},
        config: [],
        unserve: () => undefined,
        provider: {
          exports: {
            'wasi:keyvalue/store': {
              open: (source: ImportSource) => {
                served.push(`${id}:open:${source.linkName}`);
                return 'ok';
              },
            },
          },
          shutdown: async () => undefined,
        },
      });
    }
    const connection = lattice.connect();
    const router = new CallPath({
      state,
      targets,
      policy: undefined,
      bindings: [],
      wire: { connection, lattice: 'default', limits: DEFAULT_LIMITS, logger: silentLogger },
      metrics: new HostMetricsRecorder({
        hostId: 'NHOST',
        components: targets.components,
        connections: [connection],
        now: Date.now,
      }),
    });
    handler = router.importsOf('app');
  });

  after(async () => {
    state.close();
    await lattice.close();
  });

  it('routes through the default link', async () => {
    served.length = 0;
    await handler(open(1));
    assert.deepEqual(served, ['cache-kv:open:default']);
  });

  it('routes through the link name chosen with wasmcloud:bus/lattice, for that call only', async () => {
    served.length = 0;
    const target = (await handler({
      interface: 'wasmcloud:bus/lattice',
      resource: 'call-target-interface',
      fn: '[constructor]',
      args: ['wasi', 'keyvalue', 'store'],
      invocation: 2,
    })) as HostResource;
    assert.ok(target instanceof HostResource);
    await handler({
      interface: 'wasmcloud:bus/lattice',
      fn: 'set-link-name',
      args: ['secrets', [target.value]],
      invocation: 2,
    });
    await handler(open(2));
    await handler(open(3));
    assert.deepEqual(served, ['secrets-kv:open:secrets', 'cache-kv:open:default']);
  });

  it('fails with LINK_NOT_FOUND naming the link name and the command that adds it', async () => {
    const target = (await handler({
      interface: 'wasmcloud:bus/lattice',
      resource: 'call-target-interface',
      fn: '[constructor]',
      args: ['wasi', 'keyvalue', 'store'],
      invocation: 4,
    })) as HostResource;
    await handler({
      interface: 'wasmcloud:bus/lattice',
      fn: 'set-link-name',
      args: ['other', [target.value]],
      invocation: 4,
    });
    await assert.rejects(handler(open(4)), (err: Error & { code?: string; hint?: string }) => {
      assert.equal(err.code, 'LINK_NOT_FOUND');
      assert.match(err.message, /app has no link for wasi:keyvalue\/store \(link name "other"\)/);
      assert.equal(
        err.hint,
        'add one: cirrus link put app <target> wasi keyvalue --interface store --name other',
      );
      return true;
    });
  });
});
