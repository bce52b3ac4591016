/**
 * Links that route: the counter component's wasi:keyvalue imports reach the built-in key-value
 * provider on the same host in-process, and an import without a link fails at once with a typed
 * error while nothing goes out on the lattice.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice, Msg, Subscription } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { Link } from '@cirrus/protocol';
import { freePort, tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { WITH_BUILTINS } from './support.ts';

const COUNTER_WASM = fileURLToPath(new URL('../../../examples/counter/build/counter.wasm', import.meta.url));

function httpLink(target: string, config: string): Link {
  return {
    source_id: 'web',
    target,
    name: target,
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
    source_config: [config],
    target_config: [],
  };
}

async function get(port: number, path: string): Promise<{ status: number; body: string; ms: number }> {
  const began = performance.now();
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text(), ms: performance.now() - began };
}

describe('linked imports: counter → key-value provider', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;
  let port: number;
  const logs: string[] = [];

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      limits: resolveLimits({ maxInstances: 10 }),
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: (message, fields) => logs.push(JSON.stringify({ message, ...fields })),
        error: (message, fields) => logs.push(JSON.stringify({ message, ...fields })),
        child() {
          return this;
        },
      },
    });
    port = await freePort();
    await host.startProvider({ providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'kv' });
    await host.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' });
    await host.putConfig('kv-memory', { backend: 'memory' });
    await host.scaleComponent({ componentRef: COUNTER_WASM, componentId: 'counter', count: 2 });
    await host.putLink({
      source_id: 'counter',
      target: 'kv',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
      target_config: ['kv-memory'],
    });
    await host.putConfig('route-counter', { address: `127.0.0.1:${port}`, path: '/count' });
    await host.putLink(httpLink('counter', 'route-counter'));
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  it('counts visits per path in the key-value store, across instances', async () => {
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await get(port, '/count/a?n=1'));
    const b = await get(port, '/count/b');
    for (const reply of replies) assert.equal(reply.status, 200, reply.body);
    assert.match((replies.at(-1) as { body: string }).body, /^\/count\/a has been visited 5 time\(s\)\n/);
    assert.match(b.body, /^\/count\/b has been visited 1 time\(s\)\n/);
  });

  it('keeps counting right under concurrent requests (atomic increments)', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => get(port, '/count/c')));
    assert.ok(results.every((r) => r.status === 200));
    const counts = results.map((r) => Number(/visited (\d+) time/.exec(r.body)?.[1])).sort((x, y) => x - y);
    assert.deepEqual(
      counts,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
  });

  it('fails an import without a link at once with LINK_NOT_FOUND, naming the link, and sends nothing on the lattice', async () => {
    await host.scaleComponent({ componentRef: COUNTER_WASM, componentId: 'unlinked', count: 1 });
    await host.putConfig('route-unlinked', { address: `127.0.0.1:${port}`, path: '/unlinked' });
    await host.putLink(httpLink('unlinked', 'route-unlinked'));
    const spy = lattice.connect();
    const seen: Msg[] = [];
    const sub: Subscription = spy.subscribe('>', { callback: (msg) => seen.push(msg) });
    await spy.flush();
    try {
      const reply = await get(port, '/unlinked/x');
      assert.equal(reply.status, 500);
      assert.match(reply.body, /LINK_NOT_FOUND/);
      assert.ok(reply.ms < 50, `answered after ${Math.round(reply.ms)} ms`);
      assert.deepEqual(
        seen.map((m) => m.subject),
        [],
        'nothing was published while the call failed',
      );
    } finally {
      sub.unsubscribe();
    }
    const warnings = logs.filter((l) => l.includes('LINK_NOT_FOUND') || l.includes('import without a link'));
    assert.ok(
      warnings.some((l) => l.includes('wasi:keyvalue/store')),
      warnings.join('\n'),
    );
    assert.ok(
      logs.some((l) => l.includes('cirrus link put unlinked <target> wasi keyvalue --interface store')),
      logs.join('\n'),
    );
  });
});
