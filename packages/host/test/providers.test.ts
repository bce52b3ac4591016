/**
 * The built-in providers that serve imports other than key-value: logging, config and messaging.
 * The imports-probe component calls them over real HTTP through the built-in HTTP server; what is
 * measured is what reaches the host log, what the component reads back, and what crosses the
 * lattice. The messaging provider's handler side (subscriptions for components it links to) runs
 * with a fake delivery, since the host cannot call handler exports yet.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice, Msg, Subscription } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { LogFields, Logger } from '@cirrus/protocol';
import { freePort, take, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import type { BuiltinProvider, CapabilityProvider, ImportSource } from '@cirrus/provider-core';
import { createMessagingProvider, parseSubscriptions, reservedBy } from '@cirrus/provider-messaging';
import type { BrokerMessage, MessageDelivery } from '@cirrus/provider-messaging';
import { BUILTIN_PROVIDERS } from '@cirrus/providers';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { WITH_BUILTINS } from './support.ts';

const PROBE_WASM = fileURLToPath(
  new URL('../../testing/fixtures/imports-probe/build/imports-probe.wasm', import.meta.url),
);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields: LogFields;
}

/** A logger that keeps every entry, with the fields its children were bound to. */
function capturingLogger(entries: LogEntry[], bound: LogFields = {}): Logger {
  const at =
    (level: LogEntry['level']) =>
    (message: string, fields?: LogFields): void => {
      entries.push({ level, message, fields: { ...bound, ...fields } });
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (fields) => capturingLogger(entries, { ...bound, ...fields }),
  };
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

describe('imports-probe → logging, config and messaging providers', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;
  let port: number;
  const logs: LogEntry[] = [];

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      // The smallest line limit, so that cutting a long message is cheap to show.
      limits: resolveLimits({ maxInstances: 4, guestLogLineMaxBytes: 64 }),
      logger: capturingLogger(logs),
    });
    port = await freePort();
    for (const name of ['logging', 'config', 'messaging', 'http-server']) {
      await host.startProvider({ providerRef: `wasmcloud+builtin://${name}`, providerId: name });
    }
    await host.putConfig('probe-own', { greeting: 'hello', shared: 'from-component', 'with space': 'a b' });
    await host.putConfig('probe-link', { shared: 'from-link', extra: '1' });
    await host.scaleComponent({
      componentRef: PROBE_WASM,
      componentId: 'probe',
      count: 2,
      config: ['probe-own'],
    });
    await host.putLink({
      source_id: 'probe',
      target: 'logging',
      wit_namespace: 'wasi',
      wit_package: 'logging',
      interfaces: ['logging'],
    });
    await host.putLink({
      source_id: 'probe',
      target: 'config',
      wit_namespace: 'wasi',
      wit_package: 'config',
      interfaces: ['runtime', 'store'],
      target_config: ['probe-link'],
    });
    await host.putLink({
      source_id: 'probe',
      target: 'messaging',
      wit_namespace: 'wasmcloud',
      wit_package: 'messaging',
      interfaces: ['consumer'],
    });
    await host.putConfig('route', { address: `127.0.0.1:${port}` });
    await host.putLink({
      source_id: 'http-server',
      target: 'probe',
      wit_namespace: 'wasi',
      wit_package: 'http',
      interfaces: ['incoming-handler'],
      source_config: ['route'],
    });
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  it('logs every wasi:logging level at the mapped host level, with the component and context as fields', async () => {
    const expected = {
      trace: 'debug',
      debug: 'debug',
      info: 'info',
      warn: 'warn',
      error: 'error',
      critical: 'error',
    } as const;
    for (const level of Object.keys(expected)) {
      const reply = await get(port, `/log/${level}?context=billing&msg=${level}-message`);
      assert.equal(reply.status, 204, reply.body);
    }
    for (const [level, hostLevel] of Object.entries(expected)) {
      const entry = logs.find((e) => e.message === `${level}-message`);
      assert.ok(entry, `no log entry for ${level}`);
      assert.equal(entry.level, hostLevel, level);
      assert.equal(entry.fields['component'], 'probe');
      assert.equal(entry.fields['context'], 'billing');
      assert.equal(entry.fields['provider'], 'logging');
      // The guest's level is kept only where the host's four levels lose it.
      assert.equal(entry.fields['wasi_level'], level === hostLevel ? undefined : level);
    }
  });

  it('cuts a log message at guestLogLineMaxBytes and escapes line breaks, so a guest cannot forge log lines', async () => {
    const long = 'é'.repeat(100); // 200 bytes of UTF-8
    assert.equal((await get(port, `/log/info?msg=${encodeURIComponent(long)}`)).status, 204);
    const cut = logs.find((e) => e.message.startsWith('éé'));
    assert.ok(cut);
    assert.equal(cut.message, `${'é'.repeat(32)}…`);

    const forged = 'first\n2026-01-01T00:00:00.000Z ERROR forged';
    assert.equal((await get(port, `/log/info?msg=${encodeURIComponent(forged)}`)).status, 204);
    assert.ok(
      logs.some((e) => e.message === 'first\\n2026-01-01T00:00:00.000Z ERROR forged'),
      JSON.stringify(logs.slice(-3)),
    );
  });

  it("reads a key from the component's named config, overridden by the link's target config, over runtime and store", async () => {
    for (const via of ['', '?via=store']) {
      assert.deepEqual(await get(port, `/config/greeting${via}`), { status: 200, body: 'hello' });
      assert.deepEqual(await get(port, `/config/shared${via}`), { status: 200, body: 'from-link' });
      assert.deepEqual(await get(port, `/config/extra${via}`), { status: 200, body: '1' });
      assert.deepEqual(await get(port, `/config/with%20space${via}`), { status: 200, body: 'a b' });
      const missing = await get(port, `/config/nope${via}`);
      assert.equal(missing.status, 404, missing.body);
      // Object prototype names are not config keys.
      assert.equal((await get(port, `/config/constructor${via}`)).status, 404);
    }
  });

  it('lists the merged config sorted by key with get-all', async () => {
    const expected = 'extra=1\ngreeting=hello\nshared=from-link\nwith space=a b\n';
    assert.deepEqual(await get(port, '/config'), { status: 200, body: expected });
    assert.deepEqual(await get(port, '/config?via=store'), { status: 200, body: expected });
  });

  it('publishes to the lattice and gets the reply of a request', async () => {
    const spy = lattice.connect();
    try {
      const events = spy.subscribe('app.events');
      const responder = spy.subscribe('app.upper', {
        callback: (msg) => msg.respond(encoder.encode(msg.string().toUpperCase())),
      });
      await spy.flush();
      const published = await get(port, '/publish?subject=app.events&body=hi&reply=app.replies');
      assert.equal(published.status, 204, published.body);
      const [msg] = await take(events, 1, 2000, 'the published message');
      assert.equal(msg?.string(), 'hi');
      assert.equal(msg?.reply, 'app.replies');

      assert.deepEqual(await get(port, '/request?subject=app.upper&body=ping'), {
        status: 200,
        body: 'PING',
      });
      events.unsubscribe();
      responder.unsubscribe();
    } finally {
      await spy.close();
    }
  });

  it("refuses the lattice's own subjects with MESSAGING_SUBJECT_DENIED and publishes nothing there", async () => {
    const spy = lattice.connect();
    const seen: Msg[] = [];
    const sub: Subscription = spy.subscribe('>', { callback: (msg) => seen.push(msg) });
    await spy.flush();
    try {
      const refused = [
        '/publish?subject=wasmbus.ctl.v1.default.link.put&body={}',
        '/publish?subject=$KV.CONFIGDATA_default.secret&body=x',
        '/publish?subject=$JS.API.STREAM.DELETE.KV_LATTICEDATA_default',
        '/publish?subject=_INBOX.guessed&body=x',
        '/publish?subject=default.kv.wrpc.0.0.1.wasi:keyvalue/store@0.2.0-draft.open',
        '/publish?subject=app.ok&reply=wasmbus.ctl.v1.default.host.stop',
        '/request?subject=wasmbus.ctl.v1.default.host.ping',
      ];
      for (const path of refused) {
        const reply = await get(port, path);
        assert.equal(reply.status, 403, `${path}: ${reply.body}`);
        assert.match(reply.body, /^MESSAGING_SUBJECT_DENIED: /, path);
      }
      // Everything the probe sends goes out in order, so once this arrives the refused ones would have.
      assert.equal((await get(port, '/publish?subject=app.sentinel')).status, 204);
      await waitFor(() => seen.some((m) => m.subject === 'app.sentinel'), 2000, 'the sentinel');
      assert.deepEqual(
        seen.map((m) => m.subject),
        ['app.sentinel'],
      );
    } finally {
      sub.unsubscribe();
      await spy.close();
    }
  });

  it('reports a request without responders, or unanswered within its timeout, with the code in the error string', async () => {
    const noOne = await get(port, '/request?subject=app.nobody&body=x');
    assert.equal(noOne.status, 502);
    assert.match(noOne.body, /^NO_RESPONDERS: /);

    const spy = lattice.connect();
    try {
      spy.subscribe('app.silent');
      await spy.flush();
      const began = performance.now();
      const silent = await get(port, '/request?subject=app.silent&timeout=100');
      assert.equal(silent.status, 502);
      assert.match(silent.body, /^REQUEST_TIMEOUT: /);
      assert.ok(performance.now() - began < 2000, 'the guest timeout was used');
    } finally {
      await spy.close();
    }
  });
});

