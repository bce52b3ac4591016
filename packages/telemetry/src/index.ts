/**
 * @cirrus/telemetry: what a host exports about itself. Metrics come from the host's snapshot
 * (`Host.metrics()`) and leave as Prometheus text at `/metrics` and over OTLP.
 */
export { METRICS, metricFamilies } from './catalog.ts';
export type { MetricFamily, MetricKind, MetricSpec } from './catalog.ts';
export { PROMETHEUS_CONTENT_TYPE, renderPrometheus } from './prometheus.ts';
export { startMetricsServer } from './metrics-server.ts';
export type { MetricsServer, MetricsServerOptions } from './metrics-server.ts';
export { otlpMetricsTarget, otlpTarget } from './otlp-config.ts';
export type { OtlpMetricsTarget, OtlpProtocol, OtlpSignal, OtlpTarget } from './otlp-config.ts';
export { hostResource, resourceMetrics, startOtlpMetricsExport } from './otlp-metrics.ts';
export type { OtlpMetricsExport, OtlpMetricsOptions } from './otlp-metrics.ts';
