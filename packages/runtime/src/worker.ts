/**
 * Instance worker: hosts one or more component instances (of one or more components), each running
 * one call at a time. The host thread can terminate it at any moment (a deadline passed), which is
 * the only reliable way to stop a WebAssembly busy loop on V8; that ends every instance it holds.
 */
import { registerHooks } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';
import type { ErrorJSON } from '@cirrus/protocol';
import type { FromInstance, FromWorker, InstanceInit, ToWorker, WorkerInit } from './worker-protocol.ts';
import type { HttpRequestHead } from './http-types.ts';
import { LineSink } from './wasi/buffers.ts';
import { EMPTY_SOURCE, OutputStream, setSuspendHook } from './wasi/io.ts';
import { IncomingRequest, ResponseOutparam } from './wasi/http.ts';
import { ComponentExit } from './wasi/cli.ts';
import { createWasiImports } from './wasi/imports.ts';
import { LinkedImportFailure, LinkedImports } from './linked-imports.ts';
import { linkedHttpTransport } from './outgoing-http.ts';
import { ExportTable, UnknownExportedResource } from './export-table.ts';
import { errorJson, HttpCall } from './worker-http-call.ts';
import type { CallOwner } from './worker-http-call.ts';

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

type IncomingHandler = {
  handle(request: IncomingRequest, out: ResponseOutparam): unknown;
};

if (parentPort === null) throw new Error('worker.ts must run in a worker thread');
const port = parentPort;
const thread = workerData as WorkerInit;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
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

/** `say-hello` → `sayHello`, the way jco names functions. */
function camelName(witName: string): string {
  return witName.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

type InvokeMessage = Extract<ToWorker, { t: 'invoke' }>;

/** The instances this worker holds, by the id the host gave them. */
const instances = new Map<number, Instance>();

/** A guest about to be suspended: every instance's buffered output goes out first. */
setSuspendHook(() => {
  for (const instance of instances.values()) instance.current?.flush();
});

/** The channel on which instances block for the host's reply to a linked import. */
const importSignal = new Int32Array(thread.importSignal);

/** One component instance and the state of its calls. */
class Instance implements CallOwner {
  readonly id: number;
  readonly init: InstanceInit;
  readonly flow: Int32Array;
  readonly linked: LinkedImports;
  readonly #stdout: LineSink;
  readonly #stderr: LineSink;
  current: HttpCall | undefined;
  #handler: IncomingHandler | undefined;
  #exports: Record<string, unknown> = {};
  #exported = new ExportTable({});
  /** Whether the guest is in a call; a drop would re-enter it, so drops wait for the call to end. */
  #inCall = false;
  readonly #pendingDrops: number[] = [];

  constructor(id: number, init: InstanceInit) {
    this.id = id;
    this.init = init;
    this.flow = new Int32Array(init.flow);
    this.#stdout = new LineSink(
      (line) => this.post({ t: 'log', stream: 'stdout', line }),
      init.logLineMaxBytes,
    );
    this.#stderr = new LineSink(
      (line) => this.post({ t: 'log', stream: 'stderr', line }),
      init.logLineMaxBytes,
    );
    this.linked = new LinkedImports({
      post: (message) => this.post(message),
      signal: importSignal,
      replies: thread.importReplies,
    });
  }

  get windowBytes(): number {
    return this.init.responseWindowBytes;
  }

  post(message: FromInstance, transfer: ArrayBuffer[] = []): void {
    if (message.t === 'done' || message.t === 'returned' || message.t === 'failed') {
      const drops = this.linked.takeDrops();
      if (drops !== undefined) message.drops = drops;
    }
    post({ ...message, instance: this.id }, transfer);
  }

  async start(instantiate: Instantiate): Promise<void> {
    const { init } = this;
    const imports: Record<string, unknown> = createWasiImports({
      environment: init.environment,
      stdout: new OutputStream(this.#stdout),
      stderr: new OutputStream(this.#stderr),
      outgoingHttp: linkedHttpTransport(this.linked, init.outgoingBodyMaxBytes),
    });
    for (const name of init.linkedImports) imports[name] = this.linked.interfaceObject(name);
    this.#exports = await instantiate((name) => {
      const module = init.coreModules[name];
      if (module === undefined) throw new Error(`core module ${name} is missing`);
      return module;
    }, imports);
    this.#exported = new ExportTable(this.#exports);
    if (init.httpExport !== undefined) {
      this.#handler = this.#exports[init.httpExport] as IncomingHandler | undefined;
    }
  }

  onMessage(message: ToWorker): void {
    switch (message.t) {
      case 'http':
        void this.#runHttp(new HttpCall(this, message.id, message.hasBody), message.head);
        return;
      case 'invoke':
        void this.#runInvoke(message);
        return;
      case 'drop':
        this.#pendingDrops.push(message.resource);
        if (!this.#inCall) this.#callEnded();
        return;
      case 'import-reply':
        this.linked.settle(message.call, message.reply);
        return;
      case 'body':
        if (this.current?.id === message.id) this.current.source?.push(message.chunk);
        return;
      case 'body-end':
        if (this.current?.id === message.id) this.current.source?.end();
        return;
      case 'body-error':
        if (this.current?.id === message.id) this.current.source?.fail(message.message);
        return;
    }
  }

  /**
   * What an invoke message calls: a function of the export, or a constructor, static function or
   * method of one of its resources. Resource ids among the arguments are resolved, and noted in `used`.
   */
  #invokeTarget(message: InvokeMessage, used: Set<number>): (() => unknown) | ErrorJSON {
    const members = this.#exports[message.exportName] as Record<string, unknown> | undefined;
    const name = message.resource === undefined ? message.fn : `${message.resource}.${message.fn}`;
    const missing = errorJson(
      'EXPORT_NOT_FOUND',
      `component ${this.init.componentId} does not export ${message.exportName}#${name}`,
    );
    try {
      const args = this.#exported.resolve(message.args, used) as unknown[];
      if (message.resource === undefined) {
        const fn = members?.[camelName(message.fn)];
        return typeof fn === 'function' ? () => (fn as (...a: unknown[]) => unknown)(...args) : missing;
      }
      const Class = ExportTable.classOf(members, message.resource);
      if (Class === undefined) return missing;
      if (message.fn === '[constructor]') return () => new Class(...args);
      const receiver: object = message.self === undefined ? Class : this.#exported.get(message.self);
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
  async #runInvoke(message: InvokeMessage): Promise<void> {
    const { id } = message;
    const used = new Set<number>();
    const target = this.#invokeTarget(message, used);
    if (typeof target !== 'function') {
      this.post({ t: 'failed', id, fatal: false, error: target });
      return;
    }
    const returned = (value: unknown): void =>
      this.post({
        t: 'returned',
        id,
        value: this.#exported.lend(value),
        released: this.#exported.released(used),
      });
    this.#inCall = true;
    try {
      returned(await target());
    } catch (err) {
      // A WIT value is never an Error instance, so anything else thrown is the `err` case.
      if (!(err instanceof Error)) returned({ tag: 'err', val: err });
      else if ('payload' in err && !(err instanceof WebAssembly.RuntimeError)) {
        returned({ tag: 'err', val: err.payload });
      } else this.post({ t: 'failed', id, fatal: true, error: describeGuestFailure(err) });
    } finally {
      this.#stdout.finish();
      this.#stderr.finish();
      this.#callEnded();
    }
  }

  #callEnded(): void {
    this.#inCall = false;
    for (const resource of this.#pendingDrops.splice(0)) {
      try {
        this.#exported.drop(resource);
      } catch (err) {
        // The guest failed in its destructor; its next call reports the trap.
        this.post({
          t: 'log',
          stream: 'stderr',
          line: `dropping exported resource ${resource} failed: ${String(err)}`,
        });
      }
    }
  }

  async #runHttp(call: HttpCall, head: HttpRequestHead): Promise<void> {
    this.current = call;
    this.#inCall = true;
    try {
      if (this.#handler === undefined) {
        this.post({
          t: 'failed',
          id: call.id,
          fatal: false,
          error: errorJson(
            'EXPORT_NOT_FOUND',
            `component ${this.init.componentId} does not export wasi:http/incoming-handler`,
          ),
        });
        return;
      }
      const request = new IncomingRequest(head, call.source ?? EMPTY_SOURCE);
      await this.#handler.handle(request, new ResponseOutparam(call));
      call.complete();
    } catch (err) {
      this.post({ t: 'failed', id: call.id, fatal: true, error: describeGuestFailure(err) });
    } finally {
      this.#stdout.finish();
      this.#stderr.finish();
      this.current = undefined;
      this.#callEnded();
    }
  }
}