describe('messaging subject rules', () => {
  it('refuses subjects and patterns that reach the lattice traffic, and allows application ones', () => {
    const table: [string, boolean][] = [
      ['app.orders.created', false],
      ['orders.*', false],
      ['orders.>', false],
      ['wasmbus', false],
      ['wasmbus.ctl.v1.default.link.put', true],
      ['wasmbus.>', true],
      ['_INBOX.abc', true],
      ['$JS.API.INFO', true],
      ['$KV.CONFIGDATA_default.x', true],
      ['$SYS.REQ.SERVER.PING', true],
      ['default.kv.wrpc.0.0.1.x', true],
      ['default.*.wrpc.>', true],
      ['default.kv.other', false],
      ['other-lattice.kv.wrpc.0.0.1.x', false],
      ['*.ctl.v1.default.link.put', true],
      ['*', true],
      ['>', true],
    ];
    for (const [subject, refused] of table) {
      assert.equal(reservedBy('default', subject) !== undefined, refused, subject);
    }
  });

  it('parses `subscriptions` with per-subject `subject|queue` and `queue_group` for the rest', () => {
    assert.deepEqual(
      parseSubscriptions('default', { subscriptions: ' a.b|q1 , c.d,, ', queue_group: 'q0' }),
      [
        { subject: 'a.b', queue: 'q1' },
        { subject: 'c.d', queue: 'q0' },
      ],
    );
    assert.deepEqual(parseSubscriptions('default', { SUBSCRIPTIONS: 'x' }), [
      { subject: 'x', queue: undefined },
    ]);
    assert.deepEqual(parseSubscriptions('default', {}), []);
    assert.throws(
      () => parseSubscriptions('default', { subscriptions: 'ok,wasmbus.evt.>' }),
      (err: Error & { code?: string }) => err.code === 'MESSAGING_SUBJECT_DENIED',
    );
    assert.throws(
      () => parseSubscriptions('default', { subscriptions: 'ok|bad queue' }),
      (err: Error & { code?: string }) => err.code === 'INVALID_ARGUMENT',
    );
  });
});

