/**
 * The worker threads instances run in. The instances of a component whose imports are all served
 * inside the worker (WASI, outgoing HTTP) share threads: spread over up to one per core, then up to
 * `workerInstancesMax` on each, the thread loading the component's compiled code and bindings once.
 * A thread holds the instances of one component at a time, and an empty thread serves whichever
 * component needs one next. A component with linked imports gets a thread per instance, because such
 * an import blocks its thread until the host answers, which would stall every instance beside it.
 *
 * Stopping a runaway call means terminating its thread: every instance on it ends, and the calls of
 * the others, all of the same component, fail with WORKER_STOPPED (the pool starts replacements).
 * Another component never waits behind it. docs/adr/0010-shared-workers.md has the measurements.
 */
import { InstanceCrashedError } from '@cirrus/protocol';
import type { CirrusError, Logger } from '@cirrus/protocol';
import type { FromInstance, FromWorker, ImportReply, InstanceInit, ToWorker } from './worker-protocol.ts';

/** Room for the buffers a worker holds besides linear memory (calls' chunks, Node's own). */
const EXTERNAL_HEADROOM_MB = 32;
const MiB = 1024 * 1024;

/**
 * The old-generation limit of a worker holding up to `instances` instances. V8 counts linear memory
 * as external memory, and once a worker's external memory passes half its old-generation limit,
 * each `memory.grow` runs a full, memory-reducing mark-compact (`Heap::HandleExternalMemoryInterrupt`:
 * the hard limit is `max_old_generation_size / 2`). Sized to the heap cap alone (256 MiB), a guest
 * growing one page at a time to a 256 MiB memory ran one per page past 128 MiB, 2,048 in all (10.8 s,
 * against 0.31 s in a worker without limits). So the limit is at least twice the linear memory the
 * instances may hold, plus headroom; a runaway JavaScript heap is still bounded, by the larger of
 * the two. The cap is per memory and components have one (the canonical ABI's); one with several
 * could still reach the slow path.
 */
export function oldGenerationMb(
  heapMaxBytes: number,
  linearMemoryMaxBytes: number,
  instances: number,
): number {
  const heapMb = Math.max(16, Math.floor(heapMaxBytes / MiB)) * instances;
  return Math.max(heapMb, 2 * (Math.ceil(linearMemoryMaxBytes / MiB) * instances + EXTERNAL_HEADROOM_MB));
}

/** An instance on a thread, as the thread sees it. */
export interface ThreadMember {
  /** One of the instance's messages. */
  receive(message: FromInstance): void;
  /** The thread is gone; `err` says why, for this instance. */
  threadEnded(err: CirrusError): void;
}

/** A worker as the platform runs it: a Node worker thread, or a browser's Web Worker. */
export interface PlatformWorker {
  post(message: ToWorker): void;
  /**
   * Puts the reply to a blocking import call where the worker reads it synchronously (the caller
   * then raises the signal); throws when the value cannot be sent.
   */
  putBlockingReply(reply: ImportReply): void;
  /** Whether the worker keeps the process alive (Node); browsers have no such notion. */
  ref(): void;
  unref(): void;
  /** Ends the worker; nothing is sent to it after. */
  terminate(): Promise<void>;
}

export interface WorkerSpawn {
  compileCacheDir: string | undefined;
  oldGenerationMb: number;
  /** The Int32 slot the host raises once a blocking import's reply can be read. */
  importSignal: SharedArrayBuffer;
  onMessage(message: FromWorker): void;
  onError(err: Error): void;
  onExit(code: number): void;
}

/** Starts a worker on the platform's threads. */
export type SpawnWorker = (spawn: WorkerSpawn) => PlatformWorker;

export interface ThreadOptions {
  spawn: SpawnWorker;
  compileCacheDir: string | undefined;
  oldGenerationMb: number;
  /** Asked when the last instance has left: whether the thread ends (always so for a dedicated one). */
  endWhenEmpty: () => boolean;
  /** Told each time an instance on the thread has started. */
  onInstanceStarted?: () => void;
  logger: Logger;
}

let nextInstanceId = 1;

export class WorkerThread {
  readonly #worker: PlatformWorker;
  readonly #logger: Logger;
  readonly #members = new Map<number, ThreadMember>();
  /** Bindings keys an instance on this thread has loaded: later instances are started without the source. */
  readonly #loaded = new Set<string>();
  readonly #importSignal: Int32Array;
  readonly #endWhenEmpty: () => boolean;
  readonly #onInstanceStarted: (() => void) | undefined;
  /** Whose instances the thread holds (they all belong to one); undefined while it is empty. */
  #group: string | undefined;
  #alive = true;
  #onEnd: (() => void) | undefined;

