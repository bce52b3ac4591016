import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DataPointType } from '@opentelemetry/sdk-metrics';
import { DEFAULT_LIMITS, INVOCATION_DURATION_BOUNDS_SECONDS } from '@cirrus/protocol';
import type { HostMetrics } from '@cirrus/protocol';
import {
  hostResource,
  METRICS,
  metricFamilies,
  otlpMetricsTarget,
  otlpTracesTarget,
  renderPrometheus,
  resourceMetrics,
} from '../src/index.ts';

const BUCKETS = INVOCATION_DURATION_BOUNDS_SECONDS.length + 1;

function snapshot(): HostMetrics {
  const counts = new Array<number>(BUCKETS).fill(0);
  counts[0] = 2;
  counts[3] = 1;
  return {
    host_id: 'NHOST',
    started_at_ms: 1_700_000_000_000,
    at_ms: 1_700_000_060_500,
    duration_bounds_seconds: [...INVOCATION_DURATION_BOUNDS_SECONDS],
    components: [
      {
        component_id: 'counter-counter',
        invocations: { ok: 2, DEADLINE_EXCEEDED: 1 },
        duration: { counts, sum_seconds: 0.0012 },
        pool: { max_instances: 4, instances: 2, busy: 1, waiting: 0 },
      },
    ],
    providers: [
      {
        provider_id: 'kv "main"\nstore',
        invocations: { ok: 5 },
        duration: { counts: new Array<number>(BUCKETS).fill(0).fill(5, 0, 1), sum_seconds: 0.0002 },
      },
    ],
    lattice: { messages_in: 10, messages_out: 12, bytes_in: 1000, bytes_out: 1200 },
    process: { cpu_user_seconds: 1.5, cpu_system_seconds: 0.25, resident_bytes: 100, heap_used_bytes: 50 },
  };
}

describe('Prometheus text', () => {
  const text = renderPrometheus(metricFamilies(snapshot()));
  const lines = text.split('\n');

  it('declares every metric of the catalogue once, with its help and type', () => {
    for (const spec of Object.values(METRICS)) {
      assert.equal(lines.filter((l) => l === `# TYPE ${spec.name} ${spec.kind}`).length, 1, spec.name);
      assert.ok(lines.includes(`# HELP ${spec.name} ${spec.help}`), spec.name);
    }
    assert.ok(text.endsWith('\n'));
  });

  it('writes counters by outcome and cumulative histogram buckets', () => {
    const id = 'host_id="NHOST",component_id="counter-counter"';
    assert.ok(lines.includes(`cirrus_component_invocations_total{${id},code="ok"} 2`));
    assert.ok(lines.includes(`cirrus_component_invocations_total{${id},code="DEADLINE_EXCEEDED"} 1`));
    assert.ok(lines.includes(`cirrus_component_invocation_duration_seconds_bucket{${id},le="0.0001"} 2`));
    assert.ok(lines.includes(`cirrus_component_invocation_duration_seconds_bucket{${id},le="0.0005"} 2`));
    assert.ok(lines.includes(`cirrus_component_invocation_duration_seconds_bucket{${id},le="0.001"} 3`));
    assert.ok(lines.includes(`cirrus_component_invocation_duration_seconds_bucket{${id},le="+Inf"} 3`));
    assert.ok(lines.includes(`cirrus_component_invocation_duration_seconds_count{${id}} 3`));
    assert.ok(lines.includes(`cirrus_component_invocation_duration_seconds_sum{${id}} 0.0012`));
    assert.ok(lines.includes(`cirrus_component_instances_busy{${id}} 1`));
    assert.ok(lines.includes('cirrus_process_cpu_seconds_total{host_id="NHOST",mode="system"} 0.25'));
    assert.ok(lines.includes('cirrus_lattice_messages_total{host_id="NHOST",direction="out"} 12'));
  });

  it('escapes quotes, backslashes and newlines in label values', () => {
    assert.ok(
      lines.includes(
        'cirrus_provider_invocations_total{host_id="NHOST",provider_id="kv \\"main\\"\\nstore",code="ok"} 5',
      ),
    );
  });
});

describe('OTLP metrics', () => {
  const data = resourceMetrics(hostResource({}, { id: 'NHOST', version: '1.2.3' }), snapshot());
  const metrics = data.scopeMetrics[0]?.metrics ?? [];

  it('carries the same figures, cumulative, with the host as the resource', () => {
    assert.equal(data.resource.attributes['service.instance.id'], 'NHOST');
    assert.equal(data.resource.attributes['service.name'], 'cirrus-host');
    const invocations = metrics.find((m) => m.descriptor.name === 'cirrus_component_invocations');
    assert.equal(invocations?.dataPointType, DataPointType.SUM);
    assert.deepEqual(
      invocations?.dataPoints.map((p) => [p.attributes['code'], p.value]),
      [
        ['ok', 2],
        ['DEADLINE_EXCEEDED', 1],
      ],
    );
    assert.deepEqual(invocations?.dataPoints[0]?.startTime, [1_700_000_000, 0]);
    assert.deepEqual(invocations?.dataPoints[0]?.endTime, [1_700_000_060, 500_000_000]);
    const duration = metrics.find(
      (m) => m.descriptor.name === 'cirrus_component_invocation_duration_seconds',
    );
    assert.equal(duration?.dataPointType, DataPointType.HISTOGRAM);
    const point = duration?.dataPoints[0]?.value as { count: number; buckets: { counts: number[] } };
    assert.equal(point.count, 3);
    assert.equal(point.buckets.counts.length, BUCKETS);
    assert.equal(duration?.descriptor.unit, 's');
  });

  it('takes OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, percent-decoded', () => {
    const resource = hostResource(
      {
        OTEL_SERVICE_NAME: 'edge',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,team=a%2Cb,bad=%E0%A4%A',
      },
      { id: 'NHOST', version: '1' },
    );
    assert.equal(resource.attributes['service.name'], 'edge');
    assert.equal(resource.attributes['deployment.environment'], 'prod');
    assert.equal(resource.attributes['team'], 'a,b');
    assert.equal(resource.attributes['bad'], undefined);
  });
});