/** Records deliveries per component; `onDeliver` may act while a delivery is in flight. */
class FakeDelivery implements MessageDelivery {
  readonly received = new Map<string, BrokerMessage[]>();
  onDeliver: ((componentId: string, message: BrokerMessage) => Promise<void>) | undefined;

  async deliver(componentId: string, message: BrokerMessage): Promise<void> {
    const list = this.received.get(componentId) ?? [];
    list.push(message);
    this.received.set(componentId, list);
    await this.onDeliver?.(componentId, message);
  }

  of(componentId: string): BrokerMessage[] {
    return this.received.get(componentId) ?? [];
  }
}

describe('messaging handler links: subscriptions with a fake delivery', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;
  let spy: LatticeConnection;
  let provider: CapabilityProvider | undefined;
  const delivery = new FakeDelivery();
  const logs: LogEntry[] = [];

  // Keeps the started provider, so that a test can call its imports as a handler would.
  const messaging = createMessagingProvider({ delivery: () => delivery });
  const capturing: BuiltinProvider = {
    name: messaging.name,
    async start(context) {
      provider = await messaging.start(context);
      return provider;
    },
  };

  async function handlerLink(component: string, name: string, config: Record<string, string>): Promise<void> {
    await host.putConfig(`subs-${name}`, config);
    await host.putLink({
      source_id: 'msg',
      target: component,
      name,
      wit_namespace: 'wasmcloud',
      wit_package: 'messaging',
      interfaces: ['handler'],
      source_config: [`subs-${name}`],
    });
  }

  async function deleteHandlerLink(name: string): Promise<void> {
    await host.deleteLink({ source_id: 'msg', wit_namespace: 'wasmcloud', wit_package: 'messaging', name });
  }

  /** Whether anything on the lattice is subscribed to `subject`, without waiting on a timer. */
  async function hasSubscribers(subject: string): Promise<boolean> {
    try {
      await spy.request(subject, undefined, { timeoutMs: 1 });
      return true;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'NO_RESPONDERS') return false;
      if (code === 'REQUEST_TIMEOUT') return true;
      throw err;
    }
  }

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    spy = lattice.connect();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      heartbeatIntervalMs: 0,
      logger: capturingLogger(logs),
      builtinProviders: { ...BUILTIN_PROVIDERS, messaging: capturing },
    });
    await host.startProvider({ providerRef: 'wasmcloud+builtin://messaging', providerId: 'msg' });
  });

  after(async () => {
    await host.stop();
    await spy.close();
    await lattice.close();
    await dir.remove();
  });

  it('subscribes a component when a link from the provider arrives, and unsubscribes when it goes', async () => {
    await handlerLink('orders', 'orders', { subscriptions: 'orders.created,payments.>' });
    spy.publish('orders.created', encoder.encode('o-1'), { reply: 'app.answer' });
    spy.publish('payments.eu.done', encoder.encode('p-1'));
    await waitFor(() => delivery.of('orders').length === 2, 2000, 'two deliveries');
    assert.deepEqual(
      delivery.of('orders').map((m) => [m.subject, decoder.decode(m.body), m.replyTo]),
      [
        ['orders.created', 'o-1', 'app.answer'],
        ['payments.eu.done', 'p-1', undefined],
      ],
    );

    await deleteHandlerLink('orders');
    assert.equal(await hasSubscribers('orders.created'), false);
    assert.equal(await hasSubscribers('payments.eu.done'), false);
  });

  it('replaces the subscriptions when a link is put again with other config', async () => {
    await handlerLink('inventory', 'inventory', { subscriptions: 'stock.old' });
    assert.equal(await hasSubscribers('stock.old'), true);
    await handlerLink('inventory', 'inventory', { subscriptions: 'stock.new' });
    assert.equal(await hasSubscribers('stock.old'), false);
    assert.equal(await hasSubscribers('stock.new'), true);
    await deleteHandlerLink('inventory');
    assert.equal(await hasSubscribers('stock.new'), false);
  });

  it('shares a subject between the links of one queue group: each message reaches one of them', async () => {
    await handlerLink('worker-1', 'w1', { subscriptions: 'jobs', queue_group: 'workers' });
    await handlerLink('worker-2', 'w2', { subscriptions: 'jobs|workers' });
    await handlerLink('auditor', 'audit', { subscriptions: 'jobs' });
    for (let i = 0; i < 20; i++) spy.publish('jobs', encoder.encode(String(i)));
    await waitFor(
      () =>
        delivery.of('auditor').length === 20 &&
        delivery.of('worker-1').length + delivery.of('worker-2').length === 20,
      2000,
      'every job delivered',
    );
    const workers = [...delivery.of('worker-1'), ...delivery.of('worker-2')].map((m) =>
      decoder.decode(m.body),
    );
    assert.deepEqual(
      workers.sort((a, b) => Number(a) - Number(b)),
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
    for (const name of ['w1', 'w2', 'audit']) await deleteHandlerLink(name);
  });

  it('lets a handler publish to the _INBOX reply subject of the message it handles, only while it handles it', async () => {
    await handlerLink('responder', 'responder', { subscriptions: 'app.ask' });
    const replied: unknown[] = [];
    let replyTo: string | undefined;
    const publishAs = (component: string, subject: string): Promise<unknown> =>
      Promise.resolve(
        (
          provider?.exports?.['wasmcloud:messaging/consumer']?.['publish'] as (
            source: ImportSource,
            message: BrokerMessage,
          ) => unknown
        )(
          { sourceId: component, linkName: 'default', componentConfig: async () => ({}), invocation: 1 },
          { subject, body: encoder.encode('answer'), replyTo: undefined },
        ),
      );
    delivery.onDeliver = async (component, message) => {
      if (component !== 'responder' || message.replyTo === undefined) return;
      replyTo = message.replyTo;
      // Another component may not answer in its place.
      replied.push(await publishAs('intruder', message.replyTo));
      replied.push(await publishAs('responder', message.replyTo));
    };
    try {
      const answer = await withDeadline(
        spy.request('app.ask', encoder.encode('?'), { timeoutMs: 2000 }),
        3000,
        'the answer',
      );
      assert.equal(answer.string(), 'answer');
      assert.ok(replyTo?.startsWith('_INBOX.'));
      assert.equal((replied[0] as { tag: string; val: string }).tag, 'err');
      assert.match((replied[0] as { val: string }).val, /^MESSAGING_SUBJECT_DENIED: /);
      assert.deepEqual(replied[1], { tag: 'ok', val: undefined });
      // Once the delivery has finished, the reply subject is closed to the handler again.
      const late = await waitFor(
        async () => {
          const result = (await publishAs('responder', replyTo as string)) as { tag: string; val: string };
          return result.tag === 'err' ? result : undefined;
        },
        2000,
        'the reply subject to close',
      );
      assert.match(late.val, /^MESSAGING_SUBJECT_DENIED: /);
    } finally {
      delivery.onDeliver = undefined;
      await deleteHandlerLink('responder');
    }
  });

  it('fails a link whose subscriptions reach the lattice traffic with MESSAGING_SUBJECT_DENIED, subscribing none of them', async () => {
    await assert.rejects(
      handlerLink('sneaky', 'sneaky', { subscriptions: 'sneaky.ok,wasmbus.ctl.>' }),
      (err: Error & { code?: string }) => err.code === 'MESSAGING_SUBJECT_DENIED',
    );
    assert.equal(await hasSubscribers('sneaky.ok'), false);
  });

  it('logs a failing delivery once at warn until a delivery succeeds again', async () => {
    await handlerLink('flaky', 'flaky', { subscriptions: 'flaky.in' });
    let fail = true;
    delivery.onDeliver = async (component) => {
      if (component === 'flaky' && fail) throw new Error('handler is down');
    };
    try {
      for (let i = 0; i < 3; i++) spy.publish('flaky.in');
      await waitFor(() => delivery.of('flaky').length === 3, 2000, 'three deliveries');
      const failures = (): LogEntry[] => logs.filter((e) => e.message === 'message delivery failed');
      await waitFor(() => failures().length === 3, 2000, 'three failures logged');
      assert.deepEqual(
        failures().map((e) => e.level),
        ['warn', 'debug', 'debug'],
      );
      assert.equal(failures()[0]?.fields['component'], 'flaky');
      assert.match(String(failures()[0]?.fields['error']), /handler is down/);
      fail = false;
      spy.publish('flaky.in');
      await waitFor(() => delivery.of('flaky').length === 4, 2000, 'a good delivery');
      fail = true;
      spy.publish('flaky.in');
      await waitFor(() => failures().length === 4, 2000, 'the next failure');
      assert.equal(failures()[3]?.level, 'warn');
    } finally {
      delivery.onDeliver = undefined;
      await deleteHandlerLink('flaky');
    }
  });
});

