/**
 * The control client against a fake host on the in-memory lattice. The fake records every request,
 * so each test checks the exact subject and JSON body a wasmCloud 1.x host would receive, and answers
 * with the envelopes §1.3 of the protocol notes describe. The client against real hosts is tested
 * where both packages meet: packages/cli/test/control-client-hosts.test.ts.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createMemoryLattice, decodeText, encodeJson } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice, Msg, Subscription } from '@cirrus/lattice';
import { cloudEvent } from '@cirrus/protocol';
import type { CloudEvent, EventName, HostInfo, HostInventory, Link } from '@cirrus/protocol';
import { take, withDeadline } from '@cirrus/testing';
import { createControlClient } from '../src/index.ts';
import type { ControlClient } from '../src/index.ts';

const HOST_A = `NA${'A'.repeat(54)}`;
const HOST_B = `NB${'B'.repeat(54)}`;
const PREFIX = 'wasmbus.ctl.v1.default';

interface Recorded {
  subject: string;
  /** Parsed JSON body, or `''` for an empty one. */
  body: unknown;
}

/** A reply envelope, or anything else for tests of malformed replies. */
type Reply = Record<string, unknown>;
/** What the fake answers: a reply, `'silent'` (never answer), or a function of the request. */
type Answer = Reply | 'silent' | ((msg: Msg) => Reply | 'silent');

/** A stand-in for one or more hosts: answers control requests from a table and records them. */
class FakeHost {
  readonly requests: Recorded[] = [];
  readonly #conn: LatticeConnection;
  readonly #sub: Subscription;
  readonly #answers = new Map<string, Answer>();

  constructor(conn: LatticeConnection, subject = `${PREFIX}.>`) {
    this.#conn = conn;
    this.#sub = conn.subscribe(subject, { callback: (msg) => this.#handle(msg) });
  }

  /** Answers requests to `<prefix>.<suffix>`. */
  on(suffix: string, answer: Answer, prefix = PREFIX): this {
    this.#answers.set(`${prefix}.${suffix}`, answer);
    return this;
  }

  publishEvent(name: EventName, source: string, data: Record<string, unknown>, lattice = 'default'): void {
    const event = cloudEvent(name, source, data, `id-${Math.random()}`, new Date());
    this.#conn.publish(`wasmbus.evt.${lattice}.${name}`, encodeJson(event));
  }

