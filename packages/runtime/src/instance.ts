/**
 * The host-thread side of one instance: starts it on a worker thread, runs calls through it with a
 * deadline, and ends it when the guest traps. A call that overruns its deadline terminates the
 * thread, and with it every instance the thread holds (see worker-thread.ts).
 */
import {
  DeadlineExceededError,
  errorFromJSON,
  GuestTrapError,
  LinkNotFoundError,
  toErrorJSON,
  InstanceCrashedError,
  InstantiationFailedError,
  WorkerStoppedError,
} from '@cirrus/protocol';
import type { CirrusError, Logger } from '@cirrus/protocol';
import type { HttpBody, HttpRequestHead, HttpResponseSink } from './http-types.ts';
import { callHostStream, ResourceTable, STREAMS_INTERFACE } from './import-calls.ts';
import type { ImportHandler } from './import-calls.ts';
import { ExportedResource } from './exported-resource.ts';
import type { ExportCall, ResourceOwner } from './exported-resource.ts';
import { mapObjects } from './jco-values.ts';
import type {
  ExportedRef,
  FromInstance,
  ImportCallMessage,
  ImportReply,
  InstanceInit,
  ResponseHead,
  ToWorker,
} from './worker-protocol.ts';
import type { ThreadMember, WorkerThread } from './worker-thread.ts';
import type { SourceLocator } from './source-map.ts';

const ACKED = 0;
const CLIENT_GONE = 1;

export interface InstanceOptions {
  /** The thread to start on. */
  thread: WorkerThread;
  init: Omit<InstanceInit, 'flow' | 'bindings'> & { bindings: string };
  /** Serves the component's linked imports; without it every such call fails with LINK_NOT_FOUND. */
  imports?: ImportHandler | undefined;
  startTimeoutMs: number;
  logger: Logger;
  /**
   * Told each time the instance lends out an exported resource (+1) and each time one comes back
   * (-1: dropped, or taken over by a call); not for those that end with the instance.
   */
  onLending?: ((instance: WorkerInstance, change: 1 | -1) => void) | undefined;
  /** Points a guest failure at its source, from what the call wrote to stderr. */
  locateSource?: SourceLocator | undefined;
  /** Captures the caller's async context, in which the call's imports then run. */
  snapshotContext: () => <R>(fn: () => R) => R;
}

interface ActiveCall {
  id: number;
  sink: HttpResponseSink;
  headSent: boolean;
  resolve: (value?: unknown) => void;
  reject: (err: CirrusError) => void;
  timer: NodeJS.Timeout;
  bodyCredit: (() => void) | undefined;
  bodyInFlight: number;
  writes: Promise<void>;
  settled: boolean;
  /**
   * Runs a function in the async context the call was made in. Import calls arrive as messages from
   * the worker, outside that context; run in it, they carry what it holds (the caller's trace span).
   */
  inCallContext: <R>(fn: () => R) => R;
  /** Its last stderr lines, where an engine writes an uncaught exception and its stack. */
  stderr: string[];
}

/** Stderr lines kept per call: an exception's message and the frames nearest to it. */
const STDERR_LINES_KEPT = 64;

let nextCallId = 1;

const outsideAnyCall = <R>(fn: () => R): R => fn();

/** The sink of an export call, which produces a value rather than an HTTP response. */
const NO_OUTPUT: HttpResponseSink = {
  head: () => undefined,
  write: () => Promise.resolve(),
  end: () => undefined,
};

export class WorkerInstance implements ResourceOwner, ThreadMember {
  readonly componentId: string;
  readonly #thread: WorkerThread;
  readonly #id: number;
  readonly #logger: Logger;
  readonly #windowBytes: number;
  readonly #flow: Int32Array;
  readonly #imports: ImportHandler;
  readonly #locateSource: SourceLocator | undefined;
  readonly #snapshotContext: () => <R>(fn: () => R) => R;
  readonly #resources = new ResourceTable();
  /** Exported resources lent to callers outside, by their id in the worker's table. */
  readonly #lent = new Map<number, ExportedResource>();
  readonly #onLending: InstanceOptions['onLending'];
  #call: ActiveCall | undefined;
  #alive = true;
  /** What ended the instance when it was not simply stopped (a trap, a deadline): the lent resources' epitaph. */
  #ending: CirrusError | undefined;
  #onExit: (() => void) | undefined;
  /** Settles the start: the instance's first message, or the end of its thread. */
  #starting:
    ((outcome: Extract<FromInstance, { t: 'ready' | 'init-failed' }> | CirrusError) => void) | undefined;

