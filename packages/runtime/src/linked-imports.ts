/**
 * Worker side of linked imports: every interface a component imports that the worker's WASI does not
 * implement (wasi:keyvalue, a custom `acme:greeter/greet`, …) is served by the host thread, which
 * routes it through the component's links. The guest calls synchronously, so the worker posts the
 * call and blocks on a shared slot until the host has replied on a dedicated port, which it then
 * reads synchronously. Blocking is safe here: the worker runs one call of one instance and nothing
 * else, and the watchdog can still terminate it.
 *
 * Names follow jco's bindings: interface functions are camelCase (`listKeys` for `list-keys`),
 * resource types PascalCase (`Bucket` for `bucket`), and the WIT names are recovered from them.
 */
import type { ErrorJSON } from '@cirrus/protocol';
import type { FromInstance, ImportCallMessage, ImportReply, ResourceRef } from './worker-protocol.ts';
import { STREAMS_INTERFACE } from './import-calls.ts';
import { InputStream, IoError, OutputStream } from './wasi/io.ts';
import type { ByteSink, ByteSource } from './wasi/io.ts';

type ImportCall = Omit<ImportCallMessage, 'instance'>;

export interface HostChannel {
  post(message: FromInstance): void;
  /** Slot 0 is set to 1 by the host once a reply can be read with `receive`. */
  signal: Int32Array;
  receive(): ImportReply | undefined;
}

/** The host refused or failed a linked import call; the guest cannot continue (it traps). */
export class LinkedImportFailure extends Error {
  readonly error: ErrorJSON;

  constructor(error: ErrorJSON) {
    super(error.message);
    this.error = error;
  }
}

const HANDLE = Symbol('cirrus.resource-handle');
const ADOPT = Symbol('cirrus.adopt');
/** Bytes one host call of a host-backed stream moves: a 1 MiB blob takes four round trips. */
const STREAM_CHUNK_BYTES = 256 * 1024;
/** What `check-write` grants on a host-backed stream; writes are gathered, not sent one by one. */
const STREAM_WRITE_BUDGET = 4 * STREAM_CHUNK_BYTES;

/**
 * Property names the JavaScript runtime or jco's glue may probe on any object (promise
 * assimilation, result detection, printing); they must not turn into host calls.
 */
const NOT_METHODS = new Set([
  'then',
  'catch',
  'finally',
  'tag',
  'val',
  'payload',
  'toJSON',
  'toString',
  'valueOf',
]);

