/**
 * Reads every known host's counters (`host.metrics`) at a fixed interval, but only while a page
 * listens: a dashboard nobody looks at asks the lattice nothing. Each round becomes a report of the
 * last minute, handed to the listeners.
 */
import type { ControlClient } from '@cirrus/control-client';
import { errorCode, describeError } from '@cirrus/protocol';
import type { MetricsReport } from './api-types.ts';
import { metricsReport } from './metrics-report.ts';
import type { HostReading, MetricsReading } from './metrics-report.ts';

export interface MetricsWatchOptions {
  control: Pick<ControlClient, 'getHostMetrics'>;
  /** The hosts to read: those heard from lately. */
  hosts(): string[];
  intervalMs: number;
  /** How many intervals a report covers. */
  window: number;
  now(): number;
}

export class MetricsWatch {
  readonly #options: MetricsWatchOptions;
  readonly #listeners = new Set<(report: MetricsReport) => void>();
  readonly #readings: MetricsReading[] = [];
  #timer: NodeJS.Timeout | undefined;
  #reading = false;
  #latest: MetricsReport | undefined;

  constructor(options: MetricsWatchOptions) {
    this.#options = options;
  }

  /** Calls `listener` with each report, the latest one first; returns the unsubscriber. */
  listen(listener: (report: MetricsReport) => void): () => void {
    this.#listeners.add(listener);
    if (this.#latest !== undefined) listener(this.#latest);
    if (this.#timer === undefined) {
      void this.#read();
      this.#timer = setInterval(() => void this.#read(), this.#options.intervalMs);
      this.#timer.unref();
    }
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size > 0) return;
      clearInterval(this.#timer);
      this.#timer = undefined;
      // A gap would read as one long interval: the next viewer starts afresh.
      this.#readings.length = 0;
      this.#latest = undefined;
    };
  }

  async #read(): Promise<void> {
    // A round that outlasts the interval (a host slow to answer) is not overlapped by the next.
    if (this.#reading) return;
    this.#reading = true;
    try {
      const { control, window, intervalMs } = this.#options;
      const readings: HostReading[] = await Promise.all(
        this.#options.hosts().map((hostId) =>
          control.getHostMetrics(hostId).then(
            (metrics): HostReading => ({ hostId, metrics }),
            (err: unknown): HostReading => ({
              hostId,
              unavailable: { code: errorCode(err), message: describeError(err) },
            }),
          ),
        ),
      );
      if (this.#timer === undefined) return;
      this.#readings.push({ atMs: this.#options.now(), hosts: readings });
      if (this.#readings.length > window + 1) this.#readings.shift();
      const report = metricsReport(this.#readings, intervalMs);
      this.#latest = report;
      for (const listener of this.#listeners) listener(report);
    } finally {
      this.#reading = false;
    }
  }
}
