/**
 * Warm instances of one component. One call per instance; the pool grows on demand up to
 * `maxInstances`, queues a bounded number of callers for a bounded time beyond that, then answers
 * AT_CAPACITY. Instances that die (deadline, trap, crash) are replaced in the background, and so are
 * instances that have served `maxCallsPerInstance` calls: whatever a guest or its bindings keep per
 * call (StarlingMonkey never drops the incoming-request handle of `wasi:http`: about 1 KiB of the
 * worker's heap per request) is then bounded. The replacement starts while the old instance serves
 * on, and takes its place once ready, so recycling never leaves callers waiting.
 *
 * An instance that has lent resources out (see exported-resource.ts) holds them in its memory: calls
 * on them must reach that instance (`acquireInstance`), and it is neither recycled nor retired by a
 * scale-down while it lends any; only its own end (a trap, a deadline, the pool closing) ends them.
 */
import { AtCapacityError, ComponentStoppedError, InstanceCrashedError } from '@cirrus/protocol';
import type { CirrusError } from '@cirrus/protocol';

/**
 * Instances that served the same number of calls would all be replaced at the same moment, and their
 * starts together cost a dip in throughput; each gets a limit up to this share below the maximum.
 */
const RECYCLE_JITTER = 0.25;

export interface PooledInstance {
  readonly alive: boolean;
  onExit(callback: () => void): void;
  terminate(): Promise<void>;
}

export interface PoolOptions<I extends PooledInstance> {
  name: string;
  start: () => Promise<I>;
  maxInstances: number;
  /** Instances kept started while idle. */
  minWarm: number;
  acquireTimeoutMs: number;
  /** Extra wait granted to a caller whose arrival started a new instance. */
  startTimeoutMs: number;
  maxWaiters: number;
  /** Calls after which an instance is replaced by a fresh one; 0 never replaces. */
  maxCallsPerInstance: number;
  onStartError: (err: unknown) => void;
}

interface Waiter<I> {
  resolve: (instance: I) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout | undefined;
  /** Whether the wait already includes the time an instance takes to start. */
  coversStart: boolean;
}

export interface PoolStats {
  maxInstances: number;
  instances: number;
  idle: number;
  busy: number;
  starting: number;
  waiting: number;
}

export class InstancePool<I extends PooledInstance> {
  readonly #options: PoolOptions<I>;
  readonly #idle: I[] = [];
  readonly #all = new Set<I>();
  readonly #waiters: Waiter<I>[] = [];
  readonly #calls = new WeakMap<I, number>();
  /** Each instance's own limit: `maxCallsPerInstance` less up to a quarter, so they do not all restart at once. */
  readonly #callLimits = new WeakMap<I, number>();
  /** Instances whose replacement is starting. */
  readonly #retiring = new Set<I>();
  /** Instances replaced while busy: terminated when their call ends. */
  readonly #retired = new Set<I>();
  /** Resources each instance has lent out and not yet got back. */
  readonly #lending = new Map<I, number>();
  /** Callers waiting for one instance in particular (calls on the resources it holds). */
  readonly #waitingFor = new Map<I, Waiter<I>[]>();
  #starting = 0;
  #maxInstances: number;
  #closed = false;
  #drained: (() => void) | undefined;

  constructor(options: PoolOptions<I>) {
    this.#options = options;
    this.#maxInstances = options.maxInstances;
  }

  get stats(): PoolStats {
    return {
      maxInstances: this.#maxInstances,
      instances: this.#all.size,
      idle: this.#idle.length,
      busy: this.#all.size - this.#idle.length,
      starting: this.#starting,
      waiting: this.#waiters.length + this.#waitingForCount(),
    };
  }

