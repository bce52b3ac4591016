/** The slice of autocannon 8 the benchmarks use (the package ships no type declarations). */
declare module 'autocannon' {
  namespace autocannon {
    interface Options {
      url: string;
      connections?: number;
      /** Seconds. */
      duration?: number;
      pipelining?: number;
      /** Seconds before a request counts as a timeout. */
      timeout?: number;
      title?: string;
    }

    /** Percentiles of one histogram (`p97_5` is the 97.5th). */
    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p97_5: number;
      p99: number;
      p99_9: number;
    }

    interface Result {
      /** Seconds the run lasted. */
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      resets: number;
      '2xx': number;
      /** Milliseconds per request. */
      latency: Histogram & { totalCount: number };
      /** Requests per second, sampled every second; `total` is every completed request. */
      requests: Histogram & { sent: number };
      throughput: Histogram;
    }

    /** An event emitter that is also a promise of the result. */
    interface Instance extends PromiseLike<Result> {
      stop(): void;
      /** Every response; `responseTime` in milliseconds with sub-millisecond precision. */
      on(
        event: 'response',
        listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void,
      ): this;
    }
  }

  function autocannon(options: autocannon.Options): autocannon.Instance;
  export = autocannon;
}
