/**
 * A link across hosts: the counter component and the HTTP server on host A, the key-value provider on
 * host B, one nats-server. The component's wasi:keyvalue calls travel as wRPC
 * (`wrpc:keyvalue/{store,atomics}@0.2.0-draft`) and the counts are right.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Msg, Subscription } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { resolveLimits } from '@cirrus/protocol';
import { freePort, startNatsServer, tempDir } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import type { HostResource } from '@cirrus/runtime';
import type { ImportCall } from '@cirrus/runtime';
import { hostOnNats, httpGet as get, routeHttp } from './support.ts';
import { keyValueBinding } from '@cirrus/provider-keyvalue';

const remoteKeyValue = keyValueBinding.invoke.bind(keyValueBinding);
import type { Host } from '../src/index.ts';

const COUNTER_WASM = fileURLToPath(new URL('../../../examples/counter/build/counter.wasm', import.meta.url));

describe('wasi:keyvalue across hosts over wRPC', () => {
  let dir: TempDir;
  let nats: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  let a: Host;
  let b: Host;
  let port: number;

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    const cache = join(dir.path, 'cache');
    const started = [await hostOnNats(nats.url, 'a', cache), await hostOnNats(nats.url, 'b', cache)];
    connections.push(...started.map((s) => s.connection));
    [a, b] = started.map((s) => s.host) as [Host, Host];
    port = await freePort();
    await b.startProvider({ providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'kv' });
    await a.scaleComponent({ componentRef: COUNTER_WASM, componentId: 'counter', count: 2 });
    await a.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' });
    await a.putConfig('kv-memory', { backend: 'memory' });
    await a.putLink({
      source_id: 'counter',
      target: 'kv',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
      target_config: ['kv-memory'],
    });
    await routeHttp(a, 'counter', port);
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await Promise.all(connections.map((c) => c.close()));
    await nats?.stop();
    await dir?.remove();
  });

  it('counts through the provider on the other host, with the calls on the lattice as wRPC', async () => {
    const spy = await connectNats({ servers: nats.url, name: 'spy' });
    const subjects: string[] = [];
    const sub: Subscription = spy.subscribe('default.kv.wrpc.>', {
      callback: (m: Msg) => subjects.push(m.subject),
    });
    await spy.flush();
    try {
      const replies = [];
      for (let i = 0; i < 3; i++) replies.push(await get(port, '/a'));
      const concurrent = await Promise.all(Array.from({ length: 10 }, () => get(port, '/b')));
      assert.ok(
        [...replies, ...concurrent].every((r) => r.status === 200),
        JSON.stringify(replies[0]),
      );
      assert.match(replies[2]?.body ?? '', /^\/a has been visited 3 time\(s\)/);
      const counts = concurrent.map((r) => Number(/visited (\d+)/.exec(r.body)?.[1])).sort((x, y) => x - y);
      assert.deepEqual(
        counts,
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      await spy.flush();
      assert.ok(
        subjects.every((s) => s === 'default.kv.wrpc.0.0.1.wrpc:keyvalue/atomics@0.2.0-draft.increment'),
        subjects.join('\n'),
      );
      assert.equal(subjects.length, 13, 'one wRPC invocation per request');
    } finally {
      sub.unsubscribe();
      await spy.close();
    }
  });

  it('serves every store, atomics and batch operation across hosts, only to linked components', async () => {
    await a.putLink({
      source_id: 'caller',
      target: 'kv',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics', 'batch'],
    });
    const client = await connectNats({ servers: nats.url, name: 'caller' });
    const remote = { connection: client, lattice: 'default', limits: resolveLimits() };
    const call = (c: Omit<ImportCall, 'invocation'>, sourceId = 'caller'): Promise<unknown> =>
      remoteKeyValue(remote, 'kv', { ...c, invocation: 1 }, { sourceId, linkName: 'default' });
    const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
    try {
      const opened = (await call({ interface: 'wasi:keyvalue/store', fn: 'open', args: ['remote'] })) as {
        val: HostResource;
      };
      const bucket = opened.val.value;
      const method = (fn: string, ...args: unknown[]): Promise<unknown> =>
        call({ interface: 'wasi:keyvalue/store', resource: 'bucket', self: bucket, fn, args });
      assert.deepEqual(await method('set', 'k1', bytes('v1')), { tag: 'ok', val: undefined });
      assert.deepEqual(await method('get', 'k1'), { tag: 'ok', val: bytes('v1') });
      assert.deepEqual(await method('exists', 'nope'), { tag: 'ok', val: false });
      const batch = (fn: string, ...args: unknown[]): Promise<unknown> =>
        call({ interface: 'wasi:keyvalue/batch', fn, args: [bucket, ...args] });
      await batch('set-many', [
        ['k2', bytes('v2')],
        ['k3', bytes('v3')],
      ]);
      assert.deepEqual(await batch('get-many', ['k2', 'missing']), {
        tag: 'ok',
        val: [['k2', bytes('v2')], undefined],
      });
      await batch('delete-many', ['k2']);
      const listed = (await method('list-keys', undefined)) as { val: { keys: string[] } };
      assert.deepEqual(listed.val.keys.sort(), ['k1', 'k3']);
      assert.deepEqual(
        await call({ interface: 'wasi:keyvalue/atomics', fn: 'increment', args: [bucket, 'n', 5n] }),
        { tag: 'ok', val: 5n },
      );
      assert.deepEqual(
        await call(
          { interface: 'wasi:keyvalue/store', resource: 'bucket', self: bucket, fn: 'get', args: ['k1'] },
          'stranger',
        ),
        { tag: 'err', val: { tag: 'access-denied' } },
        'a component without a link to the provider is refused',
      );
    } finally {
      await client.close();
    }
  });
});
