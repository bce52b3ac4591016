/** The Prometheus text exposition format (0.0.4) of metric families. */
import type { HistogramValue, Labels, MetricFamily } from './catalog.ts';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function renderPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const { spec, points } of families) {
    lines.push(`# HELP ${spec.name} ${escapeHelp(spec.help)}`, `# TYPE ${spec.name} ${spec.kind}`);
    for (const { labels, value } of points) {
      if (typeof value === 'number') lines.push(`${spec.name}${labelSet(labels)} ${number(value)}`);
      else lines.push(...histogramLines(spec.name, labels, value));
    }
  }
  return `${lines.join('\n')}\n`;
}

function histogramLines(name: string, labels: Labels, h: HistogramValue): string[] {
  const lines: string[] = [];
  let cumulative = 0;
  h.counts.forEach((n, i) => {
    cumulative += n;
    const le = i < h.bounds.length ? number(h.bounds[i] as number) : '+Inf';
    lines.push(`${name}_bucket${labelSet({ ...labels, le })} ${cumulative}`);
  });
  lines.push(
    `${name}_sum${labelSet(labels)} ${number(h.sum)}`,
    `${name}_count${labelSet(labels)} ${h.count}`,
  );
  return lines;
}

function labelSet(labels: Labels): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? '+Inf' : '-Inf';
  return String(value);
}

/** Label values may hold anything a component id or error code can: quotes and newlines escaped. */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
