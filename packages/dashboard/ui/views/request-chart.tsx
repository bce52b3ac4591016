/**
 * A component's requests over the last minute, as the server pushes them: a rate sparkline with the
 * intervals that had failures marked, and the latest latency percentiles and the window's errors.
 */
import type { ComponentMetrics, MetricsPoint, MetricsReport } from '../../src/api-types.ts';

const WIDTH = 240;
const HEIGHT = 48;
const PAD = 3;

function rate(value: number): string {
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

function ms(value: number | undefined): string {
  if (value === undefined) return '—';
  return value >= 100
    ? `${value.toFixed(0)} ms`
    : value >= 1
      ? `${value.toFixed(1)} ms`
      : `${value.toFixed(2)} ms`;
}

function Sparkline(props: { points: MetricsPoint[]; label: string }) {
  const { points } = props;
  const max = Math.max(...points.map((p) => p.ratePerSecond), 1e-9);
  const x = (i: number) => PAD + (i * (WIDTH - 2 * PAD)) / Math.max(points.length - 1, 1);
  const y = (value: number) => HEIGHT - PAD - (value / max) * (HEIGHT - 2 * PAD);
  const line = points.map((p, i) => `${x(i).toFixed(1)},${y(p.ratePerSecond).toFixed(1)}`).join(' ');
  return (
    <svg
      class="sparkline"
      width={WIDTH}
      height={HEIGHT}
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      role="img"
      aria-label={props.label}
    >
      <polyline points={line} fill="none" stroke="currentColor" stroke-width="1.5" />
      {points.map((p, i) =>
        p.errors > 0 ? (
          <circle key={p.atMs} class="sparkline-error" cx={x(i)} cy={y(p.ratePerSecond)} r="3" />
        ) : null,
      )}
    </svg>
  );
}

export function RequestChart(props: { componentId: string; report: MetricsReport | undefined }) {
  const { report, componentId } = props;
  const series: ComponentMetrics | undefined = report?.components.find((c) => c.componentId === componentId);
  if (series === undefined || series.points.length === 0) {
    return (
      <p class="muted request-figures">
        Requests: figures appear after two readings of its hosts (every {(report?.intervalMs ?? 2000) / 1000}{' '}
        s).
      </p>
    );
  }
  const latest = series.points.at(-1) as MetricsPoint;
  const lastWithCalls = series.points.findLast((p) => p.p50Ms !== undefined);
  const errors = Object.entries(series.errorsByCode).sort(([a], [b]) => a.localeCompare(b));
  const errorTotal = errors.reduce((sum, [, n]) => sum + n, 0);
  const seconds = Math.round((series.points.length * (report?.intervalMs ?? 2000)) / 1000);
  return (
    <figure class="request-figures">
      <Sparkline
        points={series.points}
        label={`Requests per second of ${componentId} over the last ${seconds} s; now ${rate(latest.ratePerSecond)} per second`}
      />
      <figcaption>
        <dl class="facts">
          <dt>Requests</dt>
          <dd class="request-rate">{rate(latest.ratePerSecond)} /s</dd>
          <dt>Latency</dt>
          <dd class="request-latency">
            {lastWithCalls === undefined
              ? `no requests in the last ${seconds} s`
              : `p50 ${ms(lastWithCalls.p50Ms)} · p95 ${ms(lastWithCalls.p95Ms)} · p99 ${ms(lastWithCalls.p99Ms)}`}
          </dd>
          <dt>Errors (last {seconds} s)</dt>
          <dd class="request-errors">
            {errorTotal === 0
              ? 'none'
              : `${errorTotal}: ${errors.map(([code, n]) => `${code} ${n}`).join(', ')}`}
          </dd>
        </dl>
      </figcaption>
    </figure>
  );
}