describe('messaging handler links', () => {
  const handlerLink = {
    source_id: 'msg',
    target: 'handler',
    name: 'default',
    wit_namespace: 'wasmcloud',
    wit_package: 'messaging',
    interfaces: ['handler'],
    source_config: { subscriptions: 'app.in' },
    target_config: {},
  };

  it('the built-in delivers to the handler export of the linked component', async () => {
    const lattice = createMemoryLattice();
    const connection = lattice.connect();
    const calls: unknown[][] = [];
    try {
      const messaging = BUILTIN_PROVIDERS['messaging'];
      assert.ok(messaging !== undefined);
      const provider = await messaging.start({
        providerId: 'msg',
        hostId: 'host',
        lattice: 'default',
        connection,
        config: {},
        logger: capturingLogger([]),
        limits: resolveLimits(),
        components: {
          handleHttp: () => Promise.reject(new Error('not used')),
          invoke: async (...args) => {
            calls.push(args);
            return undefined;
          },
        },
      });
      assert.ok(provider);
      await provider.receiveLinkAsSource?.(handlerLink);
      connection.publish('app.in', new TextEncoder().encode('hi'));
      await waitFor(() => calls.length > 0, 2000, 'a delivery');
      const [componentId, iface, fn, args] = calls[0] as [string, string, string, [BrokerMessage]];
      assert.deepEqual(
        [componentId, iface, fn],
        ['handler', 'wasmcloud:messaging/handler', 'handle-message'],
      );
      assert.equal(args[0].subject, 'app.in');
      assert.equal(new TextDecoder().decode(args[0].body), 'hi');
      await provider.shutdown();
    } finally {
      await connection.close();
      await lattice.close();
    }
  });

  it('without a delivery accepts the link but subscribes nothing, and says why in the log', async () => {
    const lattice = createMemoryLattice();
    const logs: LogEntry[] = [];
    const connection = lattice.connect();
    try {
      const provider = await createMessagingProvider().start({
        providerId: 'msg',
        hostId: 'host',
        lattice: 'default',
        connection,
        config: {},
        logger: capturingLogger(logs),
        limits: resolveLimits(),
        components: {
          handleHttp: () => Promise.reject(new Error('not used')),
          invoke: () => Promise.reject(new Error('not used')),
        },
      });
      await provider.receiveLinkAsSource?.(handlerLink);
      await assert.rejects(connection.request('app.in', undefined, { timeoutMs: 1 }), /no responders/);
      assert.ok(logs.some((e) => e.level === 'warn' && e.message.includes('cannot call handle-message')));
      await provider.shutdown();
    } finally {
      await connection.close();
      await lattice.close();
    }
  });
});