/** `listKeys` → `list-keys`, `Bucket` → `bucket`. */
export function witName(jsName: string): string {
  return jsName.replace(/^[A-Z]/, (c) => c.toLowerCase()).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

interface ResourceClass {
  new (...args: unknown[]): object;
}

export class LinkedImports {
  readonly #channel: HostChannel;
  readonly #classes = new Map<string, ResourceClass>();
  readonly #later = new Map<number, (reply: ImportReply) => void>();
  /** Host resources the guest dropped, not yet told (a message of their own would wake the host). */
  #drops: number[] = [];
  #nextCall = 1;
  /** Host-backed output streams holding writes that are not yet on the host. */
  readonly #unsent = new Set<HostSink>();
  /**
   * Drops the host side of a resource the guest handed back to the host as an `own` argument: jco
   * forgets such an object without disposing it, so only its collection tells.
   */
  readonly #forgotten = new FinalizationRegistry<number>((handle) =>
    this.#channel.post({ t: 'drop', handle }),
  );

  constructor(channel: HostChannel) {
    this.#channel = channel;
  }

  /** The import object jco reads for one interface (`imports['wasi:keyvalue/store']`). */
  interfaceObject(iface: string): Record<string, unknown> {
    const functions = new Map<string, (...args: unknown[]) => unknown>();
    return new Proxy(Object.create(null) as Record<string, unknown>, {
      get: (_target, prop) => {
        if (typeof prop !== 'string') return undefined;
        if (/^[A-Z]/.test(prop)) return this.#resourceClass(iface, witName(prop));
        let fn = functions.get(prop);
        if (fn === undefined) {
          const name = witName(prop);
          fn = (...args: unknown[]) => this.#call({ t: 'import', interface: iface, fn: name, args });
          functions.set(prop, fn);
        }
        return fn;
      },
    });
  }

  /**
   * Calls a function of an interface the worker's own WASI routes to the host (outgoing HTTP), with
   * plain values, without blocking: `done` gets the reply. The worker runs other instances, and the
   * guest waits on a pollable, meanwhile.
   */
  callHostLater(iface: string, fn: string, args: unknown[], done: (reply: ImportReply) => void): void {
    const call = this.#nextCall++;
    this.#later.set(call, done);
    this.#channel.post({ t: 'import', interface: iface, fn, args, call });
  }

  /** The drops to tell the host with the instance's next message, if any. */
  takeDrops(): number[] | undefined {
    if (this.#drops.length === 0) return undefined;
    const drops = this.#drops;
    this.#drops = [];
    return drops;
  }

  /** The reply to a `callHostLater` call. */
  settle(call: number, reply: ImportReply): void {
    const done = this.#later.get(call);
    if (done === undefined) return;
    this.#later.delete(call);
    done(reply);
  }

  #call(message: ImportCall): unknown {
    // The host must see a stream's bytes before any call that may depend on them (finishing a value).
    for (const sink of this.#unsent) sink.flush();
    const reply = this.#request(message);
    if (!reply.ok) throw new LinkedImportFailure(reply.error);
    return this.#fromHost(reply.value);
  }

  /** Posts one call to the host and blocks until its reply is there. */
  #request(message: ImportCall): ImportReply {
    const { signal } = this.#channel;
    message.args = message.args.map((a) => this.#toHost(a));
    const drops = this.takeDrops();
    if (drops !== undefined) message.drops = drops;
    Atomics.store(signal, 0, 0);
    this.#channel.post(message);
    Atomics.wait(signal, 0, 0);
    const received = this.#channel.receive();
    if (received === undefined) {
      return {
        ok: false,
        error: {
          code: 'INSTANCE_CRASHED',
          message: `no reply from the host for ${message.interface}#${message.fn}`,
        },
      };
    }
    return received;
  }

  #resourceClass(iface: string, resource: string): ResourceClass {
    const key = `${iface}#${resource}`;
    const existing = this.#classes.get(key);
    if (existing !== undefined) return existing;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the class body needs the owner
    const owner = this;
    class Resource {
      [HANDLE]!: number;

      constructor(...args: unknown[]) {
        if (args[0] === ADOPT) {
          this[HANDLE] = args[1] as number;
          owner.#forgotten.register(this, this[HANDLE], this);
          return;
        }
        const created = owner.#call({ t: 'import', interface: iface, resource, fn: '[constructor]', args });
        // The host answers with a reference to the new resource, already wrapped in this class.
        return created as Resource;
      }

      [Symbol.dispose](): void {
        owner.#forgotten.unregister(this);
        owner.#drops.push(this[HANDLE]);
      }
    }
    const methods = new Map<string, (this: Resource, ...args: unknown[]) => unknown>();
    Object.setPrototypeOf(
      Resource.prototype,
      new Proxy(Object.prototype, {
        get(target, prop, receiver) {
          if (typeof prop !== 'string' || NOT_METHODS.has(prop) || prop in target) {
            return Reflect.get(target, prop, receiver) as unknown;
          }
          let method = methods.get(prop);
          if (method === undefined) {
            const fn = witName(prop);
            method = function (this: Resource, ...args: unknown[]) {
              const handle = this[HANDLE];
              // jco does not check the guest's handle: one it dropped or handed over (`own`) arrives
              // as an object that was never the host's.
              if (handle === undefined) {
                throw new LinkedImportFailure({
                  code: 'RESOURCE_LOST',
                  message: `${iface}#${resource}.${fn} was called on a ${resource} the component had dropped or handed over`,
                  hint: 'a resource passed as `own` belongs to the callee afterwards; create a new one',
                });
              }
              return owner.#call({ t: 'import', interface: iface, resource, handle, fn, args });
            };
            methods.set(prop, method);
          }
          return method;
        },
      }),
    );
    const statics = new Map<string, (...args: unknown[]) => unknown>();
    const proxied = new Proxy(Resource, {
      get(target, prop, receiver) {
        if (typeof prop !== 'string' || prop in target || NOT_METHODS.has(prop)) {
          return Reflect.get(target, prop, receiver) as unknown;
        }
        let fn = statics.get(prop);
        if (fn === undefined) {
          const name = witName(prop);
          fn = (...args: unknown[]) =>
            owner.#call({ t: 'import', interface: iface, resource, fn: name, args });
          statics.set(prop, fn);
        }
        return fn;
      },
    });
    this.#classes.set(key, proxied);
    return proxied;
  }

  /** Replaces resource objects by references the host can resolve. */
  #toHost(value: unknown): unknown {
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
    const handle = (value as { [HANDLE]?: number })[HANDLE];
    if (typeof handle === 'number') return { $handle: handle } satisfies Partial<ResourceRef>;
    if (Array.isArray(value)) return value.map((v) => this.#toHost(v));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.#toHost(v);
    return out;
  }

  /** Turns the host's resource references into instances of the interface's resource class. */
  #fromHost(value: unknown): unknown {
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
    if (isResourceRef(value)) {
      if (value.$interface === STREAMS_INTERFACE) return this.#hostStream(value);
      const Class = this.#resourceClass(value.$interface, value.$resource);
      return new Class(ADOPT, value.$handle);
    }
    if (Array.isArray(value)) return value.map((v) => this.#fromHost(v));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.#fromHost(v);
    return out;
  }

  /**
   * A stream the host holds, as an instance of the worker's own wasi:io class (the only kind jco
   * lowers into the guest); its reads and writes become host calls on the resource.
   */
  #hostStream(ref: ResourceRef): InputStream | OutputStream {
    const stream: HostStream = {
      request: (fn, args) =>
        this.#request({
          t: 'import',
          interface: STREAMS_INTERFACE,
          resource: ref.$resource,
          handle: ref.$handle,
          fn,
          args,
        }),
      drop: () => this.#channel.post({ t: 'drop', handle: ref.$handle }),
    };
    if (ref.$resource === 'input-stream') return new InputStream(new HostSource(stream));
    return new OutputStream(new HostSink(stream, this.#unsent));
  }
}

