/**
 * Turns readings of the hosts' cumulative counters into per-component rates, error counts and latency
 * percentiles: pure, so every edge (a host restarting, a component appearing, a reading missed) is
 * table-tested without a lattice.
 */
import { durationQuantile, OUTCOME_OK } from '@cirrus/protocol';
import type { HostMetrics } from '@cirrus/protocol';
import type { ComponentMetrics, MetricsPoint, MetricsReport } from './api-types.ts';

/** One reading of every host, taken together. */
export interface MetricsReading {
  atMs: number;
  hosts: readonly HostReading[];
}

export type HostReading =
  | { hostId: string; metrics: HostMetrics }
  | { hostId: string; unavailable: { code: string; message: string } };

interface Interval {
  invocations: number;
  errors: number;
  errorsByCode: Map<string, number>;
  buckets: number[];
  bounds: readonly number[];
}

export function metricsReport(readings: readonly MetricsReading[], intervalMs: number): MetricsReport {
  const latest = readings.at(-1);
  const running = new Map<string, Set<string>>();
  for (const host of latest?.hosts ?? []) {
    if (!('metrics' in host)) continue;
    for (const c of host.metrics.components) {
      const hosts = running.get(c.component_id) ?? new Set<string>();
      hosts.add(host.hostId);
      running.set(c.component_id, hosts);
    }
  }
  const series = new Map<string, { points: MetricsPoint[]; errorsByCode: Map<string, number> }>(
    [...running.keys()].map((id) => [id, { points: [], errorsByCode: new Map() }]),
  );
  for (let i = 1; i < readings.length; i++) {
    const previous = readings[i - 1] as MetricsReading;
    const current = readings[i] as MetricsReading;
    const seconds = (current.atMs - previous.atMs) / 1000;
    if (!(seconds > 0)) continue;
    const intervals = componentIntervals(previous, current);
    for (const [id, s] of series) {
      const interval = intervals.get(id);
      const point: MetricsPoint = {
        atMs: current.atMs,
        ratePerSecond: (interval?.invocations ?? 0) / seconds,
        errors: interval?.errors ?? 0,
      };
      if (interval !== undefined && interval.invocations > 0) {
        point.p50Ms = quantileMs(0.5, interval);
        point.p95Ms = quantileMs(0.95, interval);
        point.p99Ms = quantileMs(0.99, interval);
      }
      s.points.push(point);
      for (const [code, n] of interval?.errorsByCode ?? []) {
        s.errorsByCode.set(code, (s.errorsByCode.get(code) ?? 0) + n);
      }
    }
  }
  const components: ComponentMetrics[] = [...series]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([componentId, s]) => ({
      componentId,
      hostIds: [...(running.get(componentId) ?? [])].sort(),
      points: s.points,
      errorsByCode: Object.fromEntries(s.errorsByCode),
    }));
  const unavailable = (latest?.hosts ?? []).flatMap((h) =>
    'unavailable' in h ? [{ hostId: h.hostId, ...h.unavailable }] : [],
  );
  return { atMs: latest?.atMs ?? 0, intervalMs, components, unavailable };
}

/** What each component did between two readings, summed over the hosts read both times. */
function componentIntervals(previous: MetricsReading, current: MetricsReading): Map<string, Interval> {
  const before = new Map<string, HostMetrics>();
  for (const host of previous.hosts) if ('metrics' in host) before.set(host.hostId, host.metrics);
  const out = new Map<string, Interval>();
  for (const host of current.hosts) {
    if (!('metrics' in host)) continue;
    const earlier = before.get(host.hostId);
    // A host missing from the earlier reading, or restarted since, has no interval to compare.
    if (earlier === undefined || earlier.started_at_ms !== host.metrics.started_at_ms) continue;
    const bounds = host.metrics.duration_bounds_seconds;
    for (const c of host.metrics.components) {
      const old = earlier.components.find((e) => e.component_id === c.component_id);
      const delta = (now: number, then: number | undefined): number =>
        // A counter that went down was started again (the component stopped and came back).
        then === undefined || now < then ? now : now - then;
      const interval = out.get(c.component_id) ?? {
        invocations: 0,
        errors: 0,
        errorsByCode: new Map<string, number>(),
        buckets: new Array<number>(bounds.length + 1).fill(0),
        bounds,
      };
      if (interval.bounds.length !== bounds.length) continue;
      for (const [code, n] of Object.entries(c.invocations)) {
        const d = delta(n, old?.invocations[code]);
        interval.invocations += d;
        if (code !== OUTCOME_OK && d > 0) {
          interval.errors += d;
          interval.errorsByCode.set(code, (interval.errorsByCode.get(code) ?? 0) + d);
        }
      }
      c.duration.counts.forEach((n, b) => {
        interval.buckets[b] = (interval.buckets[b] as number) + delta(n, old?.duration.counts[b]);
      });
      out.set(c.component_id, interval);
    }
  }
  return out;
}

function quantileMs(q: number, interval: Interval): number | undefined {
  const seconds = durationQuantile(q, interval.bounds, interval.buckets);
  return seconds === undefined ? undefined : seconds * 1000;
}
