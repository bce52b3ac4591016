/**
 * The host core on the embedded lattice: every change shows up as a 1.x CloudEvent with the exact
 * fields wasmCloud tools read, and shared state lands in the 1.x KV layout.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import { tempDir, take, waitFor } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import { EventLog, WITH_BUILTINS } from './support.ts';
import type { Host } from '../src/index.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

describe('host core', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let observer: LatticeConnection;
  let log: EventLog;
  let host: Host;

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    observer = lattice.connect();
    log = new EventLog(observer);
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      labels: { zone: 'test' },
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      limits: resolveLimits({ maxInstances: 50 }),
      heartbeatIntervalMs: 200,
    });
  });

  after(async () => {
    await host.stop();
    log.stop();
    await lattice.close();
    await dir.remove();
  });

  it('announces itself with host_started: source is its N… key, version is semver', async () => {
    const started = await log.next('host_started');
    assert.match(host.id, /^N[A-Z2-7]{55}$/);
    assert.equal(started.source, host.id);
    assert.equal(started.specversion, '1.0');
    assert.equal(started.datacontenttype, 'application/json');
    assert.ok(!Number.isNaN(Date.parse(started.time)));
    assert.deepEqual(Object.keys(started.data).sort(), [
      'friendly_name',
      'labels',
      'uptime_seconds',
      'version',
    ]);
    assert.match(String(started.data['version']), SEMVER);
    const labels = started.data['labels'] as Record<string, string>;
    assert.equal(labels['zone'], 'test');
    for (const key of ['hostcore.os', 'hostcore.arch', 'hostcore.osfamily']) assert.ok(labels[key], key);
  });

  it('sends heartbeats whose payload is the inventory', async () => {
    const beat = await log.next('host_heartbeat');
    assert.deepEqual(Object.keys(beat.data).sort(), [
      'components',
      'friendly_name',
      'host_id',
      'labels',
      'providers',
      'uptime_human',
      'uptime_seconds',
      'version',
    ]);
    assert.equal(beat.data['host_id'], host.id);
  });

  it('scales a component up and down with component_scaled carrying the exact 1.x fields', async () => {
    const mark = log.mark;
    await host.scaleComponent({
      componentRef: HELLO_WASM,
      componentId: 'hello',
      count: 3,
      annotations: { 'wasmcloud.dev/appspec': 'demo' },
    });
    const up = await log.next('component_scaled', mark);
    assert.deepEqual(up.data, {
      annotations: { 'wasmcloud.dev/appspec': 'demo' },
      host_id: host.id,
      image_ref: HELLO_WASM,
      max_instances: 3,
      component_id: 'hello',
    });
    const inventory = host.inventory();
    assert.deepEqual(inventory.components, [
      {
        id: 'hello',
        image_ref: HELLO_WASM,
        annotations: { 'wasmcloud.dev/appspec': 'demo' },
        revision: 0,
        max_instances: 3,
        limits: null,
      },
    ]);

    const rescaled = log.mark;
    await host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'hello', count: 5 });
    assert.equal((await log.next('component_scaled', rescaled)).data['max_instances'], 5);

    const down = log.mark;
    await host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'hello', count: 0 });
    assert.equal((await log.next('component_scaled', down)).data['max_instances'], 0);
    assert.deepEqual(host.inventory().components, []);

    const noop = log.mark;
    await host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'never-ran', count: 0 });
    assert.equal((await log.next('component_scaled', noop)).data['component_id'], 'never-ran');
  });

  it('reports a component that cannot start with component_scale_failed and a typed error', async () => {
    const mark = log.mark;
    const missing = join(dir.path, 'missing.wasm');
    await assert.rejects(
      host.scaleComponent({ componentRef: missing, componentId: 'broken', count: 1 }),
      (err) => codeOf(err) === 'ARTIFACT_NOT_FOUND',
    );
    const failed = await log.next('component_scale_failed', mark);
    assert.equal(failed.data['component_id'], 'broken');
    assert.equal(failed.data['max_instances'], 1);
    assert.equal(failed.data['image_ref'], missing);
    assert.match(String(failed.data['error']), /^ARTIFACT_NOT_FOUND: /);
  });

  it('rejects bad scale input with INVALID_ARGUMENT / INVALID_ID and starts nothing', async () => {
    for (const count of [-1, 1.5, 51, Number.NaN]) {
      await assert.rejects(
        host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'x', count }),
        (err) => codeOf(err) === 'INVALID_ARGUMENT',
        String(count),
      );
    }
    for (const id of ['a.b', 'a*', 'a>', 'a b', '']) {
      await assert.rejects(
        host.scaleComponent({ componentRef: HELLO_WASM, componentId: id, count: 1 }),
        (err) => codeOf(err) === 'INVALID_ID',
        id,
      );
    }
    assert.deepEqual(host.inventory().components, []);
  });

  it('stores named config in CONFIGDATA and reports config_set / config_deleted', async () => {
    const mark = log.mark;
    await host.putConfig('greeting', { GREETING: 'hi' });
    assert.deepEqual((await log.next('config_set', mark)).data, { config_name: 'greeting' });
    const bucket = await observer.kv('CONFIGDATA_default');
    assert.deepEqual((await bucket.get('greeting'))?.json(), { GREETING: 'hi' });
    assert.deepEqual(await host.getConfig('greeting'), { GREETING: 'hi' });
    await assert.rejects(host.putConfig('bad', { n: 1 }), (err) => codeOf(err) === 'INVALID_ARGUMENT');
    const del = log.mark;
    await host.deleteConfig('greeting');
    assert.deepEqual((await log.next('config_deleted', del)).data, { config_name: 'greeting' });
    assert.equal(await host.getConfig('greeting'), undefined);
  });

  it('stores links in the source component spec and reports linkdef_set / linkdef_deleted', async () => {
    await host.putConfig('kv-url', { url: 'redis://127.0.0.1' });
    const link = {
      source_id: 'app-web',
      target: 'app-kv',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
      target_config: ['kv-url'],
    };
    const mark = log.mark;
    await host.putLink(link);
    const full = { ...link, name: 'default', source_config: [] };
    assert.deepEqual((await log.next('linkdef_set', mark)).data, full);
    const data = await observer.kv('LATTICEDATA_default');
    assert.deepEqual((await data.get('COMPONENT_app-web'))?.json(), { url: '', links: [full] });
    assert.deepEqual(host.links(), [full]);

    const conflict = log.mark;
    await assert.rejects(
      host.putLink({ ...link, target: 'other-kv' }),
      (err) => codeOf(err) === 'LINK_CONFLICT',
    );
    const failed = await log.next('linkdef_set_failed', conflict);
    assert.match(String(failed.data['error']), /^LINK_CONFLICT/);

    await assert.rejects(
      host.putLink({ ...link, name: 'cache', target_config: ['nope'] }),
      (err) => codeOf(err) === 'CONFIG_NOT_FOUND',
    );
    await assert.rejects(host.putLink({ ...link, source_id: 'a.b' }), (err) => codeOf(err) === 'INVALID_ID');

    const del = log.mark;
    await host.deleteLink({ source_id: 'app-web', wit_namespace: 'wasi', wit_package: 'keyvalue' });
    assert.deepEqual((await log.next('linkdef_deleted', del)).data, {
      source_id: 'app-web',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      target: 'app-kv',
      interfaces: ['store', 'atomics'],
    });
    assert.deepEqual(host.links(), []);

    const none = log.mark;
    await host.deleteLink({ source_id: 'no-such-source', wit_namespace: 'wasi', wit_package: 'keyvalue' });
    await assert.rejects(
      log.next('linkdef_deleted', none, (e) => e.data['source_id'] === 'no-such-source', 200),
    );
  });

  it('lets another host on the lattice route by links it did not handle (KV watch)', async () => {
    const other = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      heartbeatIntervalMs: 0,
    });
    try {
      await host.putLink({
        source_id: 'edge',
        target: 'api',
        wit_namespace: 'acme',
        wit_package: 'greeter',
        interfaces: ['greet'],
      });
      await waitFor(
        () => other.links().some((l) => l.source_id === 'edge'),
        2000,
        'the link on the other host',
      );
    } finally {
      await other.stop();
    }
  });

  it('changes labels with labels_changed and refuses hostcore.* keys', async () => {
    const mark = log.mark;
    host.putLabel('region', 'eu');
    const changed = await log.next('labels_changed', mark);
    assert.equal(changed.data['host_id'], host.id);
    assert.equal((changed.data['labels'] as Record<string, string>)['region'], 'eu');
    assert.equal(host.deleteLabel('region'), true);
    assert.equal(host.deleteLabel('region'), false);
    assert.throws(
      () => host.putLabel('hostcore.os', 'x'),
      (err) => codeOf(err) === 'INVALID_LABEL',
    );
    assert.throws(
      () => host.putLabel('bad key', 'x'),
      (err) => codeOf(err) === 'INVALID_LABEL',
    );
  });

  it('starts and stops built-in providers with provider_started / provider_stopped', async () => {
    const mark = log.mark;
    await host.startProvider({
      providerRef: 'wasmcloud+builtin://http-server',
      providerId: 'web',
      annotations: { a: 'b' },
    });
    assert.deepEqual((await log.next('provider_started', mark)).data, {
      host_id: host.id,
      image_ref: 'wasmcloud+builtin://http-server',
      provider_id: 'web',
      annotations: { a: 'b' },
    });
    assert.deepEqual(host.inventory().providers, [
      {
        id: 'web',
        image_ref: 'wasmcloud+builtin://http-server',
        name: 'HTTP Server',
        annotations: { a: 'b' },
        revision: 0,
      },
    ]);
    await assert.rejects(
      host.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' }),
      (err) => codeOf(err) === 'PROVIDER_ALREADY_RUNNING',
    );
    const stop = log.mark;
    await host.stopProvider('web');
    const stopped = await log.next('provider_stopped', stop);
    assert.equal(stopped.data['provider_id'], 'web');
    assert.equal(stopped.data['reason'], 'stop');
    await assert.rejects(host.stopProvider('web'), (err) => codeOf(err) === 'PROVIDER_NOT_RUNNING');
  });

  it('accepts the published wasmCloud http-server image as the built-in', async () => {
    await host.startProvider({ providerRef: 'ghcr.io/wasmcloud/http-server:0.23.0', providerId: 'compat' });
    assert.equal(host.inventory().providers.find((p) => p.id === 'compat')?.name, 'HTTP Server');
    await host.stopProvider('compat');
  });

  it('fails an unknown provider with provider_start_failed', async () => {
    const mark = log.mark;
    await assert.rejects(
      host.startProvider({ providerRef: 'wasmcloud+builtin://teleporter', providerId: 'tp' }),
      (err) => codeOf(err) === 'UNKNOWN_PROVIDER',
    );
    const failed = await log.next('provider_start_failed', mark);
    assert.deepEqual(Object.keys(failed.data).sort(), [
      'error',
      'host_id',
      'link_name',
      'provider_id',
      'provider_ref',
    ]);
    await assert.rejects(
      host.startProvider({ providerRef: 'ghcr.io/acme/thing:1.0', providerId: 'oci' }),
      (err) => codeOf(err) === 'UNSUPPORTED_REFERENCE',
    );
  });

  it('stops with host_stopped and refuses work afterwards', async () => {
    const second = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      heartbeatIntervalMs: 0,
    });
    const mark = log.mark;
    await second.stop();
    const stopped = await log.next('host_stopped', mark, (e) => e.source === second.id);
    assert.deepEqual(Object.keys(stopped.data), ['labels']);
    await assert.rejects(second.putConfig('x', {}), (err) => codeOf(err) === 'HOST_STOPPED');
    await second.stopped;
  });

  it('publishes each event once on wasmbus.evt.<lattice>.<name>', async () => {
    const sub = observer.subscribe('wasmbus.evt.default.config_set');
    await host.putConfig('once', { a: '1' });
    const [msg] = await take(sub, 1, 2000, 'config_set message');
    assert.equal(msg?.subject, 'wasmbus.evt.default.config_set');
    sub.unsubscribe();
  });
});
