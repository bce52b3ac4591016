/**
 * Part `overload`: how `cirrus up` serving hello degrades past its capacity. Capacity here is the
 * number of connections the host can hold without refusing: the instances plus `poolMaxWaiters`
 * queue places (1,028 with the defaults and 4 instances). Closed-loop clients (each sends its next
 * request as soon as an answer arrives, the way load generators and impatient scripts do) load it at
 * 1×, 2× and 5× that, from the test kit's load generator in a process of its own. Rounds interleave
 * the three loads; the table gives medians over rounds and the ratio of each successful rate to the
 * one at 1× in the same run.
 */
import { DEFAULT_LIMITS } from '@cirrus/protocol';
import { runHttpLoad } from '@cirrus/testing';
import type { HttpLoadReport } from '@cirrus/testing';
import { startCirrus } from './http.ts';
import {
  fmt,
  log,
  makeTempDir,
  median,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  table,
} from './lib.ts';
import type { Settings } from './lib.ts';

const MULTIPLES = [1, 2, 5] as const;

interface Measured {
  report: HttpLoadReport;
  logLinesPerSecond: number;
}

export async function runOverload(settings: Settings): Promise<void> {
  const wasm = requireHelloWasm();
  const capacity = settings.instances + DEFAULT_LIMITS.poolMaxWaiters;
  log(
    `\n## overload: hello on ${settings.instances} instances, capacity ${capacity} connections ` +
      `(${settings.instances} instances + ${DEFAULT_LIMITS.poolMaxWaiters} queue places); ` +
      `${settings.rounds} rounds of ${settings.duration} s after ${settings.warmup} s of warm-up each`,
  );
  const dir = await makeTempDir();
  const target = await startCirrus(dir, wasm, settings);
  const port = Number(new URL(target.url).port);
  const runs = new Map<number, Measured[]>(MULTIPLES.map((m) => [m, []]));
  try {
    for (let round = 1; round <= settings.rounds; round++) {
      // Rotated, so that a slower stretch of the machine does not always fall on the same load.
      const order = MULTIPLES.map((_, i) => MULTIPLES[(i + round - 1) % MULTIPLES.length] as number);
      for (const multiple of order) {
        const linesBefore = target.server.outputLines;
        const report = await runHttpLoad({
          port,
          connections: capacity * multiple,
          warmupMs: settings.warmup * 1000,
          durationMs: settings.duration * 1000,
        });
        const logLinesPerSecond =
          (target.server.outputLines - linesBefore) / (settings.warmup + report.seconds);
        runs.get(multiple)?.push({ report, logLinesPerSecond });
        progress(
          `round ${round}, ${multiple}×: ${fmt(report.successPerSecond)} ok/s, ` +
            `${fmt((report.statuses['503'] ?? 0) / report.seconds)} 503/s, ${fmt(logLinesPerSecond, 1)} log lines/s`,
        );
      }
    }
  } finally {
    await target.server.stop();
    await removeTempDir(dir);
  }

  const medianOf = (multiple: number, value: (m: Measured) => number): number =>
    median((runs.get(multiple) ?? []).map(value));
  const atCapacity = medianOf(1, (m) => m.report.successPerSecond);
  const rows = MULTIPLES.map((multiple) => {
    const all = runs.get(multiple) ?? [];
    const ok = all.map((m) => m.report.successPerSecond);
    return [
      `${multiple}×`,
      fmt(capacity * multiple),
      fmt(medianOf(multiple, (m) => m.report.successPerSecond)),
      `${fmt(Math.min(...ok))}–${fmt(Math.max(...ok))}`,
      ratio(
        medianOf(multiple, (m) => m.report.successPerSecond),
        atCapacity,
      ),
      fmt(
        medianOf(multiple, (m) => m.report.successLatencyMs.p50 ?? Number.NaN),
        1,
      ),
      fmt(
        medianOf(multiple, (m) => m.report.successLatencyMs.p99 ?? Number.NaN),
        1,
      ),
      fmt(medianOf(multiple, (m) => (m.report.statuses['503'] ?? 0) / m.report.seconds)),
      fmt(
        medianOf(multiple, (m) => m.logLinesPerSecond),
        1,
      ),
      fmt(medianOf(multiple, (m) => Object.values(m.report.errors).reduce((a, b) => a + b, 0))),
    ];
  });
  log(
    table(
      [
        'load',
        'connections',
        'ok req/s',
        'range',
        'vs 1×',
        'p50 ms',
        'p99 ms',
        '503/s',
        'log lines/s',
        'socket errors',
      ],
      rows,
    ),
  );
  log(
    'ok req/s: 2xx responses per second; p50/p99: latency of 2xx responses, from sending to the last byte; ' +
      '503/s: refusals for capacity (each refused connection is read again after httpOverloadPauseMs).',
  );
}
