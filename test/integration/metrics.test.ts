/**
 * Metrics across two `cirrus up --nats` hosts: host A runs the HTTP server, host B runs hello and
 * probe, so every request crosses the lattice and is counted on B, the host whose instance ran it.
 * Both serve Prometheus text (`--metrics 127.0.0.1:0`), and B also pushes OTLP/HTTP to a receiver
 * that decodes the real protobuf.
 *
 * Guarantees: after N requests B's invocation counter has grown by exactly N for that component and
 * its histogram's count and buckets by N too; failures are counted under their error code; A counts
 * nothing for a component it does not run; `host.metrics` over the control interface and the last
 * OTLP export carry the same numbers as the scrape.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  freePort,
  httpGet,
  startNatsServer,
  startOtlpReceiver,
  tempDir,
  waitFor,
  withDeadline,
} from '@cirrus/testing';
import type { NatsServer, OtlpReceiver, TempDir } from '@cirrus/testing';
import { controlOverNats, HELLO_WASM, killAll, ROOT, routeHttp, startCirrusUp } from '../failure/support.ts';
import type { CirrusProcess, ControlSession } from '../failure/support.ts';

const PROBE_WASM = join(ROOT, 'packages/testing/fixtures/probe/build/probe.wasm');
const LATTICE = 'metrics';
const REQUESTS = 25;

/** One sample of a Prometheus scrape: `name{labels} value`, labels as written. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = (pair[2] as string).replace(/\\(.)/g, '$1');
    }
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await withDeadline(fetch(url), 10_000, `scrape ${url}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  return parsePrometheus(await res.text());
}

/** The sum of the samples named `name` whose labels include `labels`. */
function total(samples: readonly Sample[], name: string, labels: Record<string, string>): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** The status of a GET with its own Host header. */
async function get(port: number, path: string, host: string): Promise<number> {
  return (await httpGet(port, path, { host, timeoutMs: 30_000 })).status;
}

