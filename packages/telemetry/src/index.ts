/**
 * @cirrus/telemetry: what a host exports about itself. Metrics come from the host's snapshot
 * (`Host.metrics()`) and leave as Prometheus text at `/metrics` and over OTLP; traces are recorded
 * where the work happens, through OpenTelemetry's API, and exported over OTLP once `startTracing`
 * has run.
 */
export { METRICS, metricFamilies } from './catalog.ts';
export type { MetricFamily, MetricKind, MetricSpec } from './catalog.ts';
export { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.ts';
export { startMetricsServer } from './metrics-server.ts';
export type { MetricsServer, MetricsServerOptions } from './metrics-server.ts';
export { otlpMetricsTarget, otlpTarget, otlpTracesTarget } from './otlp-config.ts';
export type {
  OtlpMetricsTarget,
  OtlpProtocol,
  OtlpSignal,
  OtlpTarget,
  OtlpTracesTarget,
  TraceSampler,
} from './otlp-config.ts';
export { startTracing } from './tracing.ts';
export type { Tracing } from './tracing.ts';
export { hostResource } from './resource.ts';
export { resourceMetrics, startOtlpMetricsExport } from './otlp-metrics.ts';
export type { OtlpMetricsExport, OtlpMetricsOptions } from './otlp-metrics.ts';
