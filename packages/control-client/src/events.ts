/**
 * Lattice events (`wasmbus.evt.<lattice>.<event>`) as an async iterable, and a one-shot wait for the
 * event that reports the outcome of a request. Both subscribe synchronously when called, so a caller
 * that subscribes before sending a request cannot miss the event the request causes.
 */
import type { LatticeConnection, Msg, Subscription } from '@cirrus/lattice';
import {
  eventSubject,
  EVENT_NAMES,
  InvalidArgumentError,
  LatticeClosedError,
  RequestTimeoutError,
} from '@cirrus/protocol';
import type { CloudEvent, EventName } from '@cirrus/protocol';

export interface EventStreamOptions {
  /** Only these events (one subscription per type, like the Rust client); all events when omitted. */
  types?: readonly EventName[];
}

export interface EventStream extends AsyncIterable<CloudEvent> {
  /** Unsubscribes; a pending or later `next()` ends the iteration. */
  stop(): void;
}

export interface WaitForEventOptions extends EventStreamOptions {
  /** Aborting stops the wait and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** `wasmbus.evt.<lattice>.>`, or one subject per requested type. */
function subjectsFor(lattice: string, types: readonly EventName[] | undefined): string[] {
  if (types === undefined) return [eventSubject(lattice, '>')];
  for (const type of types) {
    if (!(EVENT_NAMES as readonly string[]).includes(type)) {
      throw new InvalidArgumentError(`unknown event type ${JSON.stringify(type)}`, {
        hint: `event types: ${EVENT_NAMES.join(', ')}`,
      });
    }
  }
  return [...new Set(types)].map((type) => eventSubject(lattice, type));
}

/** The envelope fields every consumer relies on; anything else is passed through untouched. */
function parseEvent(msg: Msg): CloudEvent | undefined {
  let value: unknown;
  try {
    value = msg.json();
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const event = value as Partial<CloudEvent>;
  if (typeof event.type !== 'string' || typeof event.source !== 'string') return undefined;
  if (typeof event.data !== 'object' || event.data === null) event.data = {};
  return event as CloudEvent;
}

/** Subscribes to the events and hands each well-formed one to `deliver`; returns the unsubscriber. */
function listen(
  conn: LatticeConnection,
  lattice: string,
  types: readonly EventName[] | undefined,
  deliver: (event: CloudEvent) => void,
  /** Called when a subscription ends, including by the connection closing under it. */
  onEnd: () => void,
): () => void {
  const subs: Subscription[] = [];
  const stop = (): void => {
    for (const sub of subs) sub.unsubscribe();
  };
  try {
    for (const subject of subjectsFor(lattice, types)) {
      subs.push(
        conn.subscribe(subject, {
          callback: (msg) => {
            // A malformed event from some other publisher must not end everybody's stream.
            const event = parseEvent(msg);
            if (event !== undefined) deliver(event);
          },
        }),
      );
    }
    // A closed connection ends its subscriptions without a word; waiting forever on it would hang
    // `cirrus get events` and every `wait`.
    for (const sub of subs) void sub.closed.then(onEnd);
  } catch (err) {
    stop();
    throw err;
  }
  return stop;
}

export function openEventStream(
  conn: LatticeConnection,
  lattice: string,
  options: EventStreamOptions = {},
): EventStream {
  const buffered: CloudEvent[] = [];
  let waiting: ((result: IteratorResult<CloudEvent>) => void) | undefined;
  let ended = false;

  const unsubscribe = listen(
    conn,
    lattice,
    options.types,
    (event) => {
      if (ended) return;
      if (waiting !== undefined) {
        const wake = waiting;
        waiting = undefined;
        wake({ value: event, done: false });
      } else {
        // Unbounded on purpose: events are small and a consumer that falls behind (a slow terminal)
        // should see every one of them rather than a silently thinned stream.
        buffered.push(event);
      }
    },
    // The connection went away: what already arrived is still delivered, then the iteration ends.
    () => end(false),
  );

  const end = (discard: boolean): void => {
    if (ended) return;
    ended = true;
    unsubscribe();
    if (discard) buffered.length = 0;
    if (waiting !== undefined) {
      const wake = waiting;
      waiting = undefined;
      wake({ value: undefined, done: true });
    }
  };

  const stop = (): void => end(true);

  return {
    stop,
    [Symbol.asyncIterator](): AsyncIterator<CloudEvent> {
      return {
        next: () => {
          const event = buffered.shift();
          if (event !== undefined) return Promise.resolve({ value: event, done: false });
          if (ended) return Promise.resolve({ value: undefined, done: true });
          return new Promise((resolve) => (waiting = resolve));
        },
        return: () => {
          // `break` in a for-await loop ends the subscription, like nats.js iterators do.
          stop();
          return Promise.resolve({ value: undefined, done: true });
        },
      };
    },
  };
}

/**
 * Resolves with the first event that satisfies `predicate`, or rejects with REQUEST_TIMEOUT after
 * `timeoutMs`. The subscription is made before this returns.
 */
export function waitForEvent(
  conn: LatticeConnection,
  lattice: string,
  predicate: (event: CloudEvent) => boolean,
  timeoutMs: number,
  options: WaitForEventOptions = {},
): Promise<CloudEvent> {
  const { signal } = options;
  if (signal?.aborted === true) return Promise.reject(signal.reason as Error);
  return new Promise<CloudEvent>((resolve, reject) => {
    let settled = false;
    const finish = (): void => {
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      unsubscribe();
    };
    const onAbort = (): void => {
      if (settled) return;
      finish();
      reject(signal?.reason as Error);
    };
    const onEnd = (): void => {
      if (settled) return;
      finish();
      reject(
        new LatticeClosedError(
          `the lattice connection closed while waiting for an event on lattice "${lattice}"`,
        ),
      );
    };
    const unsubscribe = listen(
      conn,
      lattice,
      options.types,
      (event) => {
        if (settled) return;
        let matched: boolean;
        try {
          matched = predicate(event);
        } catch (err) {
          finish();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (!matched) return;
        finish();
        resolve(event);
      },
      onEnd,
    );
    // Declared after the subscription: `finish` only runs from callbacks, which are never synchronous.
    const timer = setTimeout(() => {
      if (settled) return;
      finish();
      const what = options.types === undefined ? 'the expected event' : options.types.join(' or ');
      reject(
        new RequestTimeoutError(`no ${what} arrived on lattice "${lattice}" within ${timeoutMs} ms`, {
          hint: 'the host may still be working (a large download?) or gone; check `cirrus get events` and raise the wait timeout if needed',
        }),
      );
    }, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