describe('metrics', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let otlp: OtlpReceiver;
  let control: ControlSession;
  let a: CirrusProcess;
  let b: CirrusProcess;
  let port: number;
  const metricsUrl = new Map<CirrusProcess, string>();

  const startHost = async (name: string, env: Record<string, string> = {}): Promise<CirrusProcess> => {
    const host = await startCirrusUp({
      dir: join(dir.path, name),
      cacheDir: join(dir.path, 'cache'),
      label: name,
      env,
      args: [
        ...['--nats', nats.url, '--lattice', LATTICE, '--name', name, '--log-format', 'json'],
        ...['--metrics', '127.0.0.1:0', '--no-dashboard'],
      ],
    });
    const served = await host.waitForRecord((r) => r.msg === 'metrics served', 10_000, 'the metrics URL');
    metricsUrl.set(host, served['url'] as string);
    return host;
  };

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    otlp = await startOtlpReceiver();
    control = await controlOverNats(nats.url, { lattice: LATTICE });
    [a, b] = await Promise.all([
      startHost('a'),
      startHost('b', { OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_METRIC_EXPORT_INTERVAL: '250' }),
    ]);
    port = await freePort();
    await control.client.startProvider({
      hostId: a.hostId(),
      providerRef: 'wasmcloud+builtin://http-server',
      providerId: 'web',
    });
    for (const [componentId, componentRef] of [
      ['hello', HELLO_WASM],
      ['probe', PROBE_WASM],
    ] as const) {
      await control.client.scaleComponent(
        { hostId: b.hostId(), componentRef, componentId, count: 2 },
        { wait: true, waitTimeoutMs: 60_000 },
      );
      await routeHttp(control.client, { serverId: 'web', componentId, port, host: `${componentId}.test` });
    }
    await waitFor(
      async () => (await get(port, '/', 'hello.test').catch(() => 0)) === 200,
      20_000,
      'host A to serve hello from host B',
    );
  });

  after(async () => {
    await control?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    killAll();
    await otlp?.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('counts exactly the N requests on the host that ran them, in the counter and the histogram', async () => {
    const url = metricsUrl.get(b) as string;
    const hello = { component_id: 'hello', host_id: b.hostId() };
    const before = await scrape(url);
    for (let i = 0; i < REQUESTS; i++) assert.equal(await get(port, '/', 'hello.test'), 200);
    const afterwards = await scrape(url);
    const grown = (name: string, labels: Record<string, string>): number =>
      total(afterwards, name, labels) - total(before, name, labels);
    assert.equal(grown('cirrus_component_invocations_total', { ...hello, code: 'ok' }), REQUESTS);
    assert.equal(grown('cirrus_component_invocations_total', hello), REQUESTS, 'no failure counted');
    assert.equal(grown('cirrus_component_invocation_duration_seconds_count', hello), REQUESTS);
    assert.equal(
      grown('cirrus_component_invocation_duration_seconds_bucket', { ...hello, le: '+Inf' }),
      REQUESTS,
    );
    assert.ok(grown('cirrus_component_invocation_duration_seconds_sum', hello) > 0);
    // Buckets are cumulative: each holds at most what the next one does.
    const buckets = afterwards.filter(
      (s) =>
        s.name === 'cirrus_component_invocation_duration_seconds_bucket' &&
        s.labels['component_id'] === 'hello',
    );
    for (let i = 1; i < buckets.length; i++) {
      assert.ok((buckets[i - 1] as Sample).value <= (buckets[i] as Sample).value, 'cumulative buckets');
    }
    assert.equal(total(afterwards, 'cirrus_component_max_instances', hello), 2);
    const onA = await scrape(metricsUrl.get(a) as string);
    assert.equal(total(onA, 'cirrus_component_invocations_total', { component_id: 'hello' }), 0);
    assert.ok(total(onA, 'cirrus_lattice_messages_total', { direction: 'out' }) > REQUESTS);
    assert.ok(total(onA, 'cirrus_process_resident_memory_bytes', {}) > 0);
  });

  it('counts failed invocations under their error code', async () => {
    const url = metricsUrl.get(b) as string;
    const probe = { component_id: 'probe' };
    const before = await scrape(url);
    for (let i = 0; i < 3; i++) assert.equal(await get(port, '/throw', 'probe.test'), 500);
    assert.equal(await get(port, '/big?bytes=10', 'probe.test'), 200);
    const afterwards = await scrape(url);
    const failures = afterwards.filter(
      (s) =>
        s.name === 'cirrus_component_invocations_total' &&
        s.labels['component_id'] === 'probe' &&
        s.labels['code'] !== 'ok',
    );
    assert.equal(failures.length, 1, `one failure code: ${JSON.stringify(failures)}`);
    const code = (failures[0] as Sample).labels['code'] as string;
    assert.equal(code, 'GUEST_TRAP', 'an uncaught exception in the guest');
    const grown = (labels: Record<string, string>): number =>
      total(afterwards, 'cirrus_component_invocations_total', labels) -
      total(before, 'cirrus_component_invocations_total', labels);
    assert.equal(grown({ ...probe, code }), 3);
    assert.equal(grown({ ...probe, code: 'ok' }), 1);
  });

  it('reports the same numbers over the control interface and over OTLP', async () => {
    const scraped = total(await scrape(metricsUrl.get(b) as string), 'cirrus_component_invocations_total', {
      component_id: 'hello',
      code: 'ok',
    });
    assert.ok(scraped >= REQUESTS);
    const reply = await control.client.getHostMetrics(b.hostId());
    assert.equal(reply.host_id, b.hostId());
    const hello = reply.components.find((c) => c.component_id === 'hello');
    assert.equal(hello?.invocations['ok'], scraped);
    assert.equal(
      hello?.duration.counts.reduce((x, y) => x + y, 0),
      scraped,
      'histogram count as the counter',
    );

    const exported = await otlp.waitFor(
      () => {
        for (let i = otlp.metrics.length - 1; i >= 0; i--) {
          const metric = otlp.metrics[i];
          if (metric?.name !== 'cirrus_component_invocations' || metric.kind !== 'sum') continue;
          const point = metric.dataPoints.find(
            (p) => p.attributes['component_id'] === 'hello' && p.attributes['code'] === 'ok',
          );
          if (point?.value === scraped) return { metric, point };
        }
        return undefined;
      },
      { timeoutMs: 10_000, what: `an OTLP export with ${scraped} hello invocations` },
    );
    assert.equal(exported.metric.monotonic, true);
    assert.equal(exported.metric.temporality, 2, 'cumulative');
    assert.equal(exported.metric.resource['service.instance.id'], b.hostId());
    assert.equal(exported.metric.resource['service.name'], 'cirrus-host');
    assert.equal(exported.point.attributes['host_id'], b.hostId());
    const histogram = otlp.metrics.findLast((m) => m.name === 'cirrus_component_invocation_duration_seconds');
    assert.equal(histogram?.kind, 'histogram');
    assert.equal(histogram?.unit, 's');
    assert.ok(
      otlp.requests.every((r) => r.path === '/v1/metrics' && r.contentType === 'application/x-protobuf'),
    );
    assert.deepEqual(otlp.errors, []);
  });
});
