import { InvalidArgumentError, isCirrusError } from './errors.ts';

/**
 * A host's metrics as it reports them on the lattice (`host.metrics.<host>`, a Cirrus addition to
 * the control interface) and as exporters read them. Counters are cumulative since the host
 * started, so a reader computes rates from two snapshots and survives a missed one.
 */
export interface HostMetrics {
  host_id: string;
  /** When the counters started (the host's start), Unix milliseconds. */
  started_at_ms: number;
  /** When this snapshot was taken, Unix milliseconds. */
  at_ms: number;
  /** Upper bounds of the duration histograms' buckets, in seconds; one more bucket (+Inf) follows. */
  duration_bounds_seconds: number[];
  components: ComponentMetrics[];
  providers: ProviderMetrics[];
  /** Messages and bytes through this host's lattice connections. */
  lattice: LatticeTraffic;
  process: ProcessMetrics;
}

export interface InvocationMetrics {
  /** Finished invocations by outcome: `ok`, or the error code of the failure. */
  invocations: Record<string, number>;
  duration: DurationHistogram;
}

export interface DurationHistogram {
  /** Per bucket, not cumulative: `duration_bounds_seconds.length + 1` entries. */
  counts: number[];
  sum_seconds: number;
}

export interface ComponentMetrics extends InvocationMetrics {
  component_id: string;
  pool: { max_instances: number; instances: number; busy: number; waiting: number };
}

export interface ProviderMetrics extends InvocationMetrics {
  provider_id: string;
}

export interface LatticeTraffic {
  messages_in: number;
  messages_out: number;
  bytes_in: number;
  bytes_out: number;
}

export interface ProcessMetrics {
  cpu_user_seconds: number;
  cpu_system_seconds: number;
  resident_bytes: number;
  heap_used_bytes: number;
}

/** The outcome recorded for an invocation that succeeded. */
export const OUTCOME_OK = 'ok';

/**
 * Bucket bounds for invocation durations, in seconds: a hello answered on a warm instance takes
 * tens of microseconds to a millisecond, and a call is cut off at its deadline (30 s by default).
 */
export const INVOCATION_DURATION_BOUNDS_SECONDS: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/**
 * The `q` quantile (0–1) of the durations counted in `counts` (per bucket, as `DurationHistogram`
 * holds them), in seconds, interpolated linearly inside its bucket as Prometheus's
 * histogram_quantile does; the open last bucket answers with the highest bound. Undefined when
 * nothing was counted.
 */
export function durationQuantile(
  q: number,
  bounds: readonly number[],
  counts: readonly number[],
): number | undefined {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return undefined;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i] as number;
    if (n > 0 && below + n >= rank) {
      if (i >= bounds.length) break;
      const lower = i === 0 ? 0 : (bounds[i - 1] as number);
      const upper = bounds[i] as number;
      return lower + (upper - lower) * ((rank - below) / n);
    }
    below += n;
  }
  return bounds.at(-1) ?? 0;
}

/** The stable code of a failure, as metrics and logs group it; errors without one are INTERNAL. */
export function errorCode(err: unknown): string {
  return isCirrusError(err) ? err.code : 'INTERNAL';
}

/**
 * Checks a `host.metrics` reply from the lattice, where anyone allowed to publish could have sent
 * it: numbers must be finite and not negative, and histograms must have one count per bucket.
 */
export function parseHostMetrics(value: unknown): HostMetrics {
  const m = record(value, 'host metrics');
  const bounds = numbers(m['duration_bounds_seconds'], 'duration_bounds_seconds');
  const invocations = (v: unknown, where: string): InvocationMetrics => {
    const r = record(v, where);
    const counts = record(r['invocations'], `${where}.invocations`);
    const duration = record(r['duration'], `${where}.duration`);
    const buckets = numbers(duration['counts'], `${where}.duration.counts`);
    if (buckets.length !== bounds.length + 1) {
      throw bad(`${where}.duration.counts has ${buckets.length} buckets, not ${bounds.length + 1}`);
    }
    return {
      invocations: Object.fromEntries(
        Object.entries(counts).map(([code, n]) => [code, count(n, `${where}.invocations.${code}`)]),
      ),
      duration: {
        counts: buckets,
        sum_seconds: count(duration['sum_seconds'], `${where}.duration.sum_seconds`),
      },
    };
  };
  const list = (v: unknown, where: string): unknown[] => {
    if (!Array.isArray(v)) throw bad(`${where} is not a list`);
    return v;
  };
  const lattice = record(m['lattice'], 'lattice');
  const proc = record(m['process'], 'process');
  return {
    host_id: text(m['host_id'], 'host_id'),
    started_at_ms: count(m['started_at_ms'], 'started_at_ms'),
    at_ms: count(m['at_ms'], 'at_ms'),
    duration_bounds_seconds: bounds,
    components: list(m['components'], 'components').map((c, i) => {
      const where = `components[${i}]`;
      const r = record(c, where);
      const pool = record(r['pool'], `${where}.pool`);
      return {
        component_id: text(r['component_id'], `${where}.component_id`),
        ...invocations(c, where),
        pool: {
          max_instances: count(pool['max_instances'], `${where}.pool.max_instances`),
          instances: count(pool['instances'], `${where}.pool.instances`),
          busy: count(pool['busy'], `${where}.pool.busy`),
          waiting: count(pool['waiting'], `${where}.pool.waiting`),
        },
      };
    }),
    providers: list(m['providers'], 'providers').map((p, i) => {
      const where = `providers[${i}]`;
      return {
        provider_id: text(record(p, where)['provider_id'], `${where}.provider_id`),
        ...invocations(p, where),
      };
    }),
    lattice: {
      messages_in: count(lattice['messages_in'], 'lattice.messages_in'),
      messages_out: count(lattice['messages_out'], 'lattice.messages_out'),
      bytes_in: count(lattice['bytes_in'], 'lattice.bytes_in'),
      bytes_out: count(lattice['bytes_out'], 'lattice.bytes_out'),
    },
    process: {
      cpu_user_seconds: count(proc['cpu_user_seconds'], 'process.cpu_user_seconds'),
      cpu_system_seconds: count(proc['cpu_system_seconds'], 'process.cpu_system_seconds'),
      resident_bytes: count(proc['resident_bytes'], 'process.resident_bytes'),
      heap_used_bytes: count(proc['heap_used_bytes'], 'process.heap_used_bytes'),
    },
  };
}

function bad(what: string): InvalidArgumentError {
  return new InvalidArgumentError(`host metrics: ${what}`, {
    hint: 'the replying host is not a Cirrus host of this version, or sent a damaged reply',
  });
}

function record(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw bad(`${where} is not an object`);
  return value as Record<string, unknown>;
}

function count(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw bad(`${where} is not a number of at least 0`);
  }
  return value;
}

function numbers(value: unknown, where: string): number[] {
  if (!Array.isArray(value)) throw bad(`${where} is not a list`);
  return value.map((n, i) => count(n, `${where}[${i}]`));
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw bad(`${where} is not a non-empty string`);
  return value;
}
