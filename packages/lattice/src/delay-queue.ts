/**
 * Timeouts of one fixed delay, in order of their due time, under one runtime timer per delay.
 *
 * A quick wRPC call arms and cancels several timeouts (its deadline, the probe of its peer, a held-back
 * handshake). Each on its own creates and destroys one of Node's per-duration timer lists, which cost
 * more than the rest of the call's bookkeeping; here a timeout is an entry in a queue. Cancelled
 * entries stay until the timer passes them or they outnumber the live ones; with none live the timer
 * no longer keeps the process alive.
 */

interface Entry {
  readonly due: number;
  fn: (() => void) | undefined;
}

type Timer = ReturnType<typeof setTimeout> & { ref?: () => unknown; unref?: () => unknown };

class DelayQueue {
  readonly #delayMs: number;
  #entries: Entry[] = [];
  #head = 0;
  #live = 0;
  #timer: Timer | undefined;
  #refed = false;
  #firing = false;

  constructor(delayMs: number) {
    this.#delayMs = delayMs;
  }

  add(fn: () => void): () => void {
    const entry: Entry = { due: performance.now() + this.#delayMs, fn };
    this.#entries.push(entry);
    this.#live += 1;
    if (this.#timer === undefined) {
      if (!this.#firing) this.#arm(this.#delayMs);
    } else if (!this.#refed) {
      this.#ref(true);
    }
    return () => {
      if (entry.fn === undefined) return;
      entry.fn = undefined;
      this.#live -= 1;
      if (this.#live === 0) this.#ref(false);
      if (this.#entries.length - this.#head > 2 * this.#live + 64) this.#compact();
    };
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#fire(), ms);
    this.#refed = true;
    if (this.#live === 0) this.#ref(false);
  }

  #ref(on: boolean): void {
    this.#refed = on;
    if (on) this.#timer?.ref?.();
    else this.#timer?.unref?.();
  }

  #fire(): void {
    this.#timer = undefined;
    this.#firing = true;
    const now = performance.now();
    while (this.#head < this.#entries.length) {
      const entry = this.#entries[this.#head] as Entry;
      if (entry.fn !== undefined && entry.due > now) break;
      this.#head += 1;
      const fn = entry.fn;
      if (fn === undefined) continue;
      entry.fn = undefined;
      this.#live -= 1;
      try {
        fn();
      } catch (err) {
        // As from a timer of its own: uncaught, without keeping the timeouts behind it from running.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
    this.#firing = false;
    this.#compact();
    const next = this.#entries[0];
    if (next !== undefined) this.#arm(Math.max(0, next.due - now));
  }

  #compact(): void {
    this.#entries = this.#entries.slice(this.#head).filter((e) => e.fn !== undefined);
    this.#head = 0;
  }
}

const queues = new Map<number, DelayQueue>();

/** Runs `fn` once after `delayMs`; returns how to cancel it. */
export function afterDelay(delayMs: number, fn: () => void): () => void {
  let queue = queues.get(delayMs);
  if (queue === undefined) {
    queue = new DelayQueue(delayMs);
    queues.set(delayMs, queue);
  }
  return queue.add(fn);
}

/** Runs `fn` every `intervalMs` until cancelled. */
export function everyDelay(intervalMs: number, fn: () => void): () => void {
  let cancel = afterDelay(intervalMs, function tick() {
    cancel = afterDelay(intervalMs, tick);
    fn();
  });
  return () => cancel();
}