  private constructor(options: InstanceOptions) {
    this.componentId = options.init.componentId;
    this.#onLending = options.onLending;
    this.#thread = options.thread;
    const flow = new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT);
    this.#flow = new Int32Array(flow);
    this.#imports = options.imports ?? noLinkedImports(options.init.componentId);
    this.#locateSource = options.locateSource;
    this.#snapshotContext = options.snapshotContext;
    this.#logger = options.logger;
    this.#windowBytes = options.init.responseWindowBytes;
    this.#id = options.thread.join(this, { ...options.init, flow });
  }

  static async start(options: InstanceOptions): Promise<WorkerInstance> {
    const instance = new WorkerInstance(options);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        instance.#starting = undefined;
        reject(
          new InstantiationFailedError(`instance did not start within ${options.startTimeoutMs} ms`, {
            hint: 'the component is very large or the machine is overloaded; raise instanceStartTimeoutMs',
          }),
        );
      }, options.startTimeoutMs);
      instance.#starting = (outcome) => {
        clearTimeout(timer);
        instance.#starting = undefined;
        if (outcome instanceof Error) {
          reject(new InstantiationFailedError(`instance worker ended during start: ${outcome.message}`));
        } else if (outcome.t === 'ready') {
          options.thread.started(options.init.bindingsKey);
          resolve();
        } else reject(errorFromJSON(outcome.error));
      };
    }).catch(async (err: unknown) => {
      await instance.terminate();
      throw err;
    });
    return instance;
  }

  /** The thread's message for this instance. */
  receive(message: FromInstance): void {
    if (message.t === 'ready' || message.t === 'init-failed') this.#starting?.(message);
    else this.#onMessage(message);
  }

  threadEnded(err: CirrusError): void {
    if (this.#starting !== undefined) this.#starting(err);
    else this.#die(err);
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** Called once when the worker is gone, whatever the reason. */
  onExit(callback: () => void): void {
    this.#onExit = callback;
  }

  handleHttp(
    head: HttpRequestHead,
    body: HttpBody,
    sink: HttpResponseSink,
    deadlineMs: number,
  ): Promise<void> {
    if (!this.#alive) return Promise.reject(new InstanceCrashedError('instance is no longer running'));
    if (this.#call !== undefined) return Promise.reject(new Error('instance is already serving a call'));
    const id = nextCallId++;
    return new Promise<void>((resolve, reject) => {
      const call = this.#begin(id, sink, () => resolve(), reject, deadlineMs);
      Atomics.store(this.#flow, ACKED, 0);
      Atomics.store(this.#flow, CLIENT_GONE, 0);
      this.#post({ t: 'http', instance: this.#id, id, head, hasBody: body !== null });
      if (body !== null) void this.#pumpBody(call, body);
    });
  }

  /**
   * Calls into an exported interface with jco-shaped values and returns the result. Resources the
   * call passes must be held by this instance; those it returns are lent out as ExportedResources.
   */
  invoke(exportName: string, call: ExportCall, deadlineMs: number): Promise<unknown> {
    if (!this.#alive) return Promise.reject(new InstanceCrashedError('instance is no longer running'));
    if (this.#call !== undefined) return Promise.reject(new Error('instance is already serving a call'));
    const id = nextCallId++;
    const args = mapObjects(call.args, (o) =>
      o instanceof ExportedResource ? { $exported: o.id } : undefined,
    ) as unknown[];
    return new Promise<unknown>((resolve, reject) => {
      this.#begin(id, NO_OUTPUT, resolve, reject, deadlineMs);
      this.#post({
        t: 'invoke',
        instance: this.#id,
        id,
        exportName,
        fn: call.fn,
        args,
        ...(call.resource === undefined ? {} : { resource: call.resource }),
        ...(call.self === undefined ? {} : { self: call.self.id }),
      });
    });
  }

  /** Drops a lent resource in the worker: its holder is done with it. */
  dropExported(id: number): void {
    if (!this.#lent.delete(id)) return;
    if (this.#alive) this.#post({ t: 'drop', instance: this.#id, resource: id });
    this.#onLending?.(this, -1);
  }

  /** Turns the worker's references to the resources it lends into ExportedResources. */
  #lend(value: unknown): unknown {
    return mapObjects(value, (o) => {
      const ref = o as Partial<ExportedRef>;
      if (typeof ref.$exported !== 'number' || ref.$interface === undefined || ref.$resource === undefined) {
        return undefined;
      }
      const resource = new ExportedResource(this, ref.$interface, ref.$resource, ref.$exported);
      this.#lent.set(resource.id, resource);
      this.#onLending?.(this, 1);
      return resource;
    });
  }

  /** Resources a call took over (`own` arguments): the guest holds them itself now. */
  #takenOver(ids: readonly number[]): void {
    for (const id of ids) {
      const resource = this.#lent.get(id);
      if (resource === undefined) continue;
      this.#lent.delete(id);
      resource.end('a call handed it over to the component that exports it');
      this.#onLending?.(this, -1);
    }
  }

  #begin(
    id: number,
    sink: HttpResponseSink,
    resolve: (value?: unknown) => void,
    reject: (err: CirrusError) => void,
    deadlineMs: number,
  ): ActiveCall {
    const call: ActiveCall = {
      id,
      sink,
      headSent: false,
      resolve,
      reject,
      bodyCredit: undefined,
      bodyInFlight: 0,
      writes: Promise.resolve(),
      settled: false,
      inCallContext: this.#snapshotContext(),
      stderr: [],
      timer: setTimeout(() => {
        const error = new DeadlineExceededError(`call did not finish within its ${deadlineMs} ms deadline`, {
          hint: 'the component is stuck or slow; the instance was discarded. Raise invocationTimeoutMs if the work is legitimately long',
        });
        this.#fail(call, error);
        this.#ending ??= error;
        // The only way to stop a guest that does not return: its thread goes, with every instance on it.
        void this.#thread.stop((instance) =>
          instance === this.#id
            ? error
            : new WorkerStoppedError(
                `the worker thread of this instance was stopped: an instance of ${this.componentId} beside it overran its deadline`,
                { hint: 'the call may be made again; a replacement instance is starting' },
              ),
        );
      }, deadlineMs),
    };
    this.#call = call;
    return call;
  }

  async #pumpBody(call: ActiveCall, body: AsyncIterable<Uint8Array>): Promise<void> {
    try {
      for await (const chunk of body) {
        if (call.settled) return;
        this.#post({ t: 'body', instance: this.#id, id: call.id, chunk });
        call.bodyInFlight += chunk.byteLength;
        while (call.bodyInFlight > this.#windowBytes && !call.settled) {
          await new Promise<void>((resolve) => (call.bodyCredit = resolve));
        }
      }
      if (!call.settled) this.#post({ t: 'body-end', instance: this.#id, id: call.id });
    } catch (err) {
      if (!call.settled) {
        this.#post({ t: 'body-error', instance: this.#id, id: call.id, message: String(err) });
      }
    }
  }

  #onMessage(message: FromInstance): void {
    if ('drops' in message && message.drops !== undefined) {
      for (const handle of message.drops) this.#resources.drop(handle);
    }
    if (message.t === 'import') {
      void this.#serveImport(message);
      return;
    }
    if (message.t === 'drop') {
      this.#resources.drop(message.handle);
      return;
    }
    if (message.t === 'log') {
      // Attributed to the call that wrote it: its number, and in its context its trace's ids.
      const call = this.#call;
      if (call !== undefined && message.stream === 'stderr' && this.#locateSource !== undefined) {
        if (call.stderr.push(message.line) > STDERR_LINES_KEPT) call.stderr.shift();
      }
      const fields = { stream: message.stream, ...(call === undefined ? {} : { invocation: call.id }) };
      (call?.inCallContext ?? outsideAnyCall)(() => {
        if (message.stream === 'stderr') this.#logger.warn(message.line, fields);
        else this.#logger.info(message.line, fields);
      });
      return;
    }
    const call = this.#call;
    if (call === undefined || !('id' in message) || message.id !== call.id) return;
    switch (message.t) {
      case 'out':
        this.#emit(call, message.head, message.chunks);
        return;
      case 'done':
        this.#emit(call, message.head, []);
        void call.writes.then(() => {
          if (call.settled) return;
          this.#settle(call);
          call.sink.end(message.chunks, message.trailers);
          call.resolve();
        });
        return;
      case 'returned':
        this.#takenOver(message.released ?? []);
        this.#settle(call);
        call.resolve(this.#lend(message.value));
        return;
      case 'failed': {
        const error = this.#located(errorFromJSON(message.error), call);
        this.#fail(call, error);
        if (message.fatal) {
          this.#ending ??= error;
          void this.terminate();
        }
        return;
      }
      case 'consumed':
        call.bodyInFlight -= message.bytes;
        if (call.bodyInFlight <= this.#windowBytes && call.bodyCredit !== undefined) {
          const credit = call.bodyCredit;
          call.bodyCredit = undefined;
          credit();
        }
        return;
    }
  }

  /** Passes output to the sink; credits the worker's window once the client has taken it. */
  #emit(call: ActiveCall, head: ResponseHead | undefined, chunks: Uint8Array[]): void {
    if (call.settled) return;
    if (head !== undefined && !call.headSent) {
      call.headSent = true;
      call.sink.head(head.status, head.headers);
    }
    if (chunks.length === 0) return;
    const bytes = chunks.reduce((n, c) => n + c.byteLength, 0);
    const written = Promise.all(chunks.map((c) => call.sink.write(c)));
    // Settled through `call.writes` below, possibly only after earlier writes: a client that is gone
    // by then must not surface as an unhandled rejection.
    written.catch(() => undefined);
    call.writes = call.writes
      .then(() => written)
      .then(
        () => {
          if (call.settled) return;
          Atomics.add(this.#flow, ACKED, bytes);
          Atomics.notify(this.#flow, ACKED);
        },
        () => {
          if (call.settled) return;
          Atomics.store(this.#flow, CLIENT_GONE, 1);
          Atomics.notify(this.#flow, ACKED);
        },
      );
  }

  /** Runs a linked import on the host thread and wakes the blocked worker with the reply. */
  async #serveImport(message: Omit<ImportCallMessage, 'instance'>): Promise<void> {
    let reply: ImportReply;
    try {
      const args = message.args.map((a) => this.#resources.fromWorker(a));
      // A stream a provider handed out is served by that stream itself, whatever link it came through.
      const value =
        message.interface === STREAMS_INTERFACE && message.handle !== undefined
          ? await callHostStream(this.#resources.get(message.handle), message.fn, args)
          : await (this.#call?.inCallContext ?? outsideAnyCall)(() =>
              this.#imports({
                interface: message.interface,
                fn: message.fn,
                invocation: this.#call?.id ?? 0,
                ...(message.resource === undefined ? {} : { resource: message.resource }),
                ...(message.handle === undefined ? {} : { self: this.#resources.get(message.handle) }),
                args,
              }),
            );
      reply = { ok: true, value: this.#resources.toWorker(value) };
    } catch (err) {
      reply = { ok: false, error: toErrorJSON(err, 'IMPORT_FAILED') };
    }
    if (!this.#alive) return;
    this.#thread.reply(this.#id, message.call, reply);
  }

  #settle(call: ActiveCall): void {
    call.settled = true;
    clearTimeout(call.timer);
    call.bodyCredit?.();
    if (this.#call === call) this.#call = undefined;
  }

  /** A guest trap, with the source location of the exception when the component has a source map. */
  #located(error: CirrusError, call: ActiveCall): CirrusError {
    if (error.code !== 'GUEST_TRAP' || this.#locateSource === undefined) return error;
    const at = this.#locateSource(call.stderr);
    if (at === undefined) return error;
    const source = `${at.file}:${at.line}:${at.column}`;
    const where = at.function === undefined ? source : `${source} in ${at.function}`;
    return new GuestTrapError(`${at.message ?? error.message} (at ${where})`, {
      hint: error.hint,
      details: { ...error.details, source, ...(at.function === undefined ? {} : { function: at.function }) },
    });
  }

  #fail(call: ActiveCall, err: CirrusError): void {
    if (call.settled) return;
    this.#settle(call);
    call.reject(err);
  }

  #post(message: ToWorker): void {
    this.#thread.post(message);
  }

  #die(err: CirrusError): void {
    if (!this.#alive) return;
    this.#alive = false;
    const ending = this.#ending ?? err;
    for (const resource of this.#lent.values()) {
      resource.end(`the instance that held it ended (${ending.code}: ${ending.message})`);
    }
    this.#lent.clear();
    this.#resources.clear();
    const call = this.#call;
    if (call !== undefined) this.#fail(call, err);
    this.#onExit?.();
  }

  /** Ends the instance: its thread forgets it, and a thread of its own ends. */
  async terminate(): Promise<void> {
    this.#die(new InstanceCrashedError('instance was stopped'));
    await this.#thread.leave(this.#id);
  }
}

function noLinkedImports(componentId: string): ImportHandler {
  return (call) =>
    Promise.reject(
      new LinkNotFoundError(`${componentId} has no link for ${call.interface}`, {
        hint: 'this runtime was created without an import handler; run the component on a host',
      }),
    );
}
