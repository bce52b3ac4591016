/**
 * Every metric a Cirrus host exports, declared once: the Prometheus endpoint, the OTLP exporter and
 * docs/observability.md (kept in sync by a test) all read this table. Values come from the host's
 * snapshot (`HostMetrics`), so what is scraped and what is pushed are the same numbers.
 */
import type { DurationHistogram, HostMetrics, InvocationMetrics } from '@cirrus/protocol';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

export interface MetricSpec {
  /** The Prometheus name: counters end in `_total`, histograms carry their unit (`_seconds`). */
  readonly name: string;
  readonly kind: MetricKind;
  /** UCUM unit, as OTLP carries it. */
  readonly unit: string;
  readonly help: string;
  readonly labels: readonly string[];
}

export type Labels = Readonly<Record<string, string>>;

export interface HistogramValue {
  /** Upper bounds; the last bucket (+Inf) has none. */
  readonly bounds: readonly number[];
  /** Per bucket, not cumulative. */
  readonly counts: readonly number[];
  readonly count: number;
  readonly sum: number;
}

export interface MetricPoint {
  readonly labels: Labels;
  readonly value: number | HistogramValue;
}

export interface MetricFamily {
  readonly spec: MetricSpec;
  readonly points: readonly MetricPoint[];
}

const spec = (
  name: string,
  kind: MetricKind,
  unit: string,
  labels: readonly string[],
  help: string,
): MetricSpec => ({ name, kind, unit, labels: ['host_id', ...labels], help });

export const METRICS = {
  componentInvocations: spec(
    'cirrus_component_invocations_total',
    'counter',
    '{invocation}',
    ['component_id', 'code'],
    'Finished invocations of a component instance on this host, by outcome: ok, or the error code.',
  ),
  componentDuration: spec(
    'cirrus_component_invocation_duration_seconds',
    'histogram',
    's',
    ['component_id'],
    'How long invocations of a component instance took, queueing for an instance included.',
  ),
  componentMaxInstances: spec(
    'cirrus_component_max_instances',
    'gauge',
    '{instance}',
    ['component_id'],
    'The instance count a component is scaled to on this host.',
  ),
  componentInstances: spec(
    'cirrus_component_instances',
    'gauge',
    '{instance}',
    ['component_id'],
    'Instances of a component that are started on this host.',
  ),
  componentBusy: spec(
    'cirrus_component_instances_busy',
    'gauge',
    '{instance}',
    ['component_id'],
    'Instances of a component that are running a call now.',
  ),
  componentWaiting: spec(
    'cirrus_component_calls_waiting',
    'gauge',
    '{call}',
    ['component_id'],
    'Calls waiting for a free instance of a component.',
  ),
  providerInvocations: spec(
    'cirrus_provider_invocations_total',
    'counter',
    '{invocation}',
    ['provider_id', 'code'],
    'Finished calls to a built-in provider on this host, by outcome: ok, or the error code.',
  ),
  providerDuration: spec(
    'cirrus_provider_invocation_duration_seconds',
    'histogram',
    's',
    ['provider_id'],
    'How long calls to a built-in provider on this host took.',
  ),
  latticeMessages: spec(
    'cirrus_lattice_messages_total',
    'counter',
    '{message}',
    ['direction'],
    'Messages this host sent (out) and received (in) on its lattice connections.',
  ),
  latticeBytes: spec(
    'cirrus_lattice_bytes_total',
    'counter',
    'By',
    ['direction'],
    'Payload bytes this host sent (out) and received (in) on its lattice connections.',
  ),
  cpu: spec(
    'cirrus_process_cpu_seconds_total',
    'counter',
    's',
    ['mode'],
    'CPU time of the host process, worker threads included, by mode: user or system.',
  ),
  rss: spec(
    'cirrus_process_resident_memory_bytes',
    'gauge',
    'By',
    [],
    'Resident memory of the host process, worker threads included.',
  ),
  heap: spec(
    'cirrus_process_heap_used_bytes',
    'gauge',
    'By',
    [],
    "JavaScript heap in use on the host's main thread.",
  ),
} as const satisfies Record<string, MetricSpec>;

/** The snapshot as metric families, in catalogue order; families without points are kept. */
export function metricFamilies(m: HostMetrics): MetricFamily[] {
  const host = { host_id: m.host_id };
  const bounds = m.duration_bounds_seconds;
  const byOutcome = (id: Labels, what: InvocationMetrics): MetricPoint[] =>
    Object.entries(what.invocations).map(([code, n]) => ({ labels: { ...host, ...id, code }, value: n }));
  const histogram = (id: Labels, d: DurationHistogram): MetricPoint => ({
    labels: { ...host, ...id },
    value: { bounds, counts: d.counts, count: d.counts.reduce((a, b) => a + b, 0), sum: d.sum_seconds },
  });
  const components = m.components.map((c) => ({ ...c, id: { component_id: c.component_id } }));
  const providers = m.providers.map((p) => ({ ...p, id: { provider_id: p.provider_id } }));
  const pool = (pick: (p: (typeof m.components)[number]['pool']) => number): MetricPoint[] =>
    components.map((c) => ({ labels: { ...host, ...c.id }, value: pick(c.pool) }));
  const directions = (inValue: number, outValue: number): MetricPoint[] => [
    { labels: { ...host, direction: 'in' }, value: inValue },
    { labels: { ...host, direction: 'out' }, value: outValue },
  ];
  const families: Record<keyof typeof METRICS, MetricPoint[]> = {
    componentInvocations: components.flatMap((c) => byOutcome(c.id, c)),
    componentDuration: components.map((c) => histogram(c.id, c.duration)),
    componentMaxInstances: pool((p) => p.max_instances),
    componentInstances: pool((p) => p.instances),
    componentBusy: pool((p) => p.busy),
    componentWaiting: pool((p) => p.waiting),
    providerInvocations: providers.flatMap((p) => byOutcome(p.id, p)),
    providerDuration: providers.map((p) => histogram(p.id, p.duration)),
    latticeMessages: directions(m.lattice.messages_in, m.lattice.messages_out),
    latticeBytes: directions(m.lattice.bytes_in, m.lattice.bytes_out),
    cpu: [
      { labels: { ...host, mode: 'user' }, value: m.process.cpu_user_seconds },
      { labels: { ...host, mode: 'system' }, value: m.process.cpu_system_seconds },
    ],
    rss: [{ labels: host, value: m.process.resident_bytes }],
    heap: [{ labels: host, value: m.process.heap_used_bytes }],
  };
  return (Object.keys(METRICS) as (keyof typeof METRICS)[]).map((key) => ({
    spec: METRICS[key],
    points: families[key],
  }));
}
