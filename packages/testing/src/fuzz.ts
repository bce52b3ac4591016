/**
 * Property-based fuzzing with a bounded budget: CI runs a fixed number of cases per property, and a
 * failure names the seed and path that replay it (`CIRRUS_FUZZ_SEED=<seed>`).
 */
import fc from 'fast-check';
import type { IAsyncPropertyWithHooks, IPropertyWithHooks, Parameters } from 'fast-check';

/** Cases per property: `CIRRUS_FUZZ_RUNS`, else `fallback` (keep CI fast; raise it locally to dig). */
export function fuzzRuns(fallback: number): number {
  const raw = process.env['CIRRUS_FUZZ_RUNS'];
  const runs = raw === undefined ? Number.NaN : Number(raw);
  return Number.isSafeInteger(runs) && runs > 0 ? runs : fallback;
}

function parameters<T>(runs: number): Parameters<T> {
  const seed = process.env['CIRRUS_FUZZ_SEED'];
  return {
    numRuns: fuzzRuns(runs),
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    // The report carries the seed and path; `CIRRUS_FUZZ_SEED` replays the same cases.
    endOnFailure: true,
  };
}

/** Checks a synchronous property over `runs` cases (or `CIRRUS_FUZZ_RUNS`). */
export function fuzz<T>(property: IPropertyWithHooks<T>, runs: number): void {
  fc.assert(property, parameters<T>(runs));
}

/** Checks an asynchronous property over `runs` cases (or `CIRRUS_FUZZ_RUNS`). */
export async function fuzzAsync<T>(property: IAsyncPropertyWithHooks<T>, runs: number): Promise<void> {
  await fc.assert(property, parameters<T>(runs));
}

export { fc };
