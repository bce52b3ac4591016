/**
 * The OTLP receiver against the real OpenTelemetry JS exporters, in both encodings (and gzipped):
 * what an SDK exports must come out of the receiver as it went in. Then what those exporters never
 * send but other OTLP writers may (unpacked repeated fields, unknown fields, numbers as strings),
 * and the refusals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, ValueType, trace } from '@opentelemetry/api';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { startOtlpReceiver, withDeadline } from '../src/index.ts';
import type { ReceivedMetric } from '../src/index.ts';

const WAIT_MS = 10_000;
const EXPORT_MS = 5_000;
const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';
const resource = resourceFromAttributes({ 'service.name': 'otlp-receiver-test' });

interface Variant<E> {
  name: string;
  contentType: string;
  contentEncoding: string;
  exporter: (url: string) => E;
}

const traceExporters: Variant<SpanExporter>[] = [
  {
    name: 'protobuf',
    contentType: PROTOBUF,
    contentEncoding: '',
    exporter: (url) => new ProtoTraceExporter({ url, timeoutMillis: EXPORT_MS }),
  },
  {
    name: 'JSON',
    contentType: JSON_TYPE,
    contentEncoding: '',
    exporter: (url) => new JsonTraceExporter({ url, timeoutMillis: EXPORT_MS }),
  },
  {
    name: 'gzipped protobuf',
    contentType: PROTOBUF,
    contentEncoding: 'gzip',
    exporter: (url) =>
      new ProtoTraceExporter({ url, timeoutMillis: EXPORT_MS, compression: CompressionAlgorithm.GZIP }),
  },
];

const metricExporters: Variant<PushMetricExporter>[] = [
  {
    name: 'protobuf',
    contentType: PROTOBUF,
    contentEncoding: '',
    exporter: (url) => new ProtoMetricExporter({ url, timeoutMillis: EXPORT_MS }),
  },
  {
    name: 'gzipped JSON',
    contentType: JSON_TYPE,
    contentEncoding: 'gzip',
    exporter: (url) =>
      new JsonMetricExporter({ url, timeoutMillis: EXPORT_MS, compression: CompressionAlgorithm.GZIP }),
  },
];

function metricNamed<K extends ReceivedMetric['kind']>(
  metrics: ReceivedMetric[],
  name: string,
  kind: K,
): Extract<ReceivedMetric, { kind: K }> {
  const found = metrics.find((metric) => metric.name === name);
  assert.ok(found !== undefined, `no metric ${name}`);
  assert.equal(found.kind, kind);
  return found as Extract<ReceivedMetric, { kind: K }>;
}

function post(url: string, body: Uint8Array, contentType: string): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': contentType },
    signal: AbortSignal.timeout(WAIT_MS),
  });
}

describe('OTLP receiver', { timeout: 60_000 }, () => {
  for (const variant of traceExporters) {
    it(`receives a parent and a child span from the ${variant.name} trace exporter`, async () => {
      await using receiver = await startOtlpReceiver();
      const provider = new TracerProvider({
        resource,
        spanProcessors: [
          new SimpleSpanProcessor({ exporter: variant.exporter(`${receiver.url}/v1/traces`) }),
        ],
      });
      const tracer = provider.getTracer('cirrus.test', '1.2.3');
      const parent = tracer.startSpan('GET /orders', {
        kind: SpanKind.SERVER,
        attributes: { 'http.route': '/orders', 'http.status_code': 201, 'cache.hit': true, ratio: 0.5 },
      });
      const child = tracer.startSpan(
        'redis GET',
        { kind: SpanKind.CLIENT, attributes: { 'db.system': 'redis', tags: ['a', 'b'] } },
        trace.setSpan(ROOT_CONTEXT, parent),
      );
      try {
        child.addEvent('retry', { attempt: 2 });
        child.setStatus({ code: SpanStatusCode.ERROR, message: 'connection refused' });
        child.end();
        parent.setStatus({ code: SpanStatusCode.OK });
        parent.end();
        await withDeadline(provider.forceFlush(), WAIT_MS, 'the spans to be exported');
      } finally {
        await withDeadline(provider.shutdown(), WAIT_MS, 'the tracer provider to shut down');
      }

      const { traceId, spanId: parentId } = parent.spanContext();
      const spans = await receiver.waitFor(
        () => {
          const both = receiver.spans.filter((span) => span.traceId === traceId);
          return both.length === 2 ? both : undefined;
        },
        { timeoutMs: WAIT_MS, what: 'the parent and child spans' },
      );
      assert.deepEqual(receiver.errors, []);
      for (const request of receiver.requests) {
        assert.deepEqual(request, {
          method: 'POST',
          path: '/v1/traces',
          contentType: variant.contentType,
          contentEncoding: variant.contentEncoding,
        });
      }

      const got = spans.find((span) => span.spanId === parentId);
      const gotChild = spans.find((span) => span.spanId === child.spanContext().spanId);
      assert.ok(got !== undefined && gotChild !== undefined, 'both spans, by their ids');
      assert.match(traceId, /^[0-9a-f]{32}$/);
      assert.equal(got.name, 'GET /orders');
      assert.equal(got.parentSpanId, '');
      assert.equal(got.kind, 2);
      assert.deepEqual(got.attributes, {
        'http.route': '/orders',
        'http.status_code': 201n,
        'cache.hit': true,
        ratio: 0.5,
      });
      assert.deepEqual(got.status, { code: 1, message: '' });
      assert.equal(got.resource['service.name'], 'otlp-receiver-test');
      assert.deepEqual(got.scope, { name: 'cirrus.test', version: '1.2.3' });
      assert.ok(got.startTimeUnixNano > 1_600_000_000_000_000_000n);
      assert.ok(got.endTimeUnixNano >= got.startTimeUnixNano);

      assert.equal(gotChild.name, 'redis GET');
      assert.equal(gotChild.parentSpanId, parentId);
      assert.equal(gotChild.kind, 3);
      assert.deepEqual(gotChild.attributes, { 'db.system': 'redis', tags: ['a', 'b'] });
      assert.deepEqual(gotChild.status, { code: 2, message: 'connection refused' });
      assert.deepEqual(
        gotChild.events.map(({ name, attributes }) => ({ name, attributes })),
        [{ name: 'retry', attributes: { attempt: 2n } }],
      );
    });
  }

  for (const variant of metricExporters) {
    it(`receives a counter, a histogram and a gauge from the ${variant.name} metric exporter`, async () => {
      await using receiver = await startOtlpReceiver();
      const reader = new PeriodicExportingMetricReader({
        exporter: variant.exporter(`${receiver.url}/v1/metrics`),
        // Exports happen when the test flushes, not on a timer.
        exportIntervalMillis: 600_000,
        exportTimeoutMillis: EXPORT_MS,
      });
      const provider = new MeterProvider({ resource, readers: [reader] });
      try {
        const meter = provider.getMeter('cirrus.test', '1.2.3');
        const orders = meter.createCounter('orders', {
          description: 'Orders taken',
          unit: '{order}',
          valueType: ValueType.INT,
        });
        orders.add(2, { region: 'eu' });
        orders.add(3, { region: 'eu' });
        orders.add(7, { region: 'us' });
        const latency = meter.createHistogram('latency', {
          unit: 'ms',
          advice: { explicitBucketBoundaries: [10, 100] },
        });
        for (const ms of [5, 50, 60, 500]) latency.record(ms);
        meter.createGauge('temperature', { unit: 'Cel' }).record(21.5);
        await withDeadline(reader.forceFlush(), WAIT_MS, 'the metrics to be exported');
      } finally {
        await withDeadline(provider.shutdown(), WAIT_MS, 'the meter provider to shut down');
      }

      const metrics = await receiver.waitFor(
        () => (receiver.metrics.length > 0 ? receiver.metrics : undefined),
        { timeoutMs: WAIT_MS, what: 'the metrics' },
      );
      assert.deepEqual(receiver.errors, []);
      assert.deepEqual(receiver.requests[0], {
        method: 'POST',
        path: '/v1/metrics',
        contentType: variant.contentType,
        contentEncoding: variant.contentEncoding,
      });

      const sum = metricNamed(metrics, 'orders', 'sum');
      assert.equal(sum.description, 'Orders taken');
      assert.equal(sum.unit, '{order}');
      assert.equal(sum.monotonic, true);
      assert.equal(sum.temporality, 2);
      assert.equal(sum.resource['service.name'], 'otlp-receiver-test');
      assert.deepEqual(sum.scope, { name: 'cirrus.test', version: '1.2.3' });
      const byRegion = new Map(sum.dataPoints.map((p) => [p.attributes['region'], p.value]));
      assert.deepEqual(
        byRegion,
        new Map([
          ['eu', 5],
          ['us', 7],
        ]),
      );

      const histogram = metricNamed(metrics, 'latency', 'histogram');
      assert.equal(histogram.unit, 'ms');
      assert.equal(histogram.temporality, 2);
      assert.equal(histogram.dataPoints.length, 1);
      const [point] = histogram.dataPoints;
      assert.deepEqual(
        { ...point, startTimeUnixNano: undefined, timeUnixNano: undefined },
        {
          attributes: {},
          startTimeUnixNano: undefined,
          timeUnixNano: undefined,
          count: 4,
          sum: 615,
          min: 5,
          max: 500,
          bucketCounts: [1, 2, 1],
          explicitBounds: [10, 100],
        },
      );

      const gauge = metricNamed(metrics, 'temperature', 'gauge');
      assert.deepEqual(
        gauge.dataPoints.map((p) => p.value),
        [21.5],
      );
    });
  }

  it('takes unpacked repeated fields and skips unknown ones in protobuf', async () => {
    await using receiver = await startOtlpReceiver();
    const varint = (value: number): Buffer => {
      const out: number[] = [];
      for (; value >= 0x80; value >>>= 7) out.push((value & 0x7f) | 0x80);
      out.push(value);
      return Buffer.from(out);
    };
    const delimited = (field: number, ...parts: Uint8Array[]): Buffer => {
      const body = Buffer.concat(parts);
      return Buffer.concat([varint((field << 3) | 2), varint(body.length), body]);
    };
    const fixed64 = (field: number, value: bigint): Buffer => {
      const out = Buffer.alloc(9);
      out[0] = (field << 3) | 1;
      out.writeBigUInt64LE(value, 1);
      return out;
    };
    const double = (field: number, value: number): Buffer => {
      const out = Buffer.alloc(9);
      out[0] = (field << 3) | 1;
      out.writeDoubleLE(value, 1);
      return out;
    };
    const point = Buffer.concat([
      fixed64(4, 3n),
      fixed64(6, 1n),
      fixed64(6, 2n),
      double(7, 10),
      Buffer.concat([varint((99 << 3) | 0), varint(12345)]),
    ]);
    const body = delimited(
      1,
      delimited(2, delimited(2, delimited(1, Buffer.from('h')), delimited(9, delimited(1, point)))),
    );
    const response = await post(`${receiver.url}/v1/metrics`, body, PROTOBUF);
    assert.equal(response.status, 200);
    assert.equal((await response.arrayBuffer()).byteLength, 0);
    const histogram = metricNamed(receiver.metrics, 'h', 'histogram');
    assert.equal(histogram.dataPoints[0]?.count, 3);
    assert.deepEqual(histogram.dataPoints[0]?.bucketCounts, [1, 2]);
    assert.deepEqual(histogram.dataPoints[0]?.explicitBounds, [10]);
  });

  it('reads OTLP JSON that writes numbers as strings or numbers, and ids in upper case', async () => {
    await using receiver = await startOtlpReceiver();
    const request = {
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '0AF7651916CD43DD8448EB211C80319C',
                  spanId: 'B7AD6B7169203331',
                  name: 'json',
                  kind: 1,
                  startTimeUnixNano: '1700000000000000001',
                  endTimeUnixNano: 'END',
                  attributes: [
                    { key: 'n', value: { intValue: 7 } },
                    { key: 'big', value: { intValue: '9007199254740993' } },
                    { key: 'nan', value: { doubleValue: 'NaN' } },
                    { key: 'raw', value: { bytesValue: 'AQID' } },
                    {
                      key: 'kv',
                      value: { kvlistValue: { values: [{ key: 'a', value: { boolValue: false } }] } },
                    },
                    { key: 'empty', value: {} },
                  ],
                },
              ],
            },
          ],
        },
      ],
    };
    // A JSON number beyond 2^53, which a JavaScript literal could not hold exactly.
    const text = JSON.stringify(request).replace('"END"', '1700000000000000002');
    const response = await post(`${receiver.url}/v1/traces`, Buffer.from(text), JSON_TYPE);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {});
    const [span] = receiver.spans;
    assert.ok(span !== undefined);
    assert.equal(span.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(span.spanId, 'b7ad6b7169203331');
    assert.equal(span.startTimeUnixNano, 1700000000000000001n);
    assert.equal(span.endTimeUnixNano, 1700000000000000002n);
    assert.deepEqual(span.attributes, {
      n: 7n,
      big: 9007199254740993n,
      nan: NaN,
      raw: new Uint8Array([1, 2, 3]),
      kv: { a: false },
      empty: null,
    });
  });

  it('refuses a body that is not protobuf with 400 and records why', async () => {
    await using receiver = await startOtlpReceiver();
    // Field 1, length-delimited, announcing 2^28 bytes where 3 follow.
    const garbage = Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x01, 1, 2, 3]);
    const response = await post(`${receiver.url}/v1/traces`, garbage, PROTOBUF);
    assert.equal(response.status, 400);
    assert.equal(receiver.errors.length, 1);
    assert.match(
      receiver.errors[0]?.message ?? '',
      /^POST \/v1\/traces .*400 cannot decode the body: truncated/,
    );
    assert.deepEqual(receiver.spans, []);
  });

  it('refuses an unknown path with 404, and times out naming it', async () => {
    await using receiver = await startOtlpReceiver();
    const response = await post(`${receiver.url}/v1/trace`, Buffer.alloc(0), PROTOBUF);
    assert.equal(response.status, 404);
    assert.deepEqual(
      receiver.requests.map((r) => r.path),
      ['/v1/trace'],
    );
    await assert.rejects(
      receiver.waitFor(() => receiver.spans[0], { timeoutMs: 50, what: 'a span' }),
      /waiting for a span .*POST \/v1\/trace .*404 not an OTLP path/,
    );
  });

  it('refuses a body over 16 MiB with 413', async () => {
    await using receiver = await startOtlpReceiver();
    const response = await post(`${receiver.url}/v1/metrics`, Buffer.alloc(16 * 1024 * 1024 + 1), PROTOBUF);
    assert.equal(response.status, 413);
    assert.equal(receiver.errors.length, 1);
  });
});