interface HostStream {
  request(fn: string, args: unknown[]): ImportReply;
  drop(): void;
}

function streamFailure(reply: Extract<ImportReply, { ok: false }>): IoError {
  return new IoError(`${reply.error.code}: ${reply.error.message}`);
}

/** Reads a host stream ahead in large chunks and hands them out as the guest asks. */
class HostSource implements ByteSource {
  readonly #stream: HostStream;
  #chunk: Uint8Array = new Uint8Array(0);
  #ended = false;
  #error: IoError | undefined;
  #dropped = false;

  constructor(stream: HostStream) {
    this.#stream = stream;
  }

  get finished(): boolean {
    return this.#ended && this.#chunk.byteLength === 0;
  }

  get error(): IoError | undefined {
    return this.#error;
  }

  take(max: number): Uint8Array | null {
    if (max === 0) return null;
    if (this.#chunk.byteLength === 0 && !this.#ended && this.#error === undefined) {
      const reply = this.#stream.request('read', [STREAM_CHUNK_BYTES]);
      if (!reply.ok) this.#error = streamFailure(reply);
      else if ((reply.value as Uint8Array).byteLength === 0) this.#ended = true;
      else this.#chunk = reply.value as Uint8Array;
    }
    if (this.#chunk.byteLength === 0) return null;
    const out = this.#chunk.subarray(0, max);
    this.#chunk = this.#chunk.subarray(out.byteLength);
    return out;
  }

  // Every read is answered synchronously, so the stream is always ready.
  ready(): boolean {
    return true;
  }

  wait(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    if (this.#dropped) return;
    this.#dropped = true;
    this.#stream.drop();
  }
}

/** Gathers a guest's writes and sends them to the host stream in large chunks. */
class HostSink implements ByteSink {
  readonly #stream: HostStream;
  readonly #unsent: Set<HostSink>;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #closed = false;
  #error: IoError | undefined;

  constructor(stream: HostStream, unsent: Set<HostSink>) {
    this.#stream = stream;
    this.#unsent = unsent;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get error(): IoError | undefined {
    return this.#error;
  }

  capacity(): number {
    return STREAM_WRITE_BUDGET;
  }

  write(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.byteLength;
    this.#unsent.add(this);
    if (this.#pendingBytes >= STREAM_CHUNK_BYTES) this.flush();
  }

  flush(): void {
    this.#unsent.delete(this);
    if (this.#pendingBytes === 0) return;
    const pending = this.#pending;
    const bytes = pending.length === 1 ? (pending[0] as Uint8Array) : concat(pending, this.#pendingBytes);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#error !== undefined) return;
    const reply = this.#stream.request('write', [bytes]);
    if (!reply.ok) this.#error = streamFailure(reply);
  }

  blockUntilWritable(): void {
    this.flush();
  }

  blockUntilDrained(): void {
    this.flush();
  }

  ready(): boolean {
    return true;
  }

  wait(): Promise<void> {
    return Promise.resolve();
  }

  /** Sends what is left, then drops the host stream (which may complete what it was writing). */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#stream.drop();
  }
}

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

function isResourceRef(value: object): value is ResourceRef {
  return '$resource' in value && '$handle' in value && '$interface' in value;
}