describe('OTLP settings', () => {
  const cases: [string, Record<string, string>, string | undefined, unknown][] = [
    ['off by default', {}, undefined, undefined],
    ['the flag', {}, 'http://c:4318/', { url: 'http://c:4318/v1/metrics', protocol: 'http/protobuf' }],
    [
      'the base variable',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c' },
      undefined,
      { url: 'https://c/v1/metrics', protocol: 'http/protobuf' },
    ],
    [
      'the signal variable, as given, over the flag',
      { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m/custom' },
      'http://c:4318',
      { url: 'http://m/custom', protocol: 'http/protobuf' },
    ],
    [
      'JSON',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' },
      undefined,
      { url: 'http://c/v1/metrics', protocol: 'http/json' },
    ],
    [
      'the exporter asked for by name',
      { OTEL_METRICS_EXPORTER: 'otlp' },
      undefined,
      { url: 'http://localhost:4318/v1/metrics', protocol: 'http/protobuf' },
    ],
    [
      'none',
      { OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' },
      undefined,
      undefined,
    ],
    ['disabled', { OTEL_SDK_DISABLED: 'true' }, 'http://c', undefined],
  ];
  for (const [what, env, flag, expected] of cases) {
    it(what, () => {
      const target = otlpMetricsTarget(env, DEFAULT_LIMITS, flag);
      assert.deepEqual(target && { url: target.url, protocol: target.protocol }, expected);
    });
  }

  it('takes the interval and timeout from the variables, checked like the limits', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_METRIC_EXPORT_INTERVAL: '250' };
    const target = otlpMetricsTarget({ ...env, OTEL_EXPORTER_OTLP_TIMEOUT: '2000' }, DEFAULT_LIMITS);
    assert.equal(target?.intervalMs, 250);
    assert.equal(target?.timeoutMs, 2000);
    assert.equal(
      otlpMetricsTarget({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }, DEFAULT_LIMITS)?.intervalMs,
      60_000,
    );
    assert.throws(() => otlpMetricsTarget({ ...env, OTEL_METRIC_EXPORT_INTERVAL: '5' }, DEFAULT_LIMITS), {
      code: 'INVALID_LIMIT',
      message: /OTEL_METRIC_EXPORT_INTERVAL/,
    });
  });

  it('refuses what it cannot honour, with a hint', () => {
    for (const env of [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://c' },
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' },
      { OTEL_METRICS_EXPORTER: 'console' },
    ]) {
      assert.throws(
        () => otlpMetricsTarget(env, DEFAULT_LIMITS),
        { code: 'USAGE_ERROR' },
        JSON.stringify(env),
      );
    }
  });
});

describe('OTLP trace settings', () => {
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' };

  it('sample what the caller sampled, and every root, unless told otherwise', () => {
    const target = otlpTracesTarget(env, DEFAULT_LIMITS);
    assert.equal(target?.url, 'http://c/v1/traces');
    assert.deepEqual(target?.sampler, { kind: 'parentbased_always_on' });
    assert.equal(target?.exportDelayMs, 5_000);
    assert.equal(target?.maxQueueSpans, 2_048);
  });

  it('takes the sampler, its ratio and the batch settings from the variables', () => {
    const target = otlpTracesTarget(
      {
        ...env,
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        OTEL_BSP_MAX_QUEUE_SIZE: '64',
      },
      DEFAULT_LIMITS,
    );
    assert.deepEqual(target?.sampler, { kind: 'parentbased_traceidratio', ratio: 0.25 });
    assert.equal(target?.exportDelayMs, 100);
    assert.equal(target?.maxQueueSpans, 64);
    assert.equal(otlpTracesTarget({ ...env, OTEL_TRACES_EXPORTER: 'none' }, DEFAULT_LIMITS), undefined);
  });

  it('refuses a sampler or ratio it does not know', () => {
    assert.throws(() => otlpTracesTarget({ ...env, OTEL_TRACES_SAMPLER: 'jaeger_remote' }, DEFAULT_LIMITS), {
      code: 'USAGE_ERROR',
    });
    assert.throws(
      () =>
        otlpTracesTarget(
          { ...env, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' },
          DEFAULT_LIMITS,
        ),
      { code: 'USAGE_ERROR' },
    );
    assert.throws(() => otlpTracesTarget({ ...env, OTEL_BSP_MAX_QUEUE_SIZE: '0' }, DEFAULT_LIMITS), {
      code: 'INVALID_LIMIT',
    });
  });
});

describe('docs/observability.md', () => {
  const doc = readFileSync(new URL('../../../docs/observability.md', import.meta.url), 'utf8');
  const rows = doc.split('\n').filter((l) => /^\| `cirrus_/.test(l));

  it('lists every metric with its type and meaning, and no other', () => {
    const documented = rows.map((l) => /^\| `([a-z_]+)`/.exec(l)?.[1]);
    assert.deepEqual(
      documented,
      Object.values(METRICS).map((s) => s.name),
    );
    for (const spec of Object.values(METRICS)) {
      const row = rows.find((l) => l.startsWith(`| \`${spec.name}\``)) as string;
      const cells = row.split('|').map((c) => c.trim());
      assert.equal(cells[2], spec.kind, spec.name);
      assert.equal(cells[4], spec.help, spec.name);
    }
  });
});