  /** Starts `minWarm` instances; resolves when the first is ready (or rejects with its error). */
  async warm(): Promise<void> {
    const wanted = Math.min(this.#options.minWarm, this.#maxInstances);
    if (wanted <= 0) return;
    const first = this.#spawn();
    for (let i = 1; i < wanted; i++) void this.#spawn().catch(() => {});
    const instance = await first;
    this.release(instance);
  }

  acquire(): Promise<I> {
    if (this.#closed) return Promise.reject(this.#stoppedError());
    const idle = this.#takeIdle();
    if (idle !== undefined) return Promise.resolve(this.#handOut(idle));
    if (this.#waiters.length >= this.#options.maxWaiters) return Promise.reject(this.#capacityError());
    return new Promise<I>((resolve, reject) => {
      const waiter: Waiter<I> = { resolve, reject, timer: undefined, coversStart: false };
      this.#waiters.push(waiter);
      let waitMs = this.#options.acquireTimeoutMs;
      if (this.#all.size + this.#starting < this.#maxInstances) {
        this.#spawn().then(
          (instance) => this.release(instance),
          (err: unknown) => this.#rejectWaiter(waiter, err),
        );
      }
      // Capacity that is still starting (new, or replacing a dead instance) is worth waiting for.
      if (this.#starting > 0) {
        waitMs += this.#options.startTimeoutMs;
        waiter.coversStart = true;
      }
      waiter.timer = setTimeout(() => this.#rejectWaiter(waiter, this.#capacityError()), waitMs);
    });
  }

  /**
   * The instance `instance` itself, once it is free: calls on the resources it holds wait for it,
   * ahead of callers that any instance can serve. Rejects when it is not (or no longer) in the pool.
   */
  acquireInstance(instance: I): Promise<I> {
    if (this.#closed) return Promise.reject(this.#stoppedError());
    if (!instance.alive || !this.#all.has(instance)) return Promise.reject(this.#goneError());
    const at = this.#idle.indexOf(instance);
    if (at !== -1) {
      this.#idle.splice(at, 1);
      return Promise.resolve(this.#handOut(instance));
    }
    if (this.#waiters.length + this.#waitingForCount() >= this.#options.maxWaiters) {
      return Promise.reject(this.#capacityError());
    }
    return new Promise<I>((resolve, reject) => {
      const waiter: Waiter<I> = { resolve, reject, timer: undefined, coversStart: true };
      const queue = this.#waitingFor.get(instance) ?? [];
      queue.push(waiter);
      this.#waitingFor.set(instance, queue);
      waiter.timer = setTimeout(() => {
        this.#rejectWaiter(waiter, this.#capacityError());
      }, this.#options.acquireTimeoutMs);
    });
  }

  /** Told by an instance as it lends a resource out (+1) and gets one back (-1). */
  lendingChanged(instance: I, change: 1 | -1): void {
    const lending = (this.#lending.get(instance) ?? 0) + change;
    if (lending > 0) {
      this.#lending.set(instance, lending);
      return;
    }
    this.#lending.delete(instance);
    // Kept past a scale-down for its resources alone: it can go now.
    const idleAt = this.#idle.indexOf(instance);
    if (idleAt !== -1 && this.#all.size > this.#maxInstances) {
      this.#idle.splice(idleAt, 1);
      this.#all.delete(instance);
      void instance.terminate();
    }
  }

  /** Returns an instance after a call. Dead instances are dropped and replaced if callers wait. */
  release(instance: I): void {
    const lends = this.#lending.has(instance);
    if (this.#retired.delete(instance)) {
      // Its last call lent resources out: it serves on for them, beside its replacement.
      if (lends && instance.alive && !this.#closed) this.#all.add(instance);
      else {
        void instance.terminate();
        return;
      }
    }
    if (!instance.alive || !this.#all.has(instance)) return;
    if (this.#closed || (this.#all.size > this.#maxInstances && !lends)) {
      this.#all.delete(instance);
      void instance.terminate();
      if (this.#all.size === 0) this.#drained?.();
      return;
    }
    const limit = this.#callLimits.get(instance);
    const spent = limit !== undefined && (this.#calls.get(instance) ?? 0) >= limit;
    if (spent && !lends && !this.#retiring.has(instance)) this.#replace(instance);
    const own = this.#waitingFor.get(instance)?.shift();
    if (own !== undefined) {
      if (this.#waitingFor.get(instance)?.length === 0) this.#waitingFor.delete(instance);
      clearTimeout(own.timer);
      own.resolve(this.#handOut(instance));
      return;
    }
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      waiter.resolve(this.#handOut(instance));
      return;
    }
    this.#idle.push(instance);
  }

  /** Counts the call an instance is handed out for. */
  #handOut(instance: I): I {
    this.#calls.set(instance, (this.#calls.get(instance) ?? 0) + 1);
    return instance;
  }

  /** Starts a fresh instance to take the place of `old`, which serves on until it is ready. */
  #replace(old: I): void {
    this.#retiring.add(old);
    this.#spawn().then(
      (fresh) => {
        this.#retiring.delete(old);
        // It lent resources out while its replacement started: it stays, and the spare goes.
        if (this.#lending.has(old)) {
          this.release(fresh);
          return;
        }
        if (this.#all.delete(old)) {
          const idleAt = this.#idle.indexOf(old);
          if (idleAt === -1) this.#retired.add(old);
          else {
            this.#idle.splice(idleAt, 1);
            void old.terminate();
          }
        }
        this.release(fresh);
      },
      (err: unknown) => {
        // The old instance serves on; the next call it completes tries again.
        this.#retiring.delete(old);
        this.#options.onStartError(err);
      },
    );
  }

  setMaxInstances(max: number): void {
    this.#maxInstances = max;
    for (const extra of this.#idle.filter((i) => !this.#lending.has(i))) {
      if (this.#all.size <= max) break;
      this.#idle.splice(this.#idle.indexOf(extra), 1);
      this.#all.delete(extra);
      void extra.terminate();
    }
    while (this.#waiters.length > 0 && this.#all.size + this.#starting < max) {
      this.#spawn().then(
        (instance) => this.release(instance),
        (err: unknown) => this.#options.onStartError(err),
      );
    }
  }

  /**
   * Stops the pool: queued callers get COMPONENT_STOPPED, idle instances stop at once, busy ones
   * may finish their call for up to `drainMs` before they are terminated.
   */
  async close(drainMs = 0): Promise<void> {
    this.#closed = true;
    for (const waiter of [...this.#waiters.splice(0), ...[...this.#waitingFor.values()].flat()]) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#stoppedError());
    }
    this.#waitingFor.clear();
    for (const idle of this.#idle.splice(0)) {
      this.#all.delete(idle);
      void idle.terminate();
    }
    if (drainMs > 0 && this.#all.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const all = [...this.#all];
    this.#all.clear();
    await Promise.all(all.map((i) => i.terminate()));
  }

  /** An idle instance, preferring one that lends nothing: the others are kept free for their resources. */
  #takeIdle(): I | undefined {
    for (let at = this.#idle.length - 1; at >= 0; at--) {
      if (!this.#lending.has(this.#idle[at] as I)) return this.#takeIdleAt(at);
    }
    return this.#idle.length === 0 ? undefined : this.#takeIdleAt(this.#idle.length - 1);
  }

  #takeIdleAt(at: number): I | undefined {
    const [instance] = this.#idle.splice(at, 1) as [I];
    return instance.alive ? instance : this.#takeIdle();
  }

  async #spawn(): Promise<I> {
    this.#starting++;
    let instance: I;
    try {
      instance = await this.#options.start();
    } finally {
      this.#starting--;
    }
    if (this.#closed) {
      await instance.terminate();
      throw this.#stoppedError();
    }
    this.#all.add(instance);
    const max = this.#options.maxCallsPerInstance;
    if (max > 0)
      this.#callLimits.set(instance, Math.max(1, Math.round(max * (1 - RECYCLE_JITTER * Math.random()))));
    instance.onExit(() => this.#forget(instance));
    return instance;
  }

  #forget(instance: I): void {
    this.#lending.delete(instance);
    for (const waiter of this.#waitingFor.get(instance) ?? []) {
      clearTimeout(waiter.timer);
      waiter.reject(this.#goneError());
    }
    this.#waitingFor.delete(instance);
    if (!this.#all.delete(instance)) return;
    const at = this.#idle.indexOf(instance);
    if (at !== -1) this.#idle.splice(at, 1);
    if (this.#closed) {
      if (this.#all.size === 0) this.#drained?.();
      return;
    }
    const needed = Math.max(
      Math.min(this.#options.minWarm, this.#maxInstances) - (this.#all.size + this.#starting),
      Math.min(this.#waiters.length, this.#maxInstances - (this.#all.size + this.#starting)),
    );
    for (let i = 0; i < needed; i++) {
      this.#spawn().then(
        (replacement) => this.release(replacement),
        // A replacement that fails once the pool is closed was cut short by the close.
        (err: unknown) => {
          if (!this.#closed) this.#options.onStartError(err);
        },
      );
    }
    // A caller queued behind an instance that just died would otherwise time out while its
    // replacement is still starting; give those callers the start time once.
    for (const waiter of this.#waiters.slice(0, Math.max(0, needed))) {
      if (waiter.coversStart) continue;
      waiter.coversStart = true;
      clearTimeout(waiter.timer);
      waiter.timer = setTimeout(
        () => this.#rejectWaiter(waiter, this.#capacityError()),
        this.#options.startTimeoutMs,
      );
    }
  }

  #rejectWaiter(waiter: Waiter<I>, err: unknown): void {
    const queue = this.#waiters.includes(waiter)
      ? this.#waiters
      : [...this.#waitingFor.values()].find((q) => q.includes(waiter));
    if (queue === undefined) return;
    queue.splice(queue.indexOf(waiter), 1);
    clearTimeout(waiter.timer);
    waiter.reject(err);
  }

  #waitingForCount(): number {
    let count = 0;
    for (const queue of this.#waitingFor.values()) count += queue.length;
    return count;
  }

  #goneError(): CirrusError {
    return new InstanceCrashedError(
      `the instance of ${this.#options.name} that holds the call's resources no longer serves it`,
    );
  }

  #capacityError(): CirrusError {
    return new AtCapacityError(
      `${this.#options.name} is at capacity (${this.#maxInstances} instances busy, ${this.#waiters.length} calls waiting)`,
      { hint: 'scale the component to more instances or retry later' },
    );
  }

  #stoppedError(): CirrusError {
    return new ComponentStoppedError(`${this.#options.name} is stopped`, {
      hint: 'scale the component up again before calling it',
    });
  }
}
