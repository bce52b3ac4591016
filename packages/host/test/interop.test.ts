/**
 * The published wasmCloud client `@wasmcloud/lattice-client-core` (0.2.3, nats.ws over the server's
 * websocket listener) drives a Cirrus host on a real nats-server, unchanged. Its known quirks are
 * part of the test: the scale count sent as `max_instances`, `provider.start` without a host id in
 * the subject, and the link name of a delete sent as `link_name`.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { LatticeClient } from '@wasmcloud/lattice-client-core';
import type { Msg, Subscription } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import type { CloudEvent } from '@cirrus/protocol';
import { startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { WITH_BUILTINS } from './support.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const EVENT_MS = 15_000;
const CLIENT_MS = 10_000;

type Event = CloudEvent<Record<string, unknown>>;

describe('@wasmcloud/lattice-client-core 0.2.3 against a Cirrus host', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let hostConnection: NatsLatticeConnection;
  let observer: NatsLatticeConnection;
  let events: Event[];
  let subscription: Subscription;
  let host: Host;
  let client: LatticeClient;

  const nextEvent = (type: string, mark: number, predicate: (e: Event) => boolean): Promise<Event> =>
    waitFor(
      () => events.slice(mark).find((e) => e.type === `com.wasmcloud.lattice.${type}` && predicate(e)),
      EVENT_MS,
      `event ${type}`,
    );

  /** Every client call gets a deadline: the client itself retries connections without one. */
  const call = <T>(promise: Promise<T>, what: string): Promise<T> => withDeadline(promise, CLIENT_MS, what);

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    hostConnection = await connectNats({ servers: nats.url, name: 'cirrus-host' });
    observer = await connectNats({ servers: nats.url, name: 'observer' });
    events = [];
    subscription = observer.subscribe('wasmbus.evt.default.>', {
      callback: (msg: Msg) => events.push(msg.json<Event>()),
    });
    await observer.flush();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: hostConnection,
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      labels: { zone: 'interop' },
    });
    client = new LatticeClient({ config: { latticeUrl: nats.wsUrl, latticeId: 'default', retryCount: 30 } });
  });

  after(async () => {
    // 0.2.3 opens two websocket connections (both of its constructors call connect) and drains only
    // one; the other retries for ~20 s once the server is gone, which delays this file's exit.
    await client?.instance.disconnect().catch(() => undefined);
    await host?.stop();
    subscription?.unsubscribe();
    await observer?.close();
    await hostConnection?.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('hosts.get returns the inventory', async () => {
    const reply = await call(client.hosts.get(host.id), 'hosts.get');
    assert.equal(reply.success, true);
    const inventory = reply.response as unknown as Record<string, unknown>;
    assert.equal(inventory['host_id'], host.id);
    assert.equal(inventory['friendly_name'], host.friendlyName);
    assert.equal((inventory['labels'] as Record<string, string>)['zone'], 'interop');
  });

  it('configs.put / get / delete', async () => {
    const put = await call(client.configs.put('interop-config', { greeting: 'hi' }), 'configs.put');
    assert.equal(put.success, true, put.message);
    const got = await call(client.configs.get('interop-config'), 'configs.get');
    assert.deepEqual(got.response, { greeting: 'hi' });
    const deleted = await call(client.configs.delete('interop-config'), 'configs.delete');
    assert.equal(deleted.success, true, deleted.message);
    const gone = await call(client.configs.get('interop-config'), 'configs.get after delete');
    assert.equal(gone.success, true);
    assert.equal(gone.response, undefined);
  });

  it('links.put / list / delete, including a named link deleted by link_name', async () => {
    for (const name of ['default', 'cache']) {
      const put = await call(
        client.links.put({
          source_id: 'interop-source',
          target: 'interop-target',
          name,
          wit_namespace: 'wasi',
          wit_package: 'keyvalue',
          interfaces: ['store'],
        }),
        'links.put',
      );
      assert.equal(put.success, true, put.message);
    }
    const listed = await call(client.links.list(), 'links.list');
    assert.deepEqual(listed.response.map((l) => l.name).sort(), ['cache', 'default']);

    const deleted = await call(
      client.links.delete({
        source_id: 'interop-source',
        link_name: 'cache',
        wit_namespace: 'wasi',
        wit_package: 'keyvalue',
      }),
      'links.delete',
    );
    assert.equal(deleted.success, true, deleted.message);
    const after = await call(client.links.list(), 'links.list after delete');
    assert.deepEqual(
      after.response.map((l) => l.name),
      ['default'],
    );
  });

  it('components.scale with max_instances scales the component (not to zero)', async () => {
    const mark = events.length;
    const ack = await call(
      client.components.scale({
        host_id: host.id,
        component_ref: HELLO_WASM,
        component_id: 'interop-hello',
        max_instances: 2,
        annotations: { from: 'lattice-client-core' },
        config: [],
      }),
      'components.scale',
    );
    assert.equal(ack.success, true, ack.message);
    const scaled = await nextEvent(
      'component_scaled',
      mark,
      (e) => e.data['component_id'] === 'interop-hello',
    );
    assert.equal(scaled.data['max_instances'], 2);
    assert.equal(scaled.source, host.id);
    const described = host.inventory().components.find((c) => c.id === 'interop-hello');
    assert.equal(described?.max_instances, 2);
  });

  it('providers.start (no host id in the subject) starts the provider on the named host', async () => {
    const mark = events.length;
    const ack = await call(
      client.providers.start({
        host_id: host.id,
        provider_ref: 'wasmcloud+builtin://http-server',
        provider_id: 'interop-http',
        annotations: {},
      }),
      'providers.start',
    );
    assert.equal(ack.success, true, ack.message);
    const started = await nextEvent(
      'provider_started',
      mark,
      (e) => e.data['provider_id'] === 'interop-http',
    );
    assert.equal(started.source, host.id);
    assert.ok(host.inventory().providers.some((p) => p.id === 'interop-http'));
  });
});
