/**
 * Instance worker: hosts exactly one component instance and runs one call at a time. The host thread
 * can terminate it at any moment (deadline passed, guest trapped), which is the only reliable way to
 * stop a WebAssembly busy loop on V8.
 */
import { registerHooks } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import { Buffer } from 'node:buffer';
import type { ErrorJSON } from '@cirrus/protocol';
import type { FromWorker, ResponseHead, ToWorker, WorkerInit } from './worker-protocol.ts';
import type { HttpRequestHead } from './http-types.ts';
import { ChunkSource, LineSink } from './wasi/buffers.ts';
import { CLOSED, EMPTY_SOURCE, OutputStream, setSuspendHook } from './wasi/io.ts';
import type { ByteSink, IoError } from './wasi/io.ts';
import { IncomingRequest, ResponseOutparam, setOutgoingHttpTransport } from './wasi/http.ts';
import type { HttpErrorCode, ResponseChannel } from './wasi/http.ts';
import { ComponentExit } from './wasi/cli.ts';
import { createWasiImports } from './wasi/imports.ts';
import { LinkedImportFailure, LinkedImports } from './linked-imports.ts';
import { linkedHttpTransport } from './outgoing-http.ts';
import { ExportTable, UnknownExportedResource } from './export-table.ts';

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

type IncomingHandler = {
  handle(request: IncomingRequest, out: ResponseOutparam): unknown;
};

if (parentPort === null) throw new Error('worker.ts must run in a worker thread');
const port = parentPort;
const init = workerData as WorkerInit;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

/** Large chunks move without a copy; small ones are cheaper to clone than to transfer. */
function transferables(chunks: readonly Uint8Array[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const c of chunks) {
    const buffer = c.buffer;
    if (
      c.byteLength >= TRANSFER_BYTES &&
      buffer instanceof ArrayBuffer &&
      c.byteOffset === 0 &&
      c.byteLength === buffer.byteLength
    ) {
      out.push(buffer);
    }
  }
  return out;
}

function errorJson(code: string, message: string, hint?: string): ErrorJSON {
  return hint === undefined ? { code, message } : { code, message, hint };
}

function describeGuestFailure(err: unknown): ErrorJSON {
  // The host's own error (a missing link, a provider failure) is more useful than "the guest trapped".
  if (err instanceof LinkedImportFailure) return err.error;
  if (err instanceof ComponentExit) return errorJson('GUEST_TRAP', err.message);
  if (err instanceof WebAssembly.RuntimeError) {
    const message = err.message.startsWith('wasm trap') ? err.message : `wasm trap: ${err.message}`;
    return errorJson('GUEST_TRAP', message, 'the component crashed; see its logs');
  }
  const message = err instanceof Error ? err.message : String(err);
  return errorJson('GUEST_TRAP', message, 'the component failed during the call; see its logs');
}

const stdout = new LineSink((line) => post({ t: 'log', stream: 'stdout', line }), init.logLineMaxBytes);
const stderr = new LineSink((line) => post({ t: 'log', stream: 'stderr', line }), init.logLineMaxBytes);

const FLUSH_BYTES = 64 * 1024;
const TRANSFER_BYTES = 64 * 1024;

/**
 * Response flow control shared with the host thread: slot 0 counts bytes the client has taken
 * (the host adds), slot 1 is set when the client went away. Both are reset by the host per call.
 */
const flow = new Int32Array(init.flow);
const ACKED = 0;
const CLIENT_GONE = 1;

/** One HTTP call: collects the response and streams it to the host thread with flow control. */
class HttpCall implements ResponseChannel, ByteSink {
  readonly id: number;
  readonly body: ByteSink = this;
  readonly source: ChunkSource | undefined;
  #head: ResponseHead | undefined;
  #headSent = false;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Bytes posted to the host this call (wraps like the shared counter). */
  #sent = 0;
  #trailers: string[] | undefined;
  #ended = false;
  #failure: HttpErrorCode | undefined;
  #consumed = 0;
  #consumedScheduled = false;