  constructor(options: ThreadOptions) {
    this.#logger = options.logger;
    this.#endWhenEmpty = options.endWhenEmpty;
    this.#onInstanceStarted = options.onInstanceStarted;
    const importSignal = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    this.#importSignal = new Int32Array(importSignal);
    this.#worker = options.spawn({
      compileCacheDir: options.compileCacheDir,
      oldGenerationMb: options.oldGenerationMb,
      importSignal,
      onMessage: (m) => this.#members.get(m.instance)?.receive(m),
      onError: (err) => {
        this.#logger.error('instance worker failed', { error: err.message });
        this.#ended(new InstanceCrashedError(`instance worker failed: ${err.message}`));
      },
      onExit: (code) => this.#ended(new InstanceCrashedError(`instance worker exited (code ${code})`)),
    });
    // Only a thread with instances keeps the process alive (join refs it, the last leave unrefs it).
    this.#worker.unref();
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Instances on the thread, those starting included. */
  get size(): number {
    return this.#members.size;
  }

  get group(): string | undefined {
    return this.#group;
  }

  /** Called once when the thread has ended. */
  onEnd(callback: () => void): void {
    this.#onEnd = callback;
  }

  /** Starts an instance of `init` on this thread; returns its id. */
  join(member: ThreadMember, init: Omit<InstanceInit, 'bindings'> & { bindings: string }): number {
    const id = nextInstanceId++;
    if (!this.#alive) {
      queueMicrotask(() => member.threadEnded(new InstanceCrashedError('the worker thread has ended')));
      return id;
    }
    this.#members.set(id, member);
    this.#group = init.componentId;
    if (this.#members.size === 1) this.#worker.ref();
    const { bindings, ...rest } = init;
    this.post({
      t: 'start',
      instance: id,
      init: this.#loaded.has(init.bindingsKey) ? rest : { ...rest, bindings },
    });
    return id;
  }

  /** The instance started: the thread has its component's bindings from now on. */
  started(bindingsKey: string): void {
    this.#loaded.add(bindingsKey);
    this.#onInstanceStarted?.();
  }

  post(message: ToWorker): void {
    if (this.#alive) this.#worker.post(message);
  }

  /**
   * Answers a linked import call of `instance`: one the thread is blocked on (no `call`), through
   * the reply port and the signal; one it made without blocking, as a message.
   */
  reply(instance: number, call: number | undefined, reply: ImportReply): void {
    if (!this.#alive) return;
    const send = (value: ImportReply): void => {
      if (call === undefined) this.#worker.putBlockingReply(value);
      else this.#worker.post({ t: 'import-reply', instance, call, reply: value } satisfies ToWorker);
    };
    try {
      send(reply);
    } catch (err) {
      // A value that cannot cross threads (a function, a class instance) is the provider's bug.
      send({
        ok: false,
        error: {
          code: 'IMPORT_FAILED',
          message: `import result could not be sent to the instance: ${String(err)}`,
        },
      });
    }
    if (call !== undefined) return;
    Atomics.store(this.#importSignal, 0, 1);
    Atomics.notify(this.#importSignal, 0);
  }

  /** The instance is done with the thread; a thread left empty may end (awaited). */
  async leave(instance: number): Promise<void> {
    if (!this.#members.delete(instance)) return;
    this.post({ t: 'stop', instance });
    if (this.#members.size > 0) return;
    this.#group = undefined;
    if (this.#endWhenEmpty()) await this.stop(() => new InstanceCrashedError('instance was stopped'));
    else this.#worker.unref();
  }

  /**
   * Terminates the thread. Each instance on it ends at once, with the error `cause` gives it, so no
   * call reaches the thread after this.
   */
  async stop(cause: (instance: number) => CirrusError): Promise<void> {
    this.#ended(cause);
    await this.#worker.terminate();
  }

  #ended(cause: CirrusError | ((instance: number) => CirrusError)): void {
    if (!this.#alive) return;
    this.#alive = false;
    const members = [...this.#members];
    this.#members.clear();
    // Out of the placement first: the instances' replacements start on other threads.
    this.#onEnd?.();
    for (const [id, member] of members) member.threadEnded(typeof cause === 'function' ? cause(id) : cause);
  }
}

export interface WorkerThreadsOptions {
  spawn: SpawnWorker;
  /** Shared threads to spread instances over before any holds two. */
  workers: number;
  instancesPerWorker: number;
  /** Empty shared threads kept started once `standBy` was called. */
  spares: number;
  heapMaxBytes: number;
  linearMemoryMaxBytes: number;
  logger: Logger;
}

/** Where instances run: shared threads for components that can share, one each for the others. */
export class WorkerThreads {
  readonly #options: WorkerThreadsOptions;
  readonly #workers: number;
  readonly #shared = new Set<WorkerThread>();
  readonly #all = new Set<WorkerThread>();
  /** Set by `standBy`: where spare threads keep V8's compile cache. */
  #spareCacheDir: (() => string | undefined) | undefined;
  #closed = false;

  constructor(options: WorkerThreadsOptions) {
    this.#options = options;
    this.#workers = options.workers;
  }

  /** Threads and the instances on them, shared ones first. */
  get stats(): { shared: number[]; dedicated: number } {
    return {
      shared: [...this.#shared].map((t) => t.size),
      dedicated: this.#all.size - this.#shared.size,
    };
  }

  /**
   * A thread for one more instance of the component `group`: while the component runs on fewer than
   * `workers` threads, an empty one (its start is already paid) or a new one; else the least loaded
   * of its own with room; else an empty or a new one.
   */
  shared(compileCacheDir: string | undefined, group: string): WorkerThread {
    let own = 0;
    let best: WorkerThread | undefined;
    let empty: WorkerThread | undefined;
    for (const thread of this.#shared) {
      if (thread.size === 0) empty ??= thread;
      if (thread.group !== group) continue;
      own += 1;
      if (thread.size >= this.#options.instancesPerWorker) continue;
      if (best === undefined || thread.size < best.size) best = thread;
    }
    if (best !== undefined && own >= this.#workers) return best;
    return empty ?? this.#addShared(compileCacheDir);
  }

  /**
   * Keeps `spares` empty shared threads started from now on, so that a component scaled up from zero
   * does not wait for a thread to start (measured in docs/benchmarks.md, P4). A spare taken is
   * replaced once its first instance has started, not while that start needs the CPU.
   */
  standBy(compileCacheDir: () => string | undefined): void {
    // A host stopped while it was starting closes the runtime before it stands by.
    if (this.#closed) return;
    this.#spareCacheDir = compileCacheDir;
    this.#refill();
  }

  #refill(): void {
    if (this.#spareCacheDir === undefined) return;
    let empty = 0;
    for (const thread of this.#shared) if (thread.size === 0) empty += 1;
    for (; empty < this.#options.spares; empty++) this.#addShared(this.#spareCacheDir());
  }

  #addShared(compileCacheDir: string | undefined): WorkerThread {
    // Threads beyond `workers` are there for a crowd of instances: they end once it has gone.
    const thread = this.#start(
      compileCacheDir,
      this.#options.instancesPerWorker,
      () => this.#shared.size > this.#workers,
      () => this.#refill(),
    );
    this.#shared.add(thread);
    thread.onEnd(() => {
      this.#shared.delete(thread);
      this.#all.delete(thread);
    });
    return thread;
  }

  /** A thread of its own for one instance, ended when the instance is. */
  dedicated(compileCacheDir: string | undefined): WorkerThread {
    const thread = this.#start(compileCacheDir, 1, () => true);
    thread.onEnd(() => this.#all.delete(thread));
    return thread;
  }

  #start(
    compileCacheDir: string | undefined,
    instances: number,
    endWhenEmpty: () => boolean,
    onInstanceStarted?: () => void,
  ): WorkerThread {
    const { heapMaxBytes, linearMemoryMaxBytes, logger, spawn } = this.#options;
    const thread = new WorkerThread({
      spawn,
      compileCacheDir,
      oldGenerationMb: oldGenerationMb(heapMaxBytes, linearMemoryMaxBytes, instances),
      endWhenEmpty,
      ...(onInstanceStarted === undefined ? {} : { onInstanceStarted }),
      logger,
    });
    this.#all.add(thread);
    return thread;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#spareCacheDir = undefined;
    await Promise.all(
      [...this.#all].map((t) => t.stop(() => new InstanceCrashedError('the runtime was closed'))),
    );
  }
}
