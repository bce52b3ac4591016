/** GET loops on keep-alive connections that count every outcome while a fault happens. */
import { Agent, request } from 'node:http';
import { withDeadline } from '@cirrus/testing';

export interface LoadReport {
  /** Requests that completed, one way or another. */
  readonly total: number;
  /** Responses with a 2xx status. */
  readonly ok: number;
  /** Everything else: other statuses, connection errors, timeouts. */
  readonly failed: number;
  /** Responses by status code. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Requests that got no response, by error code (`ECONNREFUSED`, `ECONNRESET`, `TIMEOUT`, …). */
  readonly errors: Readonly<Record<string, number>>;
  /** The first failure seen, for the assertion message. */
  readonly firstFailure: string | undefined;
  /** Slowest completed request. */
  readonly maxLatencyMs: number;
}

export interface HttpLoad {
  /** The counts so far; the load keeps running. */
  report(): LoadReport;
  /** Stops sending, waits for the requests in flight (each has its timeout), and reports. */
  stop(): Promise<LoadReport>;
}

export interface HttpLoadOptions {
  /** Requests in flight at once, each on its own keep-alive connection (default 2). */
  concurrency?: number;
  /** Deadline of one request (default 5 s); a request past it counts as `TIMEOUT`. */
  timeoutMs?: number;
  /** Pause of each loop between requests (default 0: back to back). */
  pauseMs?: number;
  /** A 2xx response whose body fails this check counts as failed. */
  checkBody?: (body: string) => boolean;
}

/** GETs `url` continuously from `concurrency` loops until `stop()`, counting every outcome. */
export function startHttpLoad(url: string, options: HttpLoadOptions = {}): HttpLoad {
  const concurrency = options.concurrency ?? 2;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  let total = 0;
  let ok = 0;
  let firstFailure: string | undefined;
  let maxLatencyMs = 0;
  let stopped = false;

  const fail = (what: string): void => {
    firstFailure ??= `${new Date().toISOString()} ${what}`;
  };

  const once = (): Promise<void> =>
    new Promise((resolve) => {
      const started = performance.now();
      const done = (): void => {
        total++;
        maxLatencyMs = Math.max(maxLatencyMs, performance.now() - started);
        resolve();
      };
      const req = request(url, { agent, timeout: timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          statuses[status] = (statuses[status] ?? 0) + 1;
          const good = status >= 200 && status < 300 && (options.checkBody?.(body) ?? true);
          if (good) ok++;
          else fail(`status ${status}: ${body.slice(0, 200)}`);
          done();
        });
        res.on('error', (err: NodeJS.ErrnoException) => {
          errors[err.code ?? err.message] = (errors[err.code ?? err.message] ?? 0) + 1;
          fail(`response error ${err.code ?? err.message}`);
          done();
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? err.message;
        errors[code] = (errors[code] ?? 0) + 1;
        fail(`request error ${code}: ${err.message}`);
        done();
      });
      req.end();
    });

  const loop = async (): Promise<void> => {
    while (!stopped) {
      await once();
      if (options.pauseMs !== undefined) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  const loops = Array.from({ length: concurrency }, loop);

  const report = (): LoadReport => ({
    total,
    ok,
    failed: total - ok,
    statuses: { ...statuses },
    errors: { ...errors },
    firstFailure,
    maxLatencyMs: Math.round(maxLatencyMs),
  });
  return {
    report,
    async stop() {
      stopped = true;
      await withDeadline(Promise.all(loops), timeoutMs + 5_000, 'the HTTP load loops to finish');
      agent.destroy();
      return report();
    },
  };
}

/** One line summing up a load report, for test diagnostics. */
export function describeLoad(report: LoadReport): string {
  const errors = Object.entries(report.errors).map(([code, n]) => `${code}×${n}`);
  const statuses = Object.entries(report.statuses).map(([status, n]) => `${status}×${n}`);
  return `${report.total} requests, ${report.failed} failed (statuses ${statuses.join(' ') || 'none'}; errors ${errors.join(' ') || 'none'}), slowest ${report.maxLatencyMs} ms`;
}
