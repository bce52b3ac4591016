/**
 * One trace across two `cirrus up --nats` hosts, exported over OTLP/HTTP protobuf to a receiver that
 * decodes it: host A runs the HTTP server and the counter component, host B runs the key-value
 * provider the counter is linked to. One request gives one trace: the HTTP server span, the
 * component's invocation, its import call, the wRPC client span on A, the wRPC server span on B (the
 * context crossed in the NATS headers as `traceparent`), and the provider's span on B, each the
 * child of the one before. A `traceparent` sent by the HTTP client is continued, not replaced.
 *
 * Also: a provider process written with the SDK (examples/greeter-provider, started by host B with
 * the OTEL_* variables passed on) serves its call in the same trace, as a service of its own; and a
 * guest's stdout line in host A's log names its component, the call, and the trace and span.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { freePort, httpGet, startNatsServer, startOtlpReceiver, tempDir, waitFor } from '@cirrus/testing';
import type { NatsServer, OtlpReceiver, ReceivedSpan, TempDir } from '@cirrus/testing';
import { controlOverNats, killAll, ROOT, routeHttp, startCirrusUp } from '../failure/support.ts';
import type { CirrusProcess, ControlSession } from '../failure/support.ts';

const COUNTER_WASM = join(ROOT, 'examples/counter/build/counter.wasm');
const GREET_CLIENT_WASM = join(ROOT, 'packages/testing/fixtures/greet-client/build/greet-client.wasm');
const PROBE_WASM = join(ROOT, 'packages/testing/fixtures/probe/build/probe.wasm');
const GREETER_MAIN = join(ROOT, 'examples/greeter-provider/src/main.ts');
const LATTICE = 'tracing';
const SPAN_KIND = { INTERNAL: 1, SERVER: 2, CLIENT: 3 } as const;

async function get(
  port: number,
  path: string,
  host: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return (await httpGet(port, path, { host, headers, timeoutMs: 20_000 })).status;
}

describe('tracing', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let otlp: OtlpReceiver;
  let control: ControlSession;
  let a: CirrusProcess;
  let b: CirrusProcess;
  let port: number;

  const startHost = (name: string): Promise<CirrusProcess> =>
    startCirrusUp({
      dir: join(dir.path, name),
      cacheDir: join(dir.path, 'cache'),
      label: name,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_BSP_SCHEDULE_DELAY: '100' },
      args: [
        '--nats',
        nats.url,
        '--lattice',
        LATTICE,
        '--name',
        name,
        '--log-format',
        'json',
        '--no-dashboard',
      ],
    });

  /** Every span of the trace `traceId`, once `count` of them have arrived. */
  const trace = (traceId: string, count: number): Promise<ReceivedSpan[]> =>
    otlp.waitFor(
      () => {
        const spans = otlp.spans.filter((s) => s.traceId === traceId);
        return spans.length >= count ? spans : undefined;
      },
      { timeoutMs: 10_000, what: `${count} spans of trace ${traceId}` },
    );

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    otlp = await startOtlpReceiver();
    control = await controlOverNats(nats.url, { lattice: LATTICE });
    [a, b] = await Promise.all([startHost('a'), startHost('b')]);
    port = await freePort();
    await control.client.startProvider(
      { hostId: b.hostId(), providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'kv' },
      { wait: true },
    );
    await control.client.startProvider(
      { hostId: a.hostId(), providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' },
      { wait: true },
    );
    await control.client.startProvider(
      { hostId: b.hostId(), providerRef: pathToFileURL(GREETER_MAIN).href, providerId: 'greeter' },
      { wait: true },
    );
    await control.client.putConfig('kv-memory', { backend: 'memory' });
    for (const [id, ref] of [
      ['counter', COUNTER_WASM],
      ['client', GREET_CLIENT_WASM],
      ['probe', PROBE_WASM],
    ] as const) {
      await control.client.scaleComponent(
        { hostId: a.hostId(), componentRef: ref, componentId: id, count: 1 },
        { wait: true, waitTimeoutMs: 60_000 },
      );
      await routeHttp(control.client, { serverId: 'web', componentId: id, port, host: `${id}.test` });
    }
    await control.client.putLink({
      source_id: 'counter',
      target: 'kv',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
      source_config: [],
      target_config: ['kv-memory'],
    });
    await control.client.putLink({
      source_id: 'client',
      target: 'greeter',
      name: 'default',
      wit_namespace: 'example',
      wit_package: 'greeter',
      interfaces: ['greet'],
      source_config: [],
      target_config: [],
    });
    for (const host of ['counter.test', 'client.test']) {
      await waitFor(
        async () => (await get(port, '/warm', host).catch(() => 0)) === 200,
        20_000,
        `${host} to serve`,
      );
    }
  });

  after(async () => {
    await control?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    killAll();
    await otlp?.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('follows one counter request from the HTTP server on A to the key-value provider on B', async () => {
    const sent = otlp.spans.length;
    assert.equal(await get(port, '/traced', 'counter.test'), 200);
    const server = await otlp.waitFor(
      () =>
        otlp.spans
          .slice(sent)
          .find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['url.path'] === '/traced'),
      { timeoutMs: 10_000, what: 'the HTTP server span of GET /traced' },
    );
    assert.equal(server.name, 'GET');
    assert.equal(server.parentSpanId, '', 'a root span');
    assert.equal(server.attributes['http.request.method'], 'GET');
    assert.equal(server.attributes['http.response.status_code'], 200n);
    assert.equal(server.resource['service.instance.id'], a.hostId());

    // HTTP server → component → import → wRPC client (A) → wRPC server → provider (B), and the
    // bucket's open, an import served on A.
    const spans = await trace(server.traceId, 7);
    const childOf = (
      parent: ReceivedSpan,
      pick: (s: ReceivedSpan) => boolean,
      what: string,
    ): ReceivedSpan => {
      const found = spans.find((s) => s.parentSpanId === parent.spanId && pick(s));
      assert.ok(
        found,
        `${what}, child of ${parent.name}; the trace: ${spans.map((s) => `${s.name}<-${s.parentSpanId}`).join(', ')}`,
      );
      return found;
    };
    const component = childOf(
      server,
      (s) => s.attributes['cirrus.component_id'] === 'counter',
      'the component span',
    );
    assert.equal(component.name, 'wasi:http/incoming-handler/handle');
    assert.equal(component.kind, SPAN_KIND.INTERNAL);
    // The counter's increment goes to B; opening the bucket only makes a handle on A.
    const importCall = childOf(
      component,
      (s) => s.kind === SPAN_KIND.CLIENT && s.name === 'wasi:keyvalue/atomics/increment',
      'the import span of increment',
    );
    assert.equal(importCall.attributes['cirrus.target_id'], 'kv');
    assert.equal(importCall.resource['service.instance.id'], a.hostId());
    const client = childOf(
      importCall,
      (s) => s.attributes['rpc.system'] === 'wrpc' && s.kind === SPAN_KIND.CLIENT,
      'the wRPC client span',
    );
    assert.match(client.name, /^wrpc:keyvalue\/[a-z]+@[0-9.a-z-]+\/[a-z-]+$/);
    assert.equal(client.attributes['messaging.system'], 'nats');
    const wrpcServer = childOf(client, (s) => s.kind === SPAN_KIND.SERVER, 'the wRPC server span');
    assert.equal(wrpcServer.name, client.name);
    assert.equal(wrpcServer.resource['service.instance.id'], b.hostId(), 'served on B');
    const provider = childOf(
      wrpcServer,
      (s) => s.attributes['cirrus.provider_id'] === 'kv',
      'the provider span',
    );
    assert.equal(provider.resource['service.instance.id'], b.hostId());
    for (const span of [server, component, importCall, client, wrpcServer, provider]) {
      assert.equal(span.status.code, 0, `${span.name} is not an error`);
      assert.ok(span.endTimeUnixNano >= span.startTimeUnixNano);
    }
    assert.deepEqual(otlp.errors, []);
  });

  it('continues the trace of a client that sent a traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    assert.equal(
      await get(port, '/continued', 'counter.test', { traceparent: `00-${traceId}-${parent}-01` }),
      200,
    );
    const server = await otlp.waitFor(
      () => otlp.spans.find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['url.path'] === '/continued'),
      { timeoutMs: 10_000, what: 'the HTTP server span of GET /continued' },
    );
    assert.equal(server.traceId, traceId);
    assert.equal(server.parentSpanId, parent);
    assert.ok((await trace(traceId, 7)).some((s) => s.resource['service.instance.id'] === b.hostId()));
  });

  it('carries the trace into a provider process, which reports as a service of its own', async () => {
    const sent = otlp.spans.length;
    assert.equal(await get(port, '/Ada', 'client.test'), 200);
    const server = await otlp.waitFor(
      () =>
        otlp.spans
          .slice(sent)
          .find((s) => s.kind === SPAN_KIND.SERVER && s.attributes['url.path'] === '/Ada'),
      { timeoutMs: 10_000, what: 'the HTTP server span of GET /Ada' },
    );
    const served = await otlp.waitFor(
      () =>
        otlp.spans.find(
          (s) =>
            s.traceId === server.traceId &&
            s.kind === SPAN_KIND.SERVER &&
            s.resource['service.name'] === 'greeter-provider',
        ),
      { timeoutMs: 10_000, what: 'the wRPC server span in the provider process' },
    );
    assert.equal(served.name, 'example:greeter/greet@0.1.0/greet');
    const client = otlp.spans.find((s) => s.spanId === served.parentSpanId);
    assert.equal(client?.kind, SPAN_KIND.CLIENT, 'its parent is the wRPC client span on host A');
    assert.equal(client?.resource['service.instance.id'], a.hostId());
  });

  it("puts a guest's output in the host log with its component, call, trace and span", async () => {
    const from = a.log.length;
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    assert.equal(
      await get(port, '/log', 'probe.test', { traceparent: `00-${traceId}-b7ad6b7169203331-01` }),
      200,
    );
    const line = await a.waitForRecord(
      (r) => r.msg === 'probe says hello on stdout',
      10_000,
      "the probe's stdout line",
      from,
    );
    assert.equal(line['component'], 'probe');
    assert.equal(line['stream'], 'stdout');
    assert.equal(typeof line['invocation'], 'number');
    assert.equal(line['trace_id'], traceId);
    const spans = await trace(traceId, 2);
    const invocation = spans.find(
      (s) => s.attributes['cirrus.component_id'] === 'probe' && s.kind === SPAN_KIND.INTERNAL,
    );
    assert.equal(line['span_id'], invocation?.spanId, 'the span of the invocation that wrote it');
  });
});
