/**
 * The wasmCloud 1.x control interface of Cirrus hosts, driven the way wash, wadm and
 * lattice-client-core drive it: raw requests on `wasmbus.ctl.v1.<lattice>.…` against several hosts on
 * one in-memory lattice. Signals: the exact reply envelopes (JSON text where field presence matters),
 * the CloudEvents that report outcomes, and shared state seen from the other host.
 */
import assert from 'node:assert/strict';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice, encodeJson, encodeText } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { CtlResponse, HostInfo, HostInventory, Link, Logger, LogFields } from '@cirrus/protocol';
import { tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import { EventLog } from './support.ts';
import type { Host, HostOptions } from '../src/index.ts';
import type { BuiltinProvider } from '@cirrus/provider-core';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const P = 'wasmbus.ctl.v1.default';
const REQUEST_MS = 2000;
const EVENT_MS = 10_000;
/** Scatter/gather window: long enough for every in-memory host to answer. */
const GATHER_MS = 300;

type Reply = CtlResponse<unknown>;

/** Records every log line (with the fields of its children) so tests can check what was logged. */
function recordingLogger(lines: string[], fields: LogFields = {}): Logger {
  const record =
    (level: string) =>
    (message: string, more: LogFields = {}): void => {
      lines.push(JSON.stringify({ level, message, ...fields, ...more }));
    };
  return {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    child: (more) => recordingLogger(lines, { ...fields, ...more }),
  };
}

/** A built-in provider whose start waits for `gate` (released by default). */
function testProvider(gate: () => Promise<void> = () => Promise.resolve()): BuiltinProvider {
  return {
    name: 'Test Provider',
    async start() {
      await gate();
      return { shutdown: () => Promise.resolve() };
    },
  };
}

describe('control interface (wasmCloud 1.x)', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let client: LatticeConnection;
  let log: EventLog;
  let a: Host;
  let b: Host;
  const logLines: string[] = [];
  let releaseSlow: () => void = () => undefined;
  const slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));

  const options = (extra: Partial<HostOptions>): HostOptions => ({
    lattice: lattice.connect(),
    cacheDir: join(dir.path, 'cache'),
    allowFileLoad: true,
    heartbeatIntervalMs: 0,
    limits: resolveLimits({ maxInstances: 100 }),
    builtinProviders: { test: testProvider(), slow: testProvider(() => slowGate) },
    ...extra,
  });

  /** One request/reply, decoded; `body` is sent as JSON unless it is already bytes or a string. */
  async function request(subject: string, body?: unknown): Promise<Reply> {
    const msg = await client.request(subject, encodeBody(body), { timeoutMs: REQUEST_MS });
    return msg.json<Reply>();
  }

  async function requestRaw(subject: string, body?: unknown): Promise<string> {
    return (await client.request(subject, encodeBody(body), { timeoutMs: REQUEST_MS })).string();
  }

  /** Scatter/gather: every reply that arrives within the window. */
  async function gather(subject: string, body?: unknown): Promise<Reply[]> {
    const replies: Reply[] = [];
    for await (const msg of client.requestMany(subject, encodeBody(body), { maxWaitMs: GATHER_MS })) {
      replies.push(msg.json<Reply>());
    }
    return replies;
  }

  function encodeBody(body: unknown): Uint8Array | undefined {
    if (body === undefined) return undefined;
    if (body instanceof Uint8Array) return body;
    return typeof body === 'string' ? encodeText(body) : encodeJson(body);
  }

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    client = lattice.connect();
    log = new EventLog(client);
    a = await createHost(options({ labels: { zone: 'a' }, logger: recordingLogger(logLines) }));
    b = await createHost(options({ labels: { zone: 'b' } }));
  });

  after(async () => {
    releaseSlow();
    await Promise.all([a.stop(), b.stop()]);
    log.stop();
    await lattice.close();
    await dir.remove();
  });

  it('answers host.get right after createHost resolves (subscriptions are live)', async () => {
    const fresh = await createHost(options({}));
    try {
      const reply = await request(`${P}.host.get.${fresh.id}`);
      assert.equal(reply.success, true);
      assert.equal((reply.response as HostInventory).host_id, fresh.id);
    } finally {
      await fresh.stop();
    }
  });

  it('host.ping gathers one HostInfo per host', async () => {
    const replies = await gather(`${P}.host.ping`);
    const infos = replies.map((r) => r.response as HostInfo);
    assert.deepEqual(infos.map((i) => i.id).sort(), [a.id, b.id].sort());
    for (const reply of replies) {
      assert.equal(reply.success, true);
      assert.equal(reply.message, '');
      const info = reply.response as HostInfo;
      assert.deepEqual(Object.keys(info).sort(), [
        'friendly_name',
        'id',
        'labels',
        'lattice',
        'uptime_human',
        'uptime_seconds',
        'version',
      ]);
      assert.equal(info.lattice, 'default');
      assert.equal(info.labels['hostcore.os'] !== undefined, true);
    }
    assert.equal(infos.find((i) => i.id === a.id)?.labels['zone'], 'a');
  });

  it('host.get.<host> returns that host inventory, with an empty body', async () => {
    const reply = await request(`${P}.host.get.${b.id}`);
    assert.equal(reply.success, true);
    const inventory = reply.response as HostInventory;
    assert.equal(inventory.host_id, b.id);
    assert.equal(inventory.friendly_name, b.friendlyName);
    assert.deepEqual(inventory.components, []);
    assert.deepEqual(Object.keys(inventory).sort(), [
      'components',
      'friendly_name',
      'host_id',
      'labels',
      'providers',
      'uptime_human',
      'uptime_seconds',
      'version',
    ]);
  });

  it('label.put / label.del reply with the 1.x messages and publish labels_changed', async () => {
    const mark = log.mark;
    assert.equal(
      await requestRaw(`${P}.label.put.${a.id}`, { key: 'region', value: 'eu' }),
      '{"success":true,"message":"successfully put label"}',
    );
    const changed = await log.next('labels_changed', mark, (e) => e.source === a.id);
    assert.equal(changed.data['host_id'], a.id);
    assert.equal((changed.data['labels'] as Record<string, string>)['region'], 'eu');
    assert.equal(a.labels()['region'], 'eu');

    const del = log.mark;
    assert.deepEqual(await request(`${P}.label.del.${a.id}`, { key: 'region' }), {
      success: true,
      message: 'successfully deleted label',
    });
    const removed = await log.next('labels_changed', del, (e) => e.source === a.id);
    assert.equal((removed.data['labels'] as Record<string, string>)['region'], undefined);

    const again = log.mark;
    assert.deepEqual(await request(`${P}.label.del.${a.id}`, { key: 'region' }), {
      success: true,
      message: 'successfully deleted label (no such label)',
    });
    // Another request round-trip, so a wrongly published event would have arrived by now.
    await request(`${P}.host.get.${a.id}`);
    assert.deepEqual(log.since(again, 'labels_changed'), []);

    const reserved = await request(`${P}.label.put.${a.id}`, { key: 'hostcore.os', value: 'x' });
    assert.equal(reserved.success, false);
    assert.match(reserved.message, /^INVALID_LABEL: label hostcore\.os is reserved/);
  });

  it('link.put through one host is served by link.get and routed by every host (KV watch)', async () => {
    assert.deepEqual(await request(`${P}.config.put.kv-url`, { url: 'redis://127.0.0.1' }), {
      success: true,
      message: 'successfully put config',
    });
    const link = {
      source_id: 'ctl-web',
      target: 'ctl-kv',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store'],
      target_config: ['kv-url'],
    };
    const full: Link = { ...link, name: 'default', source_config: [] };
    const mark = log.mark;
    assert.equal(
      await requestRaw(`${P}.link.put`, link),
      '{"success":true,"message":"successfully set link"}',
    );
    const set = await log.next('linkdef_set', mark, (e) => e.data['source_id'] === 'ctl-web');
    assert.deepEqual(set.data, full);
    // Whichever host answered, both learn the link from LATTICEDATA.
    for (const host of [a, b]) {
      await waitFor(
        () => host.links().some((l) => l.source_id === 'ctl-web'),
        REQUEST_MS,
        `the link on ${host.friendlyName}`,
      );
    }
    for (let i = 0; i < 4; i++) {
      // The queue group spreads link.get over the hosts; each must know the link.
      const listed = await request(`${P}.link.get`);
      assert.equal(listed.success, true);
      assert.deepEqual(
        (listed.response as Link[]).filter((l) => l.source_id === 'ctl-web'),
        [full],
      );
    }

    const missing = await request(`${P}.link.put`, { ...link, name: 'other', target_config: ['nope'] });
    assert.equal(missing.success, false);
    assert.match(missing.message, /^CONFIG_NOT_FOUND: .*nope/);

    const del = log.mark;
    assert.deepEqual(
      await request(`${P}.link.del`, {
        source_id: 'ctl-web',
        wit_namespace: 'wasi',
        wit_package: 'keyvalue',
      }),
      { success: true, message: 'successfully deleted link' },
    );
    await log.next('linkdef_deleted', del, (e) => e.data['source_id'] === 'ctl-web');
    for (const host of [a, b]) {
      await waitFor(
        () => !host.links().some((l) => l.source_id === 'ctl-web'),
        REQUEST_MS,
        `the link gone from ${host.friendlyName}`,
      );
    }
    assert.deepEqual(
      await request(`${P}.link.del`, {
        source_id: 'never-linked',
        wit_namespace: 'wasi',
        wit_package: 'keyvalue',
      }),
      { success: true, message: "successfully deleted link (spec doesn't exist)" },
    );
  });

  it('config.put / config.get / config.del, with "Configuration not found" as success without response', async () => {
    const mark = log.mark;
    assert.deepEqual(await request(`${P}.config.put.ctl-greeting`, { GREETING: 'hi' }), {
      success: true,
      message: 'successfully put config',
    });
    assert.deepEqual((await log.next('config_set', mark)).data, { config_name: 'ctl-greeting' });
    assert.equal(
      await requestRaw(`${P}.config.get.ctl-greeting`),
      '{"success":true,"message":"","response":{"GREETING":"hi"}}',
    );
    const del = log.mark;
    assert.deepEqual(await request(`${P}.config.del.ctl-greeting`), {
      success: true,
      message: 'successfully deleted config',
    });
    assert.deepEqual((await log.next('config_deleted', del)).data, { config_name: 'ctl-greeting' });
    assert.equal(
      await requestRaw(`${P}.config.get.ctl-greeting`),
      '{"success":true,"message":"Configuration not found"}',
    );
    const bad = await request(`${P}.config.put.ctl-bad`, { port: 8080 });
    assert.equal(bad.success, false);
    assert.match(bad.message, /config\.port must be a string, got number/);
  });

  it('component.scale with `count` acks before the work, then component_scaled has exactly the 1.x fields', async () => {
    const mark = log.mark;
    const body = {
      component_ref: HELLO_WASM,
      component_id: 'ctl-hello',
      host_id: a.id,
      count: 2,
      annotations: { 'wasmcloud.dev/managed-by': 'wadm' },
    };
    assert.equal(await requestRaw(`${P}.component.scale.${a.id}`, body), '{"success":true,"message":""}');
    assert.deepEqual(log.since(mark, 'component_scaled'), [], 'the ack came before the component ran');
    const scaled = await log.next('component_scaled', mark, (e) => e.data['component_id'] === 'ctl-hello');
    assert.equal(scaled.source, a.id);
    assert.deepEqual(scaled.data, {
      annotations: { 'wasmcloud.dev/managed-by': 'wadm' },
      host_id: a.id,
      image_ref: HELLO_WASM,
      max_instances: 2,
      component_id: 'ctl-hello',
    });
    assert.equal(a.inventory().components.find((c) => c.id === 'ctl-hello')?.max_instances, 2);
  });

  it('component.scale with `max_instances` (lattice-client-core 0.2.3) scales instead of stopping', async () => {
    const mark = log.mark;
    const reply = await request(`${P}.component.scale.${b.id}`, {
      host_id: b.id,
      component_ref: HELLO_WASM,
      component_id: 'ctl-hello-lcc',
      max_instances: 3,
      annotations: {},
      config: [],
    });
    assert.deepEqual(reply, { success: true, message: '' });
    const scaled = await log.next(
      'component_scaled',
      mark,
      (e) => e.data['component_id'] === 'ctl-hello-lcc',
    );
    assert.deepEqual(scaled.data, {
      annotations: {},
      host_id: b.id,
      image_ref: HELLO_WASM,
      max_instances: 3,
      component_id: 'ctl-hello-lcc',
    });
  });

  it('component.scale warns in the ack when the running component has another reference', async () => {
    const other = join(dir.path, 'hello-copy.wasm');
    const reply = await request(`${P}.component.scale.${a.id}`, {
      component_ref: other,
      component_id: 'ctl-hello',
      count: 4,
    });
    assert.equal(reply.success, true);
    assert.match(
      reply.message,
      /^component ctl-hello runs .*hello\.wasm, not .*hello-copy\.wasm: it will be scaled but keep its reference/,
    );
    await waitFor(
      () => a.inventory().components.find((c) => c.id === 'ctl-hello')?.max_instances === 4,
      EVENT_MS,
      'the rescale',
    );
    assert.equal(a.inventory().components.find((c) => c.id === 'ctl-hello')?.image_ref, HELLO_WASM);
  });

  it('component.update replies not found / already updated / updating, and reports by events', async () => {
    assert.deepEqual(
      await request(`${P}.component.update.${a.id}`, { component_id: 'nope', new_component_ref: HELLO_WASM }),
      { success: false, message: 'component nope not found' },
    );
    assert.deepEqual(
      await request(`${P}.component.update.${a.id}`, {
        component_id: 'ctl-hello',
        new_component_ref: HELLO_WASM,
      }),
      { success: true, message: `component ctl-hello already updated to ${HELLO_WASM}` },
    );
    const copy = join(dir.path, 'hello-v2.wasm');
    await copyFile(HELLO_WASM, copy);
    const mark = log.mark;
    assert.deepEqual(
      await request(`${P}.component.update.${a.id}`, {
        component_id: 'ctl-hello',
        new_component_ref: copy,
        host_id: a.id,
      }),
      { success: true, message: `component ctl-hello updating from ${HELLO_WASM} to ${copy}` },
    );
    const up = await log.next('component_scaled', mark, (e) => e.data['image_ref'] === copy);
    assert.equal(up.data['max_instances'], 4);
    const down = await log.next('component_scaled', mark, (e) => e.data['image_ref'] === HELLO_WASM);
    assert.equal(down.data['max_instances'], 0);
    assert.equal(a.inventory().components.find((c) => c.id === 'ctl-hello')?.image_ref, copy);
  });

  it('a scale that fails after the ack publishes component_scale_failed and is logged', async () => {
    const missing = join(dir.path, 'missing.wasm');
    const mark = log.mark;
    const before = logLines.length;
    assert.deepEqual(
      await request(`${P}.component.scale.${a.id}`, {
        component_ref: missing,
        component_id: 'ctl-broken',
        count: 1,
      }),
      { success: true, message: '' },
    );
    const failed = await log.next(
      'component_scale_failed',
      mark,
      (e) => e.data['component_id'] === 'ctl-broken',
    );
    assert.equal(failed.source, a.id);
    assert.equal(failed.data['image_ref'], missing);
    assert.equal(failed.data['max_instances'], 1);
    assert.match(String(failed.data['error']), /^ARTIFACT_NOT_FOUND: /);
    await waitFor(
      () => logLines.slice(before).some((l) => l.includes('could not scale component ctl-broken')),
      REQUEST_MS,
      'the error log line',
    );
  });

  it('scales components to zero with component_scaled max_instances 0', async () => {
    for (const [host, id] of [
      [a, 'ctl-hello'],
      [b, 'ctl-hello-lcc'],
    ] as const) {
      const mark = log.mark;
      const ref = host.inventory().components.find((c) => c.id === id)?.image_ref ?? HELLO_WASM;
      assert.equal(
        (await request(`${P}.component.scale.${host.id}`, { component_ref: ref, component_id: id, count: 0 }))
          .success,
        true,
      );
      const stopped = await log.next('component_scaled', mark, (e) => e.data['component_id'] === id);
      assert.equal(stopped.data['max_instances'], 0);
    }
    assert.deepEqual(a.inventory().components, []);
    assert.deepEqual(b.inventory().components, []);
  });

  const scale = (id: () => string): string => `${P}.component.scale.${id()}`;
  const ok = { component_ref: HELLO_WASM, component_id: 'ctl-x', count: 1 };
  /** `body` may be a function when it names a host, which only exists once the suite has started. */
  const refusals: { name: string; subject: () => string; body: unknown; message: RegExp }[] = [
    {
      name: 'invalid JSON',
      subject: () => scale(() => a.id),
      body: '{"count": 1',
      message: /^INVALID_ARGUMENT: request body is not valid JSON/,
    },
    {
      name: 'an empty body',
      subject: () => scale(() => a.id),
      body: '',
      message: /^INVALID_ARGUMENT: component scale request has an empty body/,
    },
    {
      name: 'a JSON string body',
      subject: () => scale(() => a.id),
      body: '"scale"',
      message: /component scale request must be a JSON object/,
    },
    {
      name: 'count -1',
      subject: () => scale(() => a.id),
      body: { ...ok, count: -1 },
      message: /count must be a whole number from 0 to 100, got -1/,
    },
    {
      name: 'count 1.5',
      subject: () => scale(() => a.id),
      body: { ...ok, count: 1.5 },
      message: /count must be a whole number from 0 to 100, got 1\.5/,
    },
    {
      name: 'count 10^9',
      subject: () => scale(() => a.id),
      body: { ...ok, count: 1e9 },
      message: /got 1000000000/,
    },
    {
      name: 'count as a string',
      subject: () => scale(() => a.id),
      body: { ...ok, count: '1' },
      message: /count must be a number, got string/,
    },
    {
      name: 'max_instances -1',
      subject: () => scale(() => a.id),
      body: { component_ref: HELLO_WASM, component_id: 'ctl-x', max_instances: -1 },
      message: /max_instances must be a whole number/,
    },
    {
      name: 'a missing component_id',
      subject: () => scale(() => a.id),
      body: { component_ref: HELLO_WASM, count: 1 },
      message: /component_id is required/,
    },
    {
      name: 'a missing component_ref',
      subject: () => scale(() => a.id),
      body: { component_id: 'ctl-x', count: 1 },
      message: /component_ref is required/,
    },
    {
      name: 'a numeric component_id',
      subject: () => scale(() => a.id),
      body: { ...ok, component_id: 42 },
      message: /component_id must be a string, got number/,
    },
    {
      name: 'an id with "."',
      subject: () => scale(() => a.id),
      body: { ...ok, component_id: 'a.b' },
      message: /^INVALID_ID: component_id "a\.b" is not a valid identifier/,
    },
    {
      name: 'an id with "*"',
      subject: () => scale(() => a.id),
      body: { ...ok, component_id: 'a*' },
      message: /^INVALID_ID: component_id "a\*"/,
    },
    {
      name: 'an id with ">"',
      subject: () => scale(() => a.id),
      body: { ...ok, component_id: 'a>' },
      message: /^INVALID_ID: component_id "a>"/,
    },
    {
      name: 'an id with a space',
      subject: () => scale(() => a.id),
      body: { ...ok, component_id: 'a b' },
      message: /^INVALID_ID: component_id "a b"/,
    },
    {
      name: 'a host_id of another host',
      subject: () => scale(() => a.id),
      body: () => ({ ...ok, host_id: b.id }),
      message: /host_id "N\w+" does not match the host the request was sent to/,
    },
    {
      name: 'annotations that are not strings',
      subject: () => scale(() => a.id),
      body: { ...ok, annotations: { n: 1 } },
      message: /annotations\.n must be a string/,
    },
    {
      name: 'a provider.start without provider_ref',
      subject: () => `${P}.provider.start.${a.id}`,
      body: { provider_id: 'p' },
      message: /provider_ref is required/,
    },
    {
      name: 'a provider.start with a bad id',
      subject: () => `${P}.provider.start.${a.id}`,
      body: { provider_id: 'p.q', provider_ref: 'x' },
      message: /^INVALID_ID: provider_id "p\.q"/,
    },
    {
      name: 'a label.put without a value',
      subject: () => `${P}.label.put.${a.id}`,
      body: { key: 'k' },
      message: /value is required/,
    },
    {
      name: 'a link.put with a bad target',
      subject: () => `${P}.link.put`,
      body: { source_id: 's', target: 't t', wit_namespace: 'w', wit_package: 'p', interfaces: ['i'] },
      message: /^INVALID_ID: target "t t"/,
    },
    {
      name: 'a link.del without wit_package',
      subject: () => `${P}.link.del`,
      body: { source_id: 's', wit_namespace: 'w' },
      message: /wit_package is required/,
    },
    {
      name: 'a host.stop for another host',
      subject: () => `${P}.host.stop.${a.id}`,
      body: () => ({ host_id: b.id }),
      message: /does not match/,
    },
    {
      name: 'a registry.put that is not JSON',
      subject: () => `${P}.registry.put`,
      body: 'user:pass',
      message: /not valid JSON/,
    },
  ];
  for (const { name, subject, body: given, message } of refusals) {
    it(`refuses ${name} with success:false and a useful message`, async () => {
      const body: unknown = typeof given === 'function' ? (given as () => unknown)() : given;
      const replies = subject().endsWith('registry.put')
        ? await gather(subject(), body)
        : [await request(subject(), body)];
      assert.ok(replies.length > 0);
      for (const reply of replies) {
        assert.equal(reply.success, false);
        assert.match(reply.message, message);
        assert.equal('response' in reply, false);
      }
    });
  }

  it('starts nothing and stays up after the refusals', async () => {
    assert.deepEqual(a.inventory().components, []);
    assert.equal((await request(`${P}.host.get.${a.id}`)).success, true);
    assert.equal(a.labels()['k'], undefined);
  });

  it('provider.start without a host id is answered only by the host named in the body', async () => {
    const mark = log.mark;
    const replies = await gather(`${P}.provider.start`, {
      host_id: b.id,
      provider_id: 'ctl-prov',
      provider_ref: 'wasmcloud+builtin://test',
      annotations: { a: 'b' },
    });
    assert.deepEqual(replies, [{ success: true, message: 'successfully started provider' }]);
    const started = await log.next('provider_started', mark, (e) => e.data['provider_id'] === 'ctl-prov');
    assert.equal(started.source, b.id);
    assert.deepEqual(started.data, {
      host_id: b.id,
      image_ref: 'wasmcloud+builtin://test',
      provider_id: 'ctl-prov',
      annotations: { a: 'b' },
    });
    assert.deepEqual(
      await gather(`${P}.provider.start`, { host_id: 'NOBODY', provider_id: 'x', provider_ref: 'y' }),
      [],
    );
    assert.deepEqual(await gather(`${P}.provider.start`, '{not json'), []);
    assert.deepEqual(await gather(`${P}.provider.start`, { provider_id: 'x', provider_ref: 'y' }), []);
  });

  it('provider.start acks before the provider runs and refuses a second start meanwhile', async () => {
    const subject = `${P}.provider.start.${a.id}`;
    const body = { provider_id: 'ctl-slow', provider_ref: 'wasmcloud+builtin://slow' };
    assert.deepEqual(await request(subject, body), {
      success: true,
      message: 'successfully started provider',
    });
    assert.equal(
      a.inventory().providers.some((p) => p.id === 'ctl-slow'),
      false,
      'still starting',
    );
    assert.deepEqual(await request(subject, body), {
      success: false,
      message: 'provider with that ID is already running',
    });
    const mark = log.mark;
    releaseSlow();
    await log.next('provider_started', mark, (e) => e.data['provider_id'] === 'ctl-slow');
    assert.deepEqual(await request(subject, body), {
      success: false,
      message: 'provider with that ID is already running',
    });
  });

  it('provider.start that fails after the ack publishes provider_start_failed', async () => {
    const mark = log.mark;
    assert.deepEqual(
      await request(`${P}.provider.start.${a.id}`, {
        provider_id: 'ctl-nope',
        provider_ref: 'wasmcloud+builtin://teleporter',
      }),
      { success: true, message: 'successfully started provider' },
    );
    const failed = await log.next('provider_start_failed', mark, (e) => e.data['provider_id'] === 'ctl-nope');
    assert.equal(failed.data['provider_ref'], 'wasmcloud+builtin://teleporter');
    assert.match(String(failed.data['error']), /^UNKNOWN_PROVIDER: /);
  });

  it('provider.stop replies "not running" for unknown ids and stops by provider_ref alias', async () => {
    assert.deepEqual(
      await request(`${P}.provider.stop.${a.id}`, { provider_id: 'ctl-ghost', host_id: a.id }),
      {
        success: false,
        message: 'provider with that ID is not running',
      },
    );
    const mark = log.mark;
    assert.deepEqual(await request(`${P}.provider.stop.${b.id}`, { provider_ref: 'ctl-prov' }), {
      success: true,
      message: 'successfully stopped provider',
    });
    const stopped = await log.next('provider_stopped', mark, (e) => e.data['provider_id'] === 'ctl-prov');
    assert.equal(stopped.source, b.id);
    assert.equal(stopped.data['reason'], 'stop');
  });

  it('auctions are answered only by hosts whose labels match and that do not run the id', async () => {
    const everyone = await gather(`${P}.component.auction`, {
      component_ref: HELLO_WASM,
      component_id: 'ctl-auc',
    });
    assert.deepEqual(
      everyone.map((r) => (r.response as { host_id: string }).host_id).sort(),
      [a.id, b.id].sort(),
    );
    const zoned = await gather(`${P}.component.auction`, {
      component_ref: HELLO_WASM,
      component_id: 'ctl-auc',
      constraints: { zone: 'a' },
    });
    assert.deepEqual(zoned, [
      {
        success: true,
        message: '',
        response: {
          component_ref: HELLO_WASM,
          component_id: 'ctl-auc',
          constraints: { zone: 'a' },
          host_id: a.id,
        },
      },
    ]);
    assert.deepEqual(
      await gather(`${P}.component.auction`, {
        component_ref: 'r',
        component_id: 'c',
        constraints: { zone: 'c' },
      }),
      [],
    );
    // ctl-slow runs on a, so only b bids for it.
    const providers = await gather(`${P}.provider.auction`, {
      provider_ref: 'wasmcloud+builtin://slow',
      provider_id: 'ctl-slow',
    });
    assert.deepEqual(providers, [
      {
        success: true,
        message: '',
        response: {
          provider_ref: 'wasmcloud+builtin://slow',
          provider_id: 'ctl-slow',
          constraints: {},
          host_id: b.id,
        },
      },
    ]);
  });

  it('claims.get lists CLAIMS_* entries of LATTICEDATA as flat maps (none at first)', async () => {
    assert.equal(await requestRaw(`${P}.claims.get`), '{"success":true,"message":"","response":[]}');
    const data = await client.kv('LATTICEDATA_default');
    await data.put(
      'CLAIMS_MCTLTEST',
      encodeJson({
        call_alias: '',
        issuer: 'ACTL',
        name: 'hello',
        revision: '1',
        subject: 'MCTLTEST',
        tags: [],
        version: '0.1.0',
      }),
    );
    await data.put('CLAIMS_BROKEN', encodeText('not json'));
    const expected = {
      call_alias: '',
      iss: 'ACTL',
      issuer: 'ACTL',
      name: 'hello',
      rev: '1',
      revision: '1',
      sub: 'MCTLTEST',
      subject: 'MCTLTEST',
      tags: '',
      version: '0.1.0',
    };
    for (let i = 0; i < 4; i++) {
      const reply = await waitFor(
        async () => {
          const r = await request(`${P}.claims.get`);
          return (r.response as unknown[]).length > 0 ? r : undefined;
        },
        REQUEST_MS,
        'the stored claims',
      );
      assert.deepEqual(reply.response, [expected]);
    }
    await data.delete('CLAIMS_MCTLTEST');
    await waitFor(
      async () => ((await request(`${P}.claims.get`)).response as unknown[]).length === 0,
      REQUEST_MS,
      'the claims to go',
    );
  });

  it('registry.put is acked by every host and the credentials never reach the log', async () => {
    const before = logLines.length;
    const replies = await gather(`${P}.registry.put`, {
      'ghcr.io': { username: 'octo', password: 'hunter2-very-secret', registryType: 'oci' },
    });
    assert.deepEqual(replies, [
      { success: true, message: 'successfully put registries' },
      { success: true, message: 'successfully put registries' },
    ]);
    const lines = logLines.slice(before);
    assert.ok(
      lines.some((l) => l.includes('ghcr.io')),
      'the registry name is logged',
    );
    assert.ok(!lines.some((l) => l.includes('hunter2') || l.includes('octo')), lines.join('\n'));
  });

  it('replies "unsupported subject" to subjects it does not serve', async () => {
    for (const subject of [
      `${P}.component.frobnicate.${a.id}`,
      `${P}.link.frob`,
      `${P}.config.put.a.b`,
      `${P}.label.get.${a.id}`,
      `${P}.host.reboot.${a.id}`,
    ]) {
      assert.equal(
        await requestRaw(subject, {}),
        '{"success":false,"message":"unsupported subject"}',
        subject,
      );
    }
  });

  it('serves a custom control topic prefix', async () => {
    const custom = await createHost(options({ ctlTopicPrefix: 'acme.ctl' }));
    try {
      const reply = await request(`acme.ctl.v1.default.host.get.${custom.id}`);
      assert.equal((reply.response as HostInventory).host_id, custom.id);
      const ids = (await gather(`${P}.host.ping`)).map((r) => (r.response as HostInfo).id);
      assert.equal(ids.includes(custom.id), false);
    } finally {
      await custom.stop();
    }
    await assert.rejects(
      createHost(options({ ctlTopicPrefix: 'acme.*' })),
      (err) => (err as { code?: string }).code === 'INVALID_SUBJECT',
    );
  });

  it('host.stop acks, stops the host with host_stopped, and the host stops answering', async () => {
    const doomed = await createHost(options({}));
    const mark = log.mark;
    assert.equal(
      await requestRaw(`${P}.host.stop.${doomed.id}`, { host_id: doomed.id, timeout: 5000 }),
      '{"success":true,"message":"successfully handled stop host"}',
    );
    const stopped = await log.next('host_stopped', mark, (e) => e.source === doomed.id);
    assert.deepEqual(Object.keys(stopped.data), ['labels']);
    await withDeadline(doomed.stopped, REQUEST_MS, 'the stopped host');
    const ids = (await gather(`${P}.host.ping`)).map((r) => (r.response as HostInfo).id);
    assert.deepEqual(ids.sort(), [a.id, b.id].sort());
  });

  it('host.stop accepts the `{}` body lattice-client-core sends', async () => {
    const doomed = await createHost(options({}));
    assert.deepEqual(await request(`${P}.host.stop.${doomed.id}`, {}), {
      success: true,
      message: 'successfully handled stop host',
    });
    await withDeadline(doomed.stopped, REQUEST_MS, 'the stopped host');
  });
});
