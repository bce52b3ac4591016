import { Pollable } from './io.ts';
import type { Readiness } from './io.ts';

const NS_PER_MS = 1_000_000n;

const NS_PER_MS_NUMBER = 1e6;

/** Node's nanosecond clock where there is one; a browser's `performance.now()` (microseconds) elsewhere. */
const monotonicNow: () => bigint =
  typeof process === 'object' && typeof process.hrtime?.bigint === 'function'
    ? () => process.hrtime.bigint()
    : () => BigInt(Math.round(performance.now() * NS_PER_MS_NUMBER));

class Deadline implements Readiness {
  readonly #at: bigint;

  constructor(at: bigint) {
    this.#at = at;
  }

  ready(): boolean {
    return monotonicNow() >= this.#at;
  }

  wait(): Promise<void> {
    const remaining = this.#at - monotonicNow();
    if (remaining <= 0n) return Promise.resolve();
    const ms = Number((remaining + NS_PER_MS - 1n) / NS_PER_MS);
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

export const monotonicClock = {
  now: monotonicNow,
  resolution: (): bigint => 1n,
  subscribeInstant: (when: bigint): Pollable => new Pollable(new Deadline(when)),
  subscribeDuration: (duration: bigint): Pollable => new Pollable(new Deadline(monotonicNow() + duration)),
};

export interface Datetime {
  seconds: bigint;
  nanoseconds: number;
}

export const wallClock = {
  now(): Datetime {
    const ms = performance.timeOrigin + performance.now();
    const seconds = Math.floor(ms / 1000);
    return { seconds: BigInt(seconds), nanoseconds: Math.floor((ms - seconds * 1000) * 1_000_000) };
  },
  resolution: (): Datetime => ({ seconds: 0n, nanoseconds: 1000 }),
};
