/**
 * What a host counts about its work: every invocation of a component instance and of a built-in
 * provider's handler running here, by outcome, with a duration histogram. An invocation is counted
 * on the host whose instance ran it, once, whichever host the call came from; a call that leaves for
 * another host is counted there. Recording is a map lookup and a few additions, cheap enough to be
 * always on: exporters (Prometheus, OTLP, the dashboard) read snapshots and cost nothing until asked.
 * Each invocation is also a span, recorded only when tracing is on.
 */
import { errorCode, INVOCATION_DURATION_BOUNDS_SECONDS, OUTCOME_OK } from '@cirrus/protocol';
import type { HostMetrics, InvocationMetrics, LatticeTraffic } from '@cirrus/protocol';
import { inSpan, SpanKind } from '@cirrus/lattice';
import type { LatticeConnection } from '@cirrus/lattice';
import { callName } from '@cirrus/runtime';
import type { ComponentPool } from '@cirrus/runtime';

const HTTP_HANDLER = 'wasi:http/incoming-handler';

const BOUNDS = INVOCATION_DURATION_BOUNDS_SECONDS;

/** The invocations of one component or provider. */
export class InvocationTally {
  readonly #byOutcome = new Map<string, number>();
  readonly #buckets = new Array<number>(BOUNDS.length + 1).fill(0);
  #sumSeconds = 0;

  record(seconds: number, outcome: string): void {
    this.#byOutcome.set(outcome, (this.#byOutcome.get(outcome) ?? 0) + 1);
    let bucket = 0;
    while (bucket < BOUNDS.length && seconds > (BOUNDS[bucket] as number)) bucket++;
    this.#buckets[bucket] = (this.#buckets[bucket] as number) + 1;
    this.#sumSeconds += seconds;
  }

  /** Runs `call` and records how it ended and how long it took. */
  time<T>(call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const done = (outcome: string): void => this.record((performance.now() - started) / 1000, outcome);
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (err) {
      done(errorCode(err));
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return pending.then(
      (value) => {
        done(OUTCOME_OK);
        return value;
      },
      (err: unknown) => {
        done(errorCode(err));
        throw err;
      },
    );
  }

  snapshot(): InvocationMetrics {
    return {
      invocations: Object.fromEntries(this.#byOutcome),
      duration: { counts: [...this.#buckets], sum_seconds: this.#sumSeconds },
    };
  }
}

export interface MetricsSources {
  hostId: string;
  /** The components running here. */
  components: ReadonlyMap<string, { readonly pool: ComponentPool }>;
  connections: readonly LatticeConnection[];
  /** Unix milliseconds. */
  now(): number;
}

export class HostMetricsRecorder {
  readonly #components = new Map<string, InvocationTally>();
  readonly #providers = new Map<string, InvocationTally>();
  readonly #sources: MetricsSources;
  readonly #startedAtMs: number;

  constructor(sources: MetricsSources) {
    this.#sources = sources;
    this.#startedAtMs = sources.now();
  }

  component(id: string): InvocationTally {
    return tallyOf(this.#components, id);
  }

  provider(id: string): InvocationTally {
    return tallyOf(this.#providers, id);
  }

  /** Drops the series of a component or provider that stopped here, so they do not pile up. */
  forgetComponent(id: string): void {
    this.#components.delete(id);
  }

  forgetProvider(id: string): void {
    this.#providers.delete(id);
  }

  snapshot(): HostMetrics {
    const sources = this.#sources;
    const cpu = process.cpuUsage();
    const memory = process.memoryUsage();
    const lattice: LatticeTraffic = { messages_in: 0, messages_out: 0, bytes_in: 0, bytes_out: 0 };
    for (const connection of sources.connections) {
      const t = connection.traffic();
      lattice.messages_in += t.messages_in;
      lattice.messages_out += t.messages_out;
      lattice.bytes_in += t.bytes_in;
      lattice.bytes_out += t.bytes_out;
    }
    return {
      host_id: sources.hostId,
      started_at_ms: this.#startedAtMs,
      at_ms: sources.now(),
      duration_bounds_seconds: [...BOUNDS],
      components: [...sources.components].map(([id, { pool }]) => {
        const stats = pool.stats;
        return {
          component_id: id,
          ...this.component(id).snapshot(),
          pool: {
            max_instances: stats.maxInstances,
            instances: stats.instances,
            busy: stats.busy,
            waiting: stats.waiting,
          },
        };
      }),
      providers: [...this.#providers].map(([id, tally]) => ({ provider_id: id, ...tally.snapshot() })),
      lattice,
      process: {
        cpu_user_seconds: cpu.user / 1e6,
        cpu_system_seconds: cpu.system / 1e6,
        resident_bytes: memory.rss,
        heap_used_bytes: memory.heapUsed,
      },
    };
  }
}

/**
 * Runs `call` of `fn` on `target` (a component or provider, by `idAttribute`) in a span, and counts
 * it into `tally`.
 */
export function observe<T>(
  tally: InvocationTally,
  target: { idAttribute: 'cirrus.component_id' | 'cirrus.provider_id'; id: string },
  exportInterface: string,
  fn: string,
  call: () => Promise<T>,
): Promise<T> {
  return inSpan(
    `${exportInterface}/${fn}`,
    {
      kind: SpanKind.INTERNAL,
      attributes: { [target.idAttribute]: target.id, 'rpc.service': exportInterface, 'rpc.method': fn },
    },
    () => tally.time(call),
  );
}

/** `pool`, with every invocation in a span and counted into `tally`. */
export function observedPool(pool: ComponentPool, tally: InvocationTally): ComponentPool {
  const target = { idAttribute: 'cirrus.component_id', id: pool.componentId } as const;
  return {
    componentId: pool.componentId,
    component: pool.component,
    warm: () => pool.warm(),
    handleHttp: (head, body, sink, options) =>
      observe(tally, target, HTTP_HANDLER, 'handle', () => pool.handleHttp(head, body, sink, options)),
    invoke: (exportInterface, fn, args, options) =>
      observe(tally, target, exportInterface, fn, () => pool.invoke(exportInterface, fn, args, options)),
    invokeResource: (exportInterface, call, options) =>
      // `bucket.get`, `[constructor]bucket`: the function as the component model names it.
      observe(tally, target, exportInterface, callName('', call.fn, call.resource).slice(1), () =>
        pool.invokeResource(exportInterface, call, options),
      ),
    setMaxInstances: (max) => pool.setMaxInstances(max),
    get stats() {
      return pool.stats;
    },
    close: (drainMs) => pool.close(drainMs),
  };
}

function tallyOf(tallies: Map<string, InvocationTally>, id: string): InvocationTally {
  let tally = tallies.get(id);
  if (tally === undefined) {
    tally = new InvocationTally();
    tallies.set(id, tally);
  }
  return tally;
}
