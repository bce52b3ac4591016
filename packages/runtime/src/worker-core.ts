/**
 * Instance worker: hosts one or more component instances (of one or more components), each running
 * one call at a time. The host thread can terminate it at any moment (a deadline passed), which is
 * the only reliable way to stop a WebAssembly busy loop on V8; that ends every instance it holds.
 * What differs between a Node worker thread and a browser's Web Worker (how messages flow, how a
 * blocked import reads its reply, how bindings are loaded) comes in as a WorkerPlatform.
 */
import type { ErrorJSON } from '@cirrus/protocol';
import type { FromInstance, FromWorker, ImportReply, InstanceInit, ToWorker } from './worker-protocol.ts';
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

export type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

type IncomingHandler = {
  handle(request: IncomingRequest, out: ResponseOutparam): unknown;
};

export interface WorkerPlatform {
  post(message: FromWorker, transfer: ArrayBuffer[]): void;
  onMessage(listener: (message: ToWorker) => void): void;
  /** Slot 0 is set to 1 by the host once the reply to a blocking import call can be read. */
  importSignal: Int32Array;
  /** Reads that reply, without waiting; undefined when there is none. */
  readImportReply(): ImportReply | undefined;
  /** Loads a component's bindings (an ES module's source), once per key. */
  importBindings(key: string, source: string | undefined): Promise<{ instantiate: Instantiate }>;
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

let platform: WorkerPlatform;

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  platform.post(message, transfer);
}

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
      signal: platform.importSignal,
      receive: () => platform.readImportReply(),
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

/** The bindings of each key, loaded once for all the instances of that component on this worker. */
const bindingModules = new Map<string, Promise<{ instantiate: Instantiate }>>();

function importBindings(init: InstanceInit): Promise<{ instantiate: Instantiate }> {
  let found = bindingModules.get(init.bindingsKey);
  if (found === undefined) {
    found = platform.importBindings(init.bindingsKey, init.bindings);
    bindingModules.set(init.bindingsKey, found);
    // A failed load may be tried again, with the source sent anew.
    found.catch(() => bindingModules.delete(init.bindingsKey));
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

/** Runs this worker's instances: called once, by the worker's entry for its platform. */
export function serveInstances(on: WorkerPlatform): void {
  platform = on;
  on.onMessage((message: ToWorker) => {
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
}
