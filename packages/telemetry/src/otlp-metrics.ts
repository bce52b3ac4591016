/**
 * Pushes a host's metrics over OTLP with OpenTelemetry's exporters: every interval the host's
 * snapshot becomes one cumulative `ResourceMetrics`, the same numbers `/metrics` serves. A failed
 * export is logged and the next one carries the data (counters are cumulative), so a collector that
 * is down costs nothing but log lines; the last export runs at shutdown.
 */
import { ValueType } from '@opentelemetry/api';
import type { Attributes, HrTime } from '@opentelemetry/api';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import type { Resource } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { MetricData, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { describeError } from '@cirrus/protocol';
import type { HostMetrics, Logger } from '@cirrus/protocol';
import { metricFamilies } from './catalog.ts';
import type { HistogramValue, MetricFamily } from './catalog.ts';
import type { OtlpMetricsTarget } from './otlp-config.ts';

export interface OtlpMetricsOptions {
  target: OtlpMetricsTarget;
  /** The host's resource: service name, instance id and what OTEL_RESOURCE_ATTRIBUTES adds. */
  resource: Resource;
  snapshot(): HostMetrics;
  logger: Logger;
}

export interface OtlpMetricsExport {
  /** Exports once more, then stops. */
  close(): Promise<void>;
}

const SCOPE = { name: '@cirrus/host' };

export function startOtlpMetricsExport(options: OtlpMetricsOptions): OtlpMetricsExport {
  const { target, logger } = options;
  const config = {
    url: target.url,
    timeoutMillis: target.timeoutMs,
    temporalityPreference: AggregationTemporality.CUMULATIVE,
  };
  const exporter: PushMetricExporter =
    target.protocol === 'http/json' ? new JsonExporter(config) : new ProtoExporter(config);
  let failing = false;
  const exportOnce = (): Promise<void> =>
    new Promise<void>((resolve) => {
      let data: ResourceMetrics;
      try {
        data = resourceMetrics(options.resource, options.snapshot());
      } catch (err) {
        logger.error('metrics not collected', { error: describeError(err) });
        resolve();
        return;
      }
      exporter.export(data, (result) => {
        // One line when exports start failing and one when they recover, not one per interval.
        if (result.error !== undefined && !failing) {
          failing = true;
          logger.warn('OTLP metrics export failed', { url: target.url, error: describeError(result.error) });
        } else if (result.error === undefined && failing) {
          failing = false;
          logger.info('OTLP metrics export recovered', { url: target.url });
        }
        resolve();
      });
    });
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(exportOnce);
  }, target.intervalMs);
  timer.unref();
  logger.info('exporting metrics over OTLP', { url: target.url, interval_ms: target.intervalMs });
  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await running;
        await exportOnce();
        await exporter.shutdown().catch(() => undefined);
      })();
      return closing;
    },
  };
}

/** The snapshot as OTLP metrics; the Prometheus `_total` suffix is not part of an OTLP name. */
export function resourceMetrics(resource: Resource, snapshot: HostMetrics): ResourceMetrics {
  const start = hrTime(snapshot.started_at_ms);
  const end = hrTime(snapshot.at_ms);
  const metrics = metricFamilies(snapshot)
    .filter((family) => family.points.length > 0)
    .map((family) => metricData(family, start, end));
  return { resource, scopeMetrics: [{ scope: SCOPE, metrics }] };
}

function metricData(family: MetricFamily, startTime: HrTime, endTime: HrTime): MetricData {
  const { spec } = family;
  const descriptor = {
    name: spec.name.replace(/_total$/, ''),
    description: spec.help,
    unit: spec.unit,
    valueType: ValueType.DOUBLE,
  };
  const point = <T>(labels: Attributes, value: T) => ({ startTime, endTime, attributes: labels, value });
  const aggregationTemporality = AggregationTemporality.CUMULATIVE;
  switch (spec.kind) {
    case 'counter':
      return {
        descriptor,
        aggregationTemporality,
        dataPointType: DataPointType.SUM,
        isMonotonic: true,
        dataPoints: family.points.map((p) => point({ ...p.labels }, p.value as number)),
      };
    case 'gauge':
      return {
        descriptor,
        aggregationTemporality,
        dataPointType: DataPointType.GAUGE,
        dataPoints: family.points.map((p) => point({ ...p.labels }, p.value as number)),
      };
    case 'histogram':
      return {
        descriptor,
        aggregationTemporality,
        dataPointType: DataPointType.HISTOGRAM,
        dataPoints: family.points.map((p) => {
          const h = p.value as HistogramValue;
          return point(
            { ...p.labels },
            { buckets: { boundaries: [...h.bounds], counts: [...h.counts] }, count: h.count, sum: h.sum },
          );
        }),
      };
  }
}

function hrTime(unixMs: number): HrTime {
  const seconds = Math.floor(unixMs / 1000);
  return [seconds, Math.round((unixMs - seconds * 1000) * 1e6)];
}
