import type { EventName } from '@cirrus/protocol';

/** Time, injectable so tests and replays control it. */
export interface Clock {
  now(): Date;
  /** Milliseconds from an arbitrary origin, never going backwards. */
  monotonicMs(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  monotonicMs: () => performance.now(),
};

/** Where lattice events go; the lattice adapter publishes them as CloudEvents. */
export interface EventSink {
  publish(name: EventName, data: object): void;
}
