/**
 * `cirrus up`'s telemetry: its flags, checked before anything starts, and the exporters started once
 * the host runs — Prometheus text at `--metrics ADDR`, and metrics and traces over OTLP where the
 * standard OpenTelemetry variables or `--otlp-endpoint` point.
 */
import type { Host } from '@cirrus/host';
import { VERSION } from '@cirrus/host';
import type { Limits, Logger } from '@cirrus/protocol';
import {
  hostResource,
  otlpMetricsTarget,
  otlpTracesTarget,
  startMetricsServer,
  startOtlpMetricsExport,
  startTracing,
} from '@cirrus/telemetry';
import type { OtlpMetricsTarget, OtlpTracesTarget } from '@cirrus/telemetry';
import { hostPort } from './args.ts';
import type { FlagSpecs, FlagValues } from './args.ts';

export const TELEMETRY_FLAGS = {
  metrics: {
    value: 'ADDR',
    description: 'serve Prometheus metrics at http://ADDR/metrics: HOST:PORT (port 0 picks a free one)',
    default: 'not served',
  },
  'otlp-endpoint': {
    value: 'URL',
    description: 'send metrics and traces over OTLP/HTTP to this collector (as OTEL_EXPORTER_OTLP_ENDPOINT)',
    default: 'from OTEL_* variables, else off',
  },
} as const satisfies FlagSpecs;

export interface TelemetrySetting {
  metrics: { host: string; port: number } | undefined;
  otlpMetrics: OtlpMetricsTarget | undefined;
  otlpTraces: OtlpTracesTarget | undefined;
}

export function telemetrySetting(
  values: FlagValues<typeof TELEMETRY_FLAGS>,
  env: Readonly<Record<string, string | undefined>>,
  limits: Limits,
): TelemetrySetting {
  const metrics = values.metrics;
  return {
    metrics: metrics === undefined ? undefined : hostPort(metrics, '--metrics', '127.0.0.1:9464'),
    otlpMetrics: otlpMetricsTarget(env, limits, values['otlp-endpoint']),
    otlpTraces: otlpTracesTarget(env, limits, values['otlp-endpoint']),
  };
}

export interface ServedTelemetry {
  /** Exports the last figures, then stops serving. */
  close(): Promise<void>;
}

export async function serveTelemetry(
  setting: TelemetrySetting,
  host: Host,
  options: { env: Readonly<Record<string, string | undefined>>; logger: Logger },
): Promise<ServedTelemetry> {
  const snapshot = () => host.metrics();
  const resource = hostResource(options.env, { id: host.id, version: VERSION });
  const tracing =
    setting.otlpTraces === undefined
      ? undefined
      : startTracing({ target: setting.otlpTraces, resource, logger: options.logger });
  const server =
    setting.metrics === undefined
      ? undefined
      : await startMetricsServer({ ...setting.metrics, snapshot, logger: options.logger });
  const otlp =
    setting.otlpMetrics === undefined
      ? undefined
      : startOtlpMetricsExport({
          target: setting.otlpMetrics,
          resource,
          snapshot,
          logger: options.logger,
        });
  return {
    async close() {
      await Promise.all([server?.close(), otlp?.close(), tracing?.close()]);
    },
  };
}