/** Where the worker's module loader finds the bindings sources it was handed, by key. */
const BINDINGS_SCHEME = 'cirrus-bindings:';
const bindingSources = new Map<string, string>();
/** The bindings of each key, loaded once for all the instances of that component on this worker. */
const bindingModules = new Map<string, Promise<{ instantiate: Instantiate }>>();

/**
 * A data: URL would work too, but Node parses the whole URL on import (measured: +35 ms of CPU per
 * instance start for 1 MB of bindings); a load hook hands the source over as it is.
 */
registerHooks({
  resolve: (specifier, context, next) =>
    specifier.startsWith(BINDINGS_SCHEME) ? { url: specifier, shortCircuit: true } : next(specifier, context),
  load: (url, context, next) => {
    const source = url.startsWith(BINDINGS_SCHEME) ? bindingSources.get(url) : undefined;
    return source === undefined ? next(url, context) : { format: 'module', source, shortCircuit: true };
  },
});

function importBindings(init: InstanceInit): Promise<{ instantiate: Instantiate }> {
  let found = bindingModules.get(init.bindingsKey);
  if (found === undefined) {
    const url = `${BINDINGS_SCHEME}${init.bindingsKey}`;
    if (init.bindings !== undefined) bindingSources.set(url, init.bindings);
    found = import(url) as Promise<{ instantiate: Instantiate }>;
    bindingModules.set(init.bindingsKey, found);
    // The module keeps what it needs; a failed load may be tried again with the source sent anew.
    found.then(
      () => bindingSources.delete(url),
      () => bindingModules.delete(init.bindingsKey),
    );
  }
  return found;
}

async function startInstance(id: number, init: InstanceInit): Promise<void> {
  let instantiate: Instantiate;
  try {
    ({ instantiate } = await importBindings(init));
  } catch (err) {
    post({
      t: 'init-failed',
      instance: id,
      error: errorJson('INSTANTIATION_FAILED', `cannot load the transpiled component: ${String(err)}`),
    });
    return;
  }
  const instance = new Instance(id, init);
  try {
    await instance.start(instantiate);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    post({
      t: 'init-failed',
      instance: id,
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
  instances.set(id, instance);
  post({ t: 'ready', instance: id });
}

port.on('message', (message: ToWorker) => {
  if (message.t === 'start') {
    void startInstance(message.instance, message.init);
    return;
  }
  if (message.t === 'stop') {
    instances.delete(message.instance);
    return;
  }
  instances.get(message.instance)?.onMessage(message);
});
