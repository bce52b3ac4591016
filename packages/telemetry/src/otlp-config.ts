/**
 * Where OTLP data goes, read from the standard OpenTelemetry environment variables and `cirrus up`'s
 * flags. Nothing is exported unless asked for: an endpoint (variable or flag) or an explicit
 * `OTEL_*_EXPORTER=otlp` turns a signal on, and `OTEL_SDK_DISABLED=true` or `OTEL_*_EXPORTER=none`
 * turns it off.
 */
import { InvalidLimitError, LIMIT_SPECS, UsageError } from '@cirrus/protocol';
import type { LimitName, Limits } from '@cirrus/protocol';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type OtlpSignal = 'metrics' | 'traces';

export interface OtlpTarget {
  /** The full URL data is posted to, e.g. `http://127.0.0.1:4318/v1/metrics`. */
  url: string;
  protocol: OtlpProtocol;
  timeoutMs: number;
}

export interface OtlpMetricsTarget extends OtlpTarget {
  intervalMs: number;
}

export type TraceSampler =
  | { kind: 'always_on' | 'always_off' | 'parentbased_always_on' | 'parentbased_always_off' }
  | { kind: 'traceidratio' | 'parentbased_traceidratio'; ratio: number };

export interface OtlpTracesTarget extends OtlpTarget {
  exportDelayMs: number;
  maxQueueSpans: number;
  sampler: TraceSampler;
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_ENDPOINT = 'http://localhost:4318';

/**
 * The OTLP target of one signal, or undefined when it is not to be exported. `endpoint` is the
 * `--otlp-endpoint` flag: a base URL like `OTEL_EXPORTER_OTLP_ENDPOINT`.
 */
export function otlpTarget(
  signal: OtlpSignal,
  env: Env,
  limits: Limits,
  endpoint?: string,
): OtlpTarget | undefined {
  const upper = signal.toUpperCase();
  if (setting(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const exporterVar = `OTEL_${upper}_EXPORTER`;
  const exporters = (setting(env, exporterVar) ?? '').split(',').map((e) => e.trim().toLowerCase());
  if (exporters.includes('none')) return undefined;
  const unsupported = exporters.filter((e) => e !== '' && e !== 'otlp' && e !== 'prometheus');
  if (unsupported.length > 0) {
    throw new UsageError(`${exporterVar}=${unsupported.join(',')} is not supported`, {
      hint: 'use otlp or none (Prometheus is served with --metrics ADDR)',
    });
  }
  const signalUrl = setting(env, `OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`);
  const base = endpoint ?? setting(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (signalUrl === undefined && base === undefined && !exporters.includes('otlp')) return undefined;
  const url = signalUrl ?? `${(base ?? DEFAULT_ENDPOINT).replace(/\/+$/, '')}/v1/${signal}`;
  checkUrl(url, signalUrl === undefined ? 'the OTLP endpoint' : `OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`);
  const protocolVar =
    setting(env, `OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`) ?? setting(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');
  const protocol = protocolVar ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new UsageError(`OTLP protocol ${JSON.stringify(protocol)} is not supported`, {
      hint: 'set OTEL_EXPORTER_OTLP_PROTOCOL to http/protobuf (the default) or http/json',
    });
  }
  const timeoutMs = fromEnv(
    env,
    [`OTEL_EXPORTER_OTLP_${upper}_TIMEOUT`, 'OTEL_EXPORTER_OTLP_TIMEOUT'],
    'otlpExportTimeoutMs',
    limits,
  );
  return { url, protocol, timeoutMs };
}

export function otlpMetricsTarget(
  env: Env,
  limits: Limits,
  endpoint?: string,
): OtlpMetricsTarget | undefined {
  const target = otlpTarget('metrics', env, limits, endpoint);
  if (target === undefined) return undefined;
  return {
    ...target,
    intervalMs: fromEnv(env, ['OTEL_METRIC_EXPORT_INTERVAL'], 'metricsExportIntervalMs', limits),
  };
}

export function otlpTracesTarget(env: Env, limits: Limits, endpoint?: string): OtlpTracesTarget | undefined {
  const target = otlpTarget('traces', env, limits, endpoint);
  if (target === undefined) return undefined;
  return {
    ...target,
    exportDelayMs: fromEnv(env, ['OTEL_BSP_SCHEDULE_DELAY'], 'traceExportDelayMs', limits),
    maxQueueSpans: fromEnv(env, ['OTEL_BSP_MAX_QUEUE_SIZE'], 'traceQueueMaxSpans', limits),
    sampler: traceSampler(env),
  };
}

const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

/** OTEL_TRACES_SAMPLER and its argument; the default samples what the caller sampled, and roots. */
function traceSampler(env: Env): TraceSampler {
  const name = (setting(env, 'OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on').toLowerCase();
  const kind = SAMPLERS.find((s) => s === name);
  if (kind === undefined) {
    throw new UsageError(`OTEL_TRACES_SAMPLER=${name} is not supported`, {
      hint: `use one of ${SAMPLERS.join(', ')}`,
    });
  }
  if (kind !== 'traceidratio' && kind !== 'parentbased_traceidratio') return { kind };
  const arg = setting(env, 'OTEL_TRACES_SAMPLER_ARG') ?? '1';
  const ratio = Number(arg);
  if (!/^[0-9.]+$/.test(arg) || !(ratio >= 0 && ratio <= 1)) {
    throw new UsageError(`OTEL_TRACES_SAMPLER_ARG=${arg} is not a ratio`, {
      hint: 'give the share of traces to sample, from 0 to 1 (e.g. 0.1)',
    });
  }
  return { kind, ratio };
}

function setting(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function checkUrl(url: string, what: string): void {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new UsageError(`${what} ${JSON.stringify(url)} is not an http(s) URL`, {
      hint: 'e.g. http://127.0.0.1:4318 (an OpenTelemetry collector receiving OTLP over HTTP)',
    });
  }
}

/** A setting from the first variable given, checked like the limit it stands for. */
function fromEnv(env: Env, names: readonly string[], limit: LimitName, limits: Limits): number {
  const name = names.find((n) => setting(env, n) !== undefined);
  if (name === undefined) return limits[limit];
  const text = setting(env, name) as string;
  const value = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  const { min, max } = LIMIT_SPECS[limit];
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new InvalidLimitError(`environment variable ${name} = ${JSON.stringify(text)} is out of range`, {
      hint: `use a whole number (${LIMIT_SPECS[limit].unit}) between ${min} and ${max}`,
    });
  }
  return value;
}
