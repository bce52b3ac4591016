import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HostMetrics } from '@cirrus/protocol';
import { metricsReport } from '../src/metrics-report.ts';
import type { HostReading, MetricsReading } from '../src/metrics-report.ts';

const BOUNDS = [0.001, 0.01, 0.1];

/** A host's reading: `components` maps an id to its invocations by code and its bucket counts. */
function host(
  hostId: string,
  components: Record<string, { invocations: Record<string, number>; counts: number[] }>,
  startedAtMs = 1,
): HostReading {
  const metrics: HostMetrics = {
    host_id: hostId,
    started_at_ms: startedAtMs,
    at_ms: 0,
    duration_bounds_seconds: BOUNDS,
    components: Object.entries(components).map(([id, c]) => ({
      component_id: id,
      invocations: c.invocations,
      duration: { counts: c.counts, sum_seconds: 0 },
      pool: { max_instances: 1, instances: 1, busy: 0, waiting: 0 },
    })),
    providers: [],
    lattice: { messages_in: 0, messages_out: 0, bytes_in: 0, bytes_out: 0 },
    process: { cpu_user_seconds: 0, cpu_system_seconds: 0, resident_bytes: 0, heap_used_bytes: 0 },
  };
  return { hostId, metrics };
}

const at = (atMs: number, ...hosts: HostReading[]): MetricsReading => ({ atMs, hosts });

describe('metricsReport', () => {
  it('gives the rate, errors and percentiles of each interval', () => {
    const report = metricsReport(
      [
        at(0, host('H', { web: { invocations: { ok: 10 }, counts: [10, 0, 0, 0] } })),
        at(2000, host('H', { web: { invocations: { ok: 28, GUEST_TRAP: 2 }, counts: [20, 10, 0, 0] } })),
      ],
      2000,
    );
    assert.equal(report.atMs, 2000);
    assert.equal(report.components.length, 1);
    const web = report.components[0];
    assert.deepEqual(web?.hostIds, ['H']);
    assert.deepEqual(web?.errorsByCode, { GUEST_TRAP: 2 });
    const point = web?.points[0];
    assert.equal(point?.ratePerSecond, 10);
    assert.equal(point?.errors, 2);
    // 10 in (0, 1 ms] and 10 in (1, 10 ms]: the median is at the top of the first bucket.
    assert.equal(point?.p50Ms, 1);
    assert.ok(Math.abs((point?.p95Ms ?? 0) - 9.1) < 1e-9);
    assert.ok(Math.abs((point?.p99Ms ?? 0) - 9.82) < 1e-9);
  });

  it('sums a component over the hosts that run it', () => {
    const one = { invocations: { ok: 0 }, counts: [0, 0, 0, 0] };
    const report = metricsReport(
      [
        at(0, host('A', { web: one }), host('B', { web: one })),
        at(
          1000,
          host('A', { web: { invocations: { ok: 3 }, counts: [3, 0, 0, 0] } }),
          host('B', { web: { invocations: { ok: 5 }, counts: [0, 0, 5, 0] } }),
        ),
      ],
      1000,
    );
    assert.deepEqual(report.components[0]?.hostIds, ['A', 'B']);
    assert.equal(report.components[0]?.points[0]?.ratePerSecond, 8);
  });

  it('counts from zero a component that appeared or whose counters started again', () => {
    const report = metricsReport(
      [
        at(0, host('H', { old: { invocations: { ok: 50 }, counts: [50, 0, 0, 0] } })),
        at(
          1000,
          host('H', {
            old: { invocations: { ok: 4 }, counts: [4, 0, 0, 0] },
            fresh: { invocations: { ok: 6 }, counts: [6, 0, 0, 0] },
          }),
        ),
      ],
      1000,
    );
    const rate = (id: string) =>
      report.components.find((c) => c.componentId === id)?.points[0]?.ratePerSecond;
    assert.equal(rate('old'), 4);
    assert.equal(rate('fresh'), 6);
  });

  it('skips a host that restarted between readings, or was not read the time before', () => {
    const busy = { invocations: { ok: 100 }, counts: [100, 0, 0, 0] };
    const report = metricsReport(
      [
        at(0, host('A', { web: busy }, 1), {
          hostId: 'B',
          unavailable: { code: 'REQUEST_TIMEOUT', message: 'x' },
        }),
        at(1000, host('A', { web: busy }, 2), host('B', { web: busy })),
      ],
      1000,
    );
    const point = report.components[0]?.points[0];
    assert.equal(point?.ratePerSecond, 0);
    assert.equal(point?.p50Ms, undefined);
  });

  it('answers the highest bound for durations past it, and lists the hosts it could not read', () => {
    const report = metricsReport(
      [
        at(0, host('H', { slow: { invocations: { ok: 0 }, counts: [0, 0, 0, 0] } })),
        at(1000, host('H', { slow: { invocations: { ok: 2 }, counts: [0, 0, 0, 2] } }), {
          hostId: 'W',
          unavailable: { code: 'CONTROL_REQUEST_FAILED', message: 'unsupported subject' },
        }),
      ],
      1000,
    );
    assert.equal(report.components[0]?.points[0]?.p99Ms, 100);
    assert.deepEqual(report.unavailable, [
      { hostId: 'W', code: 'CONTROL_REQUEST_FAILED', message: 'unsupported subject' },
    ]);
  });

  it('has no points from a single reading, and nothing from none', () => {
    const single = metricsReport(
      [at(0, host('H', { web: { invocations: {}, counts: [0, 0, 0, 0] } }))],
      1000,
    );
    assert.deepEqual(single.components, [
      { componentId: 'web', hostIds: ['H'], points: [], errorsByCode: {} },
    ]);
    assert.deepEqual(metricsReport([], 1000), { atMs: 0, intervalMs: 1000, components: [], unavailable: [] });
  });
});
