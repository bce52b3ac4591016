/**
 * Calls made one at a time, for latency: every call's time is kept, rounds are interleaved across
 * the modes compared, and medians over rounds are what the parts report.
 */
import { fmt, median, progress, table } from './lib.ts';
import type { Settings } from './lib.ts';

export type Call = () => Promise<void>;

export interface Mode {
  label: string;
  call: Call;
  /** µs per call, one entry per round. */
  rounds: number[];
  /** Every call's latency in µs, when the samples are kept. */
  samples: number[];
}

export function mode(label: string, call: Call): Mode {
  return { label, call, rounds: [], samples: [] };
}

async function measure(call: Call, calls: number, samples?: number[]): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await call();
    samples?.push((performance.now() - t) * 1000);
  }
  return ((performance.now() - started) * 1000) / calls;
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Warms every mode up, then runs `settings.rounds` rounds of `calls` calls, the modes in turn. */
export async function runModes(
  modes: Mode[],
  settings: Settings,
  calls: number,
  keepSamples: boolean,
): Promise<void> {
  const warm = Math.min(calls, 1000);
  for (const mode of modes) await measure(mode.call, warm);
  for (let r = 0; r < settings.rounds; r++) {
    for (const mode of modes) {
      const us = await measure(mode.call, calls, keepSamples ? mode.samples : undefined);
      mode.rounds.push(us);
      progress(`round ${r + 1}/${settings.rounds} ${mode.label}: ${fmt(us, 1)} µs/call`);
    }
  }
}

export const medianOfRounds = (m: Mode): number => median(m.rounds);

/** The table the latency parts print: each mode's median over rounds, p50 and p99 over every call, and the rounds. */
export function latencyTable(modes: readonly Mode[], unit: 'call' | 'request'): string {
  return table(
    ['mode', `µs/${unit}`, 'p50 µs', 'p99 µs', 'µs per round'],
    modes.map((m) => [
      m.label,
      fmt(medianOfRounds(m), 1),
      fmt(percentile(m.samples, 50), 1),
      fmt(percentile(m.samples, 99), 1),
      m.rounds.map((x) => fmt(x, 1)).join(' / '),
    ]),
  );
}