  #handle(msg: Msg): void {
    const text = decodeText(msg.data);
    this.requests.push({ subject: msg.subject, body: text === '' ? '' : (JSON.parse(text) as unknown) });
    const answer = this.#answers.get(msg.subject) ?? { success: false, message: 'unsupported subject' };
    const reply = typeof answer === 'function' ? answer(msg) : answer;
    if (reply !== 'silent') msg.respond(encodeJson(reply));
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

function hostInfo(id: string, name: string): HostInfo {
  return {
    id,
    friendly_name: name,
    labels: { 'hostcore.os': 'linux' },
    lattice: 'default',
    uptime_seconds: 3,
    uptime_human: '3s',
    version: '0.1.0',
  };
}

describe('control client: requests on the wire', () => {
  let lattice: MemoryLattice;
  let client: ControlClient;
  let fake: FakeHost;

  before(() => {
    lattice = createMemoryLattice();
    client = createControlClient({ connection: lattice.connect(), timeoutMs: 500, scatterMs: 100 });
  });

  afterEach(() => fake.stop());

  after(async () => {
    await lattice.close();
  });

  it('host.ping gathers every host that answers within the window, skipping refusals and garbage', async () => {
    fake = new FakeHost(lattice.connect(), `${PREFIX}.host.ping`).on('host.ping', {
      success: true,
      message: '',
      response: hostInfo(HOST_A, 'alpha'),
    });
    const second = lattice.connect();
    const other = second.subscribe(`${PREFIX}.host.ping`, {
      callback: (msg) => {
        msg.respond(encodeJson({ success: true, message: '', response: hostInfo(HOST_B, 'beta') }));
        msg.respond(encodeJson({ success: false, message: 'nope' }));
        msg.respond(new TextEncoder().encode('not json'));
      },
    });
    const started = Date.now();
    const hosts = await client.pingHosts();
    other.unsubscribe();
    assert.deepEqual(fake.requests, [{ subject: `${PREFIX}.host.ping`, body: '' }]);
    assert.deepEqual(hosts.map((h) => h.id).sort(), [HOST_A, HOST_B]);
    assert.ok(Date.now() - started >= 90, 'replies are collected for the whole scatter window');
  });

  it('host.ping told which hosts to expect answers once they have, and waits the window for a missing one', async () => {
    fake = new FakeHost(lattice.connect(), `${PREFIX}.host.ping`).on('host.ping', {
      success: true,
      message: '',
      response: hostInfo(HOST_A, 'alpha'),
    });
    const slow = createControlClient({ connection: lattice.connect(), timeoutMs: 500, scatterMs: 2_000 });
    let started = performance.now();
    const hosts = await slow.pingHosts({ expect: [HOST_A] });
    const early = performance.now() - started;
    assert.deepEqual(
      hosts.map((h) => h.id),
      [HOST_A],
    );
    assert.ok(early < 1_000, `answered after ${Math.round(early)} ms, not the 2 s window`);
    started = performance.now();
    assert.deepEqual(
      (await slow.pingHosts({ expect: [HOST_A, HOST_B] })).map((h) => h.id),
      [HOST_A],
    );
    assert.ok(performance.now() - started >= 1_900, 'a host expected but silent keeps the whole window');
  });

  it('host.ping with no hosts on the lattice is an empty list, not an error', async () => {
    fake = new FakeHost(lattice.connect(), 'unrelated.>');
    assert.deepEqual(await client.pingHosts(), []);
  });

  it('host.get.<host> is sent with an empty body and returns the inventory', async () => {
    const inventory: HostInventory = {
      host_id: HOST_A,
      friendly_name: 'alpha',
      version: '0.1.0',
      labels: {},
      uptime_seconds: 1,
      uptime_human: '1s',
      components: [
        {
          id: 'c',
          image_ref: 'file:///c.wasm',
          annotations: {},
          revision: 0,
          max_instances: 2,
          limits: null,
        },
      ],
      providers: [],
    };
    fake = new FakeHost(lattice.connect()).on(`host.get.${HOST_A}`, {
      success: true,
      message: '',
      response: inventory,
    });
    assert.deepEqual(await client.getInventory(HOST_A), inventory);
    assert.deepEqual(fake.requests, [{ subject: `${PREFIX}.host.get.${HOST_A}`, body: '' }]);
  });

  it('every command goes to its 1.x subject with the exact 1.x body, optional fields left out', async () => {
    fake = new FakeHost(lattice.connect());
    const ok = { success: true, message: 'done' };
    const link: Link = {
      source_id: 'app-http',
      target: 'app-kv',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store'],
      source_config: [],
      target_config: ['app-redis'],
    };
    const cases: [string, () => Promise<unknown>, string, unknown][] = [
      ['put link', () => client.putLink(link), 'link.put', link],
      [
        'delete link without a name',
        () => client.deleteLink({ source_id: 'app-http', wit_namespace: 'wasi', wit_package: 'keyvalue' }),
        'link.del',
        { source_id: 'app-http', wit_namespace: 'wasi', wit_package: 'keyvalue' },
      ],
      [
        'delete link with a name',
        () =>
          client.deleteLink({
            source_id: 's',
            name: 'cache',
            wit_namespace: 'wasi',
            wit_package: 'keyvalue',
          }),
        'link.del',
        { source_id: 's', wit_namespace: 'wasi', wit_package: 'keyvalue', name: 'cache' },
      ],
      [
        'put config',
        () => client.putConfig('greeting', { lang: 'en' }),
        'config.put.greeting',
        { lang: 'en' },
      ],
      ['delete config', () => client.deleteConfig('greeting'), 'config.del.greeting', ''],
      [
        'scale, minimal',
        () => client.scaleComponent({ hostId: HOST_A, componentRef: 'r', componentId: 'c', count: 0 }),
        `component.scale.${HOST_A}`,
        { component_ref: 'r', component_id: 'c', host_id: HOST_A, count: 0 },
      ],
      [
        'scale, every field',
        () =>
          client.scaleComponent({
            hostId: HOST_A,
            componentRef: 'ghcr.io/acme/hello:0.1.0',
            componentId: 'app-hello',
            count: 3,
            config: ['app-greeting', 'app-lang'],
            annotations: { owner: 'me' },
            allowUpdate: true,
          }),
        `component.scale.${HOST_A}`,
        {
          component_ref: 'ghcr.io/acme/hello:0.1.0',
          component_id: 'app-hello',
          host_id: HOST_A,
          count: 3,
          annotations: { owner: 'me' },
          config: ['app-greeting', 'app-lang'],
          allow_update: true,
        },
      ],
      [
        'update component',
        () => client.updateComponent({ hostId: HOST_A, componentId: 'c', newComponentRef: 'r2' }),
        `component.update.${HOST_A}`,
        { component_id: 'c', new_component_ref: 'r2', host_id: HOST_A },
      ],
      [
        'start provider',
        () =>
          client.startProvider({
            hostId: HOST_B,
            providerRef: 'wasmcloud+builtin://http-server',
            providerId: 'app-http',
            config: ['app-listen'],
          }),
        `provider.start.${HOST_B}`,
        {
          provider_id: 'app-http',
          provider_ref: 'wasmcloud+builtin://http-server',
          host_id: HOST_B,
          config: ['app-listen'],
        },
      ],
      [
        'stop provider',
        () => client.stopProvider({ hostId: HOST_B, providerId: 'app-http' }),
        `provider.stop.${HOST_B}`,
        { provider_id: 'app-http', host_id: HOST_B },
      ],
      ['stop host', () => client.stopHost(HOST_A), `host.stop.${HOST_A}`, { host_id: HOST_A }],
      [
        'stop host with a timeout',
        () => client.stopHost(HOST_A, 5000),
        `host.stop.${HOST_A}`,
        { host_id: HOST_A, timeout: 5000 },
      ],
      [
        'put label',
        () => client.putLabel(HOST_A, 'zone', 'eu'),
        `label.put.${HOST_A}`,
        { key: 'zone', value: 'eu' },
      ],
      ['delete label', () => client.deleteLabel(HOST_A, 'zone'), `label.del.${HOST_A}`, { key: 'zone' }],
    ];
    for (const [, , suffix] of cases) fake.on(suffix, ok);
    for (const [what, send, suffix, body] of cases) {
      const before = fake.requests.length;
      assert.deepEqual(await send(), { message: 'done' }, what);
      assert.deepEqual(fake.requests.slice(before), [{ subject: `${PREFIX}.${suffix}`, body }], what);
    }
  });

  it('reads links, claims and config; a missing config is undefined, not an error', async () => {
    const link: Link = {
      source_id: 'a',
      target: 'b',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'http',
      interfaces: ['incoming-handler'],
      source_config: [],
      target_config: [],
    };
    fake = new FakeHost(lattice.connect())
      .on('link.get', { success: true, message: '', response: [link] })
      .on('claims.get', { success: true, message: '', response: [{ sub: 'MABC', name: 'hello' }] })
      .on('config.get.present', { success: true, message: '', response: { k: 'v' } })
      .on('config.get.absent', { success: true, message: 'Configuration not found' });
    assert.deepEqual(await client.getLinks(), [link]);
    assert.deepEqual(await client.getClaims(), [{ sub: 'MABC', name: 'hello' }]);
    assert.deepEqual(await client.getConfig('present'), { k: 'v' });
    assert.equal(await client.getConfig('absent'), undefined);
    assert.deepEqual(
      fake.requests.map((r) => [r.subject, r.body]),
      [
        [`${PREFIX}.link.get`, ''],
        [`${PREFIX}.claims.get`, ''],
        [`${PREFIX}.config.get.present`, ''],
        [`${PREFIX}.config.get.absent`, ''],
      ],
    );
  });

  it('a refusal becomes CONTROL_REQUEST_FAILED carrying the host message and the subject', async () => {
    fake = new FakeHost(lattice.connect()).on(`provider.start.${HOST_A}`, {
      success: false,
      message: 'provider with that ID is already running',
    });
    await assert.rejects(
      client.startProvider({ hostId: HOST_A, providerRef: 'r', providerId: 'p' }),
      (err: unknown) => {
        assert.equal(codeOf(err), 'CONTROL_REQUEST_FAILED');
        assert.equal((err as Error).message, 'provider with that ID is already running');
        assert.deepEqual((err as { details?: unknown }).details, {
          subject: `${PREFIX}.provider.start.${HOST_A}`,
        });
        return true;
      },
    );
  });

  it('a reply that is not a control envelope is CONTROL_REQUEST_FAILED, not a crash', async () => {
    fake = new FakeHost(lattice.connect()).on('link.get', { hello: 'world' });
    await assert.rejects(client.getLinks(), (err: unknown) => codeOf(err) === 'CONTROL_REQUEST_FAILED');
  });

  it('nobody listening is NO_RESPONDERS naming the lattice, or the host for per-host subjects', async () => {
    fake = new FakeHost(lattice.connect(), 'unrelated.>');
    await assert.rejects(client.getLinks(), (err: unknown) => {
      assert.equal(codeOf(err), 'NO_RESPONDERS');
      assert.match((err as Error).message, /nobody answered get links on lattice "default"/);
      assert.match((err as { hint: string }).hint, /is a host running on lattice "default"\?.*--lattice/);
      return true;
    });
    await assert.rejects(client.getInventory(HOST_B), (err: unknown) => {
      assert.equal(codeOf(err), 'NO_RESPONDERS');
      assert.match((err as Error).message, new RegExp(`host ${HOST_B}`));
      assert.match((err as { hint: string }).hint, /cirrus get hosts/);
      return true;
    });
  });

  it('a host that never replies is REQUEST_TIMEOUT after the configured deadline', async () => {
    fake = new FakeHost(lattice.connect()).on('claims.get', 'silent');
    const quick = createControlClient({ connection: lattice.connect(), timeoutMs: 50 });
    const started = Date.now();
    await assert.rejects(quick.getClaims(), (err: unknown) => {
      assert.equal(codeOf(err), 'REQUEST_TIMEOUT');
      assert.match((err as Error).message, /no reply to get claims from lattice "default" within 50 ms/);
      assert.match((err as { hint: string }).hint, /--timeout/);
      return true;
    });
    assert.ok(Date.now() - started < 400, 'the client deadline, not the lattice default, applies');
  });

  it('lattice name and topic prefix shape every subject', async () => {
    fake = new FakeHost(lattice.connect(), 'acme.ctl.v1.prod.>').on(
      'link.get',
      { success: true, message: '', response: [] },
      'acme.ctl.v1.prod',
    );
    const prod = createControlClient({
      connection: lattice.connect(),
      lattice: 'prod',
      topicPrefix: 'acme.ctl',
    });
    assert.deepEqual(await prod.getLinks(), []);
    assert.deepEqual(fake.requests, [{ subject: 'acme.ctl.v1.prod.link.get', body: '' }]);
  });

  it('refuses ids that cannot be subject tokens before sending anything', async () => {
    fake = new FakeHost(lattice.connect());
    await assert.rejects(client.getInventory('N.*'), (err: unknown) => codeOf(err) === 'INVALID_ID');
    await assert.rejects(client.getConfig('a b'), (err: unknown) => codeOf(err) === 'INVALID_ID');
    assert.throws(
      () => createControlClient({ connection: lattice.connect(), lattice: 'a.b' }),
      (err: unknown) => codeOf(err) === 'INVALID_ID',
    );
    assert.throws(
      () => createControlClient({ connection: lattice.connect(), timeoutMs: 0 }),
      (err: unknown) => codeOf(err) === 'INVALID_ARGUMENT',
    );
    assert.deepEqual(fake.requests, []);
  });

  it('auctions send the constraints and gather the bids of qualifying hosts', async () => {
    fake = new FakeHost(lattice.connect())
      .on('component.auction', (msg) => ({
        success: true,
        message: '',
        response: { ...msg.json<Reply>(), host_id: HOST_A },
      }))
      .on('provider.auction', 'silent');
    const bids = await client.componentAuction({
      componentRef: 'r',
      componentId: 'c',
      constraints: { zone: 'eu' },
    });
    assert.deepEqual(bids, [
      { component_ref: 'r', component_id: 'c', constraints: { zone: 'eu' }, host_id: HOST_A },
    ]);
    assert.deepEqual(await client.providerAuction({ providerRef: 'p', providerId: 'p1' }), []);
    assert.deepEqual(fake.requests, [
      {
        subject: `${PREFIX}.component.auction`,
        body: { component_ref: 'r', component_id: 'c', constraints: { zone: 'eu' } },
      },
      {
        subject: `${PREFIX}.provider.auction`,
        body: { provider_ref: 'p', provider_id: 'p1', constraints: {} },
      },
    ]);
  });
});

describe('control client: events and waiting for outcomes', () => {
  let lattice: MemoryLattice;
  let client: ControlClient;
  let fake: FakeHost;

  before(() => {
    lattice = createMemoryLattice();
    client = createControlClient({ connection: lattice.connect(), timeoutMs: 500 });
    fake = new FakeHost(lattice.connect());
  });

  after(async () => {
    fake.stop();
    await lattice.close();
  });

  it('events() streams every lattice event until stop(), skipping malformed ones', async () => {
    const stream = client.events();
    fake.publishEvent('host_started', HOST_A, { friendly_name: 'alpha', labels: {} });
    lattice.connect().publish('wasmbus.evt.default.junk', new TextEncoder().encode('{not json'));
    fake.publishEvent('config_set', HOST_A, { config_name: 'greeting' });
    fake.publishEvent('config_set', HOST_A, { config_name: 'elsewhere' }, 'other-lattice');
    const events = await take(stream, 2, 1000, 'events');
    assert.deepEqual(
      events.map((e) => [e.type, e.source, e.data]),
      [
        ['com.wasmcloud.lattice.host_started', HOST_A, { friendly_name: 'alpha', labels: {} }],
        ['com.wasmcloud.lattice.config_set', HOST_A, { config_name: 'greeting' }],
      ],
    );
    stream.stop();
    const next = await stream[Symbol.asyncIterator]().next();
    assert.equal(next.done, true);
  });

  it('events({ types }) subscribes per type and sees only those', async () => {
    const baseline = lattice.subscriptionCount;
    const stream = client.events({ types: ['linkdef_set', 'linkdef_deleted'] });
    assert.equal(lattice.subscriptionCount, baseline + 2, 'one subscription per type');
    fake.publishEvent('host_heartbeat', HOST_A, {});
    fake.publishEvent('linkdef_deleted', HOST_A, { source_id: 'a' });
    const [event] = await take(stream, 1, 1000, 'a linkdef event');
    assert.equal(event?.type, 'com.wasmcloud.lattice.linkdef_deleted');
    stream.stop();
    assert.equal(lattice.subscriptionCount, baseline, 'stop() unsubscribes');
    assert.throws(
      () => client.events({ types: ['nonsense' as EventName] }),
      (err: unknown) => codeOf(err) === 'INVALID_ARGUMENT',
    );
    assert.equal(lattice.subscriptionCount, baseline);
  });

  it('breaking out of a for-await loop ends the subscription', async () => {
    const baseline = lattice.subscriptionCount;
    const stream = client.events();
    fake.publishEvent('config_deleted', HOST_A, { config_name: 'x' });
    for await (const event of stream) {
      assert.equal(event.data.config_name, 'x');
      break;
    }
    assert.equal(lattice.subscriptionCount, baseline);
  });

  it('scale with wait resolves with the component_scaled of that host and component, ignoring others', async () => {
    fake.on(`component.scale.${HOST_A}`, (msg) => {
      const body = msg.json<{ component_id: string; component_ref: string; count: number }>();
      // A fast host: its events can reach the client before the ack does.
      fake.publishEvent('component_scaled', HOST_B, { component_id: body.component_id, host_id: HOST_B });
      fake.publishEvent('component_scaled', HOST_A, { component_id: 'someone-else', host_id: HOST_A });
      fake.publishEvent('component_scaled', HOST_A, {
        component_id: body.component_id,
        image_ref: body.component_ref,
        max_instances: body.count,
        host_id: HOST_A,
        annotations: {},
      });
      return { success: true, message: '' };
    });
    const baseline = lattice.subscriptionCount;
    const result = await withDeadline(
      client.scaleComponent(
        { hostId: HOST_A, componentRef: 'file:///hello.wasm', componentId: 'hello', count: 2 },
        { wait: true },
      ),
      2000,
      'the scale outcome',
    );
    assert.equal(result.message, '');
    assert.equal(result.event?.type, 'com.wasmcloud.lattice.component_scaled');
    assert.equal(result.event?.source, HOST_A);
    assert.equal(result.event?.data.component_id, 'hello');
    assert.equal(result.event?.data.max_instances, 2);
    assert.equal(lattice.subscriptionCount, baseline, 'the event subscription is gone afterwards');
  });

  it('scale with wait throws COMPONENT_SCALE_FAILED with the error text of component_scale_failed', async () => {
    fake.on(`component.scale.${HOST_A}`, () => {
      setTimeout(
        () =>
          fake.publishEvent('component_scale_failed', HOST_A, {
            component_id: 'broken',
            image_ref: 'file:///broken.wasm',
            host_id: HOST_A,
            max_instances: 1,
            annotations: {},
            error: 'NOT_WASM: file:///broken.wasm is not a WebAssembly binary',
          }),
        10,
      );
      return { success: true, message: '' };
    });
    await assert.rejects(
      client.scaleComponent(
        { hostId: HOST_A, componentRef: 'file:///broken.wasm', componentId: 'broken', count: 1 },
        { wait: true },
      ),
      (err: unknown) => {
        assert.equal(codeOf(err), 'COMPONENT_SCALE_FAILED');
        assert.equal((err as Error).message, 'NOT_WASM: file:///broken.wasm is not a WebAssembly binary');
        assert.deepEqual((err as { details?: unknown }).details, {
          host_id: HOST_A,
          component_id: 'broken',
          image_ref: 'file:///broken.wasm',
        });
        return true;
      },
    );
  });

  it('scale with wait: a refused request fails at once and leaves no subscription behind', async () => {
    fake.on(`component.scale.${HOST_A}`, {
      success: false,
      message: 'failed to deserialize component scale command',
    });
    const baseline = lattice.subscriptionCount;
    await assert.rejects(
      client.scaleComponent(
        { hostId: HOST_A, componentRef: 'r', componentId: 'c', count: 1 },
        { wait: true },
      ),
      (err: unknown) => codeOf(err) === 'CONTROL_REQUEST_FAILED',
    );
    assert.equal(lattice.subscriptionCount, baseline);
  });

  it('scale with wait times out with REQUEST_TIMEOUT when no outcome arrives', async () => {
    fake.on(`component.scale.${HOST_A}`, { success: true, message: '' });
    await assert.rejects(
      client.scaleComponent(
        { hostId: HOST_A, componentRef: 'r', componentId: 'c', count: 1 },
        { wait: true, waitTimeoutMs: 50 },
      ),
      (err: unknown) => {
        assert.equal(codeOf(err), 'REQUEST_TIMEOUT');
        assert.match((err as Error).message, /component_scaled or component_scale_failed .* within 50 ms/);
        return true;
      },
    );
  });

  it('a closed connection ends the event stream after what already arrived, and fails a wait', async () => {
    const connection = lattice.connect();
    const own = createControlClient({ connection });
    const stream = own.events();
    const waiting = own.waitForEvent(() => false, 5000);
    fake.publishEvent('config_set', HOST_A, { config_name: 'before-close' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    await connection.close();
    const seen: unknown[] = [];
    await withDeadline(
      (async () => {
        for await (const event of stream) seen.push(event.data.config_name);
      })(),
      1000,
      'the stream to end',
    );
    assert.deepEqual(seen, ['before-close']);
    await assert.rejects(waiting, (err: unknown) => codeOf(err) === 'LATTICE_CLOSED');
  });

  it('waitForEvent subscribes before returning and can be cancelled', async () => {
    const waiting = client.waitForEvent((e: CloudEvent) => e.data.config_name === 'late', 1000);
    fake.publishEvent('config_set', HOST_A, { config_name: 'early' });
    fake.publishEvent('config_set', HOST_A, { config_name: 'late' });
    assert.equal((await waiting).data.config_name, 'late');

    const baseline = lattice.subscriptionCount;
    const cancel = new AbortController();
    const cancelled = client.waitForEvent(() => true, 1000, {
      types: ['host_stopped'],
      signal: cancel.signal,
    });
    cancel.abort(new Error('not needed'));
    await assert.rejects(cancelled, /not needed/);
    assert.equal(lattice.subscriptionCount, baseline);
  });
});