  constructor(id: number, hasBody: boolean) {
    this.id = id;
    this.source = hasBody ? new ChunkSource((bytes) => this.#noteConsumed(bytes)) : undefined;
  }

  get closed(): boolean {
    return Atomics.load(flow, CLIENT_GONE) !== 0;
  }

  get error(): IoError | undefined {
    return undefined;
  }

  head(status: number, headers: readonly [string, Uint8Array][]): void {
    const flat: string[] = [];
    for (const [name, value] of headers) flat.push(name, Buffer.from(value).toString('latin1'));
    this.#head = { status, headers: flat };
  }

  end(trailers: readonly [string, Uint8Array][] | undefined): void {
    this.#ended = true;
    if (trailers !== undefined && trailers.length > 0) {
      this.#trailers = trailers.flatMap(([n, v]) => [n, Buffer.from(v).toString('latin1')]);
    }
  }

  fail(code: HttpErrorCode): void {
    this.#failure = code;
  }

  #unacked(): number {
    return (this.#sent - Atomics.load(flow, ACKED)) | 0;
  }

  capacity(): number {
    return Math.max(0, init.responseWindowBytes - this.#unacked() - this.#pendingBytes);
  }

  write(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.byteLength;
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush();
  }

  blockUntilWritable(): void {
    this.flush();
    while (this.capacity() === 0 && !this.closed) Atomics.wait(flow, ACKED, Atomics.load(flow, ACKED), 1000);
    if (this.closed) throw CLOSED;
  }

  blockUntilDrained(): void {
    this.flush();
    while (this.#unacked() !== 0 && !this.closed) Atomics.wait(flow, ACKED, Atomics.load(flow, ACKED), 1000);
  }

  ready(): boolean {
    return this.capacity() > 0 || this.closed;
  }

  async wait(): Promise<void> {
    const result = Atomics.waitAsync(flow, ACKED, Atomics.load(flow, ACKED));
    if (result.async) await result.value;
  }

  /** Hands buffered output to the host thread now (once the response head is known). */
  flush(): void {
    if (this.#head === undefined || current !== this) return;
    if (this.#headSent && this.#pendingBytes === 0) return;
    const chunks = this.#takePending();
    const message: FromWorker = { t: 'out', id: this.id, chunks };
    if (!this.#headSent) {
      message.head = this.#head;
      this.#headSent = true;
    }
    for (const c of chunks) this.#sent = (this.#sent + c.byteLength) | 0;
    post(message, transferables(chunks));
  }

  #takePending(): Uint8Array[] {
    const chunks = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    return chunks;
  }

  #noteConsumed(bytes: number): void {
    this.#consumed += bytes;
    if (this.#consumedScheduled) return;
    this.#consumedScheduled = true;
    queueMicrotask(() => {
      this.#consumedScheduled = false;
      if (current !== this || this.#consumed === 0) return;
      post({ t: 'consumed', id: this.id, bytes: this.#consumed });
      this.#consumed = 0;
    });
  }

  /** Reports the outcome once the guest has returned. */
  complete(): void {
    if (this.#failure !== undefined) {
      const detail = this.#failure.val === undefined ? '' : ` (${JSON.stringify(this.#failure.val)})`;
      post({
        t: 'failed',
        id: this.id,
        fatal: false,
        error: errorJson('GUEST_TRAP', `component answered with error-code ${this.#failure.tag}${detail}`),
      });
      return;
    }
    if (this.#head === undefined) {
      post({
        t: 'failed',
        id: this.id,
        fatal: false,
        error: errorJson(
          'NO_RESPONSE',
          'component returned without setting a response',
          'call response-outparam.set before returning from handle',
        ),
      });
      return;
    }
    const chunks = this.#takePending();
    const message: FromWorker = { t: 'done', id: this.id, chunks };
    if (!this.#headSent) message.head = this.#head;
    if (this.#ended && this.#trailers !== undefined) message.trailers = this.#trailers;
    post(message, transferables(chunks));
  }
}

let current: HttpCall | undefined;
let handler: IncomingHandler | undefined;
let instanceExports: Record<string, unknown> = {};
let exported = new ExportTable({});
/** Whether the guest is in a call; a drop would re-enter it, so drops wait for the call to end. */
let inCall = false;
const pendingDrops: number[] = [];

/** `say-hello` → `sayHello`, the way jco names functions. */
function camelName(witName: string): string {
  return witName.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

type InvokeMessage = Extract<ToWorker, { t: 'invoke' }>;

/**
 * What an invoke message calls: a function of the export, or a constructor, static function or
 * method of one of its resources. Resource ids among the arguments are resolved, and noted in `used`.
 */
function invokeTarget(message: InvokeMessage, used: Set<number>): (() => unknown) | ErrorJSON {
  const members = instanceExports[message.exportName] as Record<string, unknown> | undefined;
  const name = message.resource === undefined ? message.fn : `${message.resource}.${message.fn}`;
  const missing = errorJson(
    'EXPORT_NOT_FOUND',
    `component ${init.componentId} does not export ${message.exportName}#${name}`,
  );
  try {
    const args = exported.resolve(message.args, used) as unknown[];
    if (message.resource === undefined) {
      const fn = members?.[camelName(message.fn)];
      return typeof fn === 'function' ? () => (fn as (...a: unknown[]) => unknown)(...args) : missing;
    }
    const Class = ExportTable.classOf(members, message.resource);
    if (Class === undefined) return missing;
    if (message.fn === '[constructor]') return () => new Class(...args);
    const receiver: object = message.self === undefined ? Class : exported.get(message.self);
    const fn = (receiver as Record<string, unknown>)[camelName(message.fn)];
    return typeof fn === 'function'
      ? () => (fn as (...a: unknown[]) => unknown).apply(receiver, args)
      : missing;
  } catch (err) {
    if (err instanceof UnknownExportedResource) return errorJson('RESOURCE_LOST', err.message);
    throw err;
  }
}

/**
 * Calls into an exported interface for another component (a linked import on the host). jco throws
 * the `err` case of a `result` (the bare value, or an error carrying it as `payload`); it travels
 * back as `{ tag: 'err', val }`, which is how the caller's import returns it. Resources the result
 * carries are lent out; those the call took over (`own` arguments) are reported released.
 */
async function runInvoke(message: InvokeMessage): Promise<void> {
  const { id } = message;
  const used = new Set<number>();
  const target = invokeTarget(message, used);
  if (typeof target !== 'function') {
    post({ t: 'failed', id, fatal: false, error: target });
    return;
  }
  const returned = (value: unknown): void =>
    post({ t: 'returned', id, value: exported.lend(value), released: exported.released(used) });
  inCall = true;
  try {
    returned(await target());
  } catch (err) {
    // A WIT value is never an Error instance, so anything else thrown is the `err` case.
    if (!(err instanceof Error)) returned({ tag: 'err', val: err });
    else if ('payload' in err && !(err instanceof WebAssembly.RuntimeError)) {
      returned({ tag: 'err', val: err.payload });
    } else post({ t: 'failed', id, fatal: true, error: describeGuestFailure(err) });
  } finally {
    stdout.finish();
    stderr.finish();
    callEnded();
  }
}

function callEnded(): void {
  inCall = false;
  for (const resource of pendingDrops.splice(0)) {
    try {
      exported.drop(resource);
    } catch (err) {
      // The guest failed in its destructor; its next call reports the trap.
      post({
        t: 'log',
        stream: 'stderr',
        line: `dropping exported resource ${resource} failed: ${String(err)}`,
      });
    }
  }
}

setSuspendHook(() => current?.flush());

async function runHttp(call: HttpCall, head: HttpRequestHead): Promise<void> {
  current = call;
  inCall = true;
  try {
    if (handler === undefined) {
      post({
        t: 'failed',
        id: call.id,
        fatal: false,
        error: errorJson(
          'EXPORT_NOT_FOUND',
          `component ${init.componentId} does not export wasi:http/incoming-handler`,
        ),
      });
      return;
    }
    const request = new IncomingRequest(head, call.source ?? EMPTY_SOURCE);
    await handler.handle(request, new ResponseOutparam(call));
    call.complete();
  } catch (err) {
    post({ t: 'failed', id: call.id, fatal: true, error: describeGuestFailure(err) });
  } finally {
    stdout.finish();
    stderr.finish();
    current = undefined;
    callEnded();
  }
}

function onMessage(message: ToWorker): void {
  switch (message.t) {
    case 'http': {
      void runHttp(new HttpCall(message.id, message.hasBody), message.head);
      return;
    }
    case 'invoke':
      void runInvoke(message);
      return;
    case 'drop':
      pendingDrops.push(message.resource);
      if (!inCall) callEnded();
      return;
    case 'body':
      if (current?.id === message.id) current.source?.push(message.chunk);
      return;
    case 'body-end':
      if (current?.id === message.id) current.source?.end();
      return;
    case 'body-error':
      if (current?.id === message.id) current.source?.fail(message.message);
      return;
  }
}

/** Where the worker's module loader finds the bindings source it was handed. */
const BINDINGS_URL = 'cirrus-bindings:component';

/**
 * A data: URL would work too, but Node parses the whole URL on import (measured: +35 ms of CPU per
 * instance start for 1 MB of bindings); a load hook hands the source over as it is.
 */
function importBindings(): Promise<{ instantiate: Instantiate }> {
  registerHooks({
    resolve: (specifier, context, next) =>
      specifier === BINDINGS_URL ? { url: BINDINGS_URL, shortCircuit: true } : next(specifier, context),
    load: (url, context, next) =>
      url === BINDINGS_URL
        ? { format: 'module', source: init.bindings, shortCircuit: true }
        : next(url, context),
  });
  return import(BINDINGS_URL) as Promise<{ instantiate: Instantiate }>;
}

async function start(): Promise<void> {
  let instantiate: Instantiate;
  try {
    ({ instantiate } = await importBindings());
  } catch (err) {
    post({
      t: 'init-failed',
      error: errorJson('INSTANTIATION_FAILED', `cannot load the transpiled component: ${String(err)}`),
    });
    return;
  }
  const imports: Record<string, unknown> = createWasiImports({
    environment: init.environment,
    stdout: new OutputStream(stdout),
    stderr: new OutputStream(stderr),
  });
  const linked = new LinkedImports({
    post: (message) => post(message),
    signal: new Int32Array(init.importSignal),
    replies: init.importReplies,
  });
  for (const name of init.linkedImports) imports[name] = linked.interfaceObject(name);
  setOutgoingHttpTransport(linkedHttpTransport(linked, init.outgoingBodyMaxBytes));
  try {
    const exports = await instantiate((name) => {
      const module = init.coreModules[name];
      if (module === undefined) throw new Error(`core module ${name} is missing`);
      return module;
    }, imports);
    instanceExports = exports;
    exported = new ExportTable(exports);
    if (init.httpExport !== undefined) handler = exports[init.httpExport] as IncomingHandler | undefined;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    post({
      t: 'init-failed',
      error: errorJson(
        'INSTANTIATION_FAILED',
        `component ${init.componentId} failed to instantiate: ${message}`,
        /memory|maximum/i.test(message)
          ? 'the component needs more linear memory than instanceMemoryMaxBytes allows'
          : undefined,
      ),
    });
    return;
  }
  port.on('message', onMessage);
  post({ t: 'ready' });
}

void start();
