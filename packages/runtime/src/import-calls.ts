/**
 * Host side of linked imports: the call a component makes on an interface the host routes (through
 * links, to a provider or another component), and the table of host resources an instance holds.
 */
import type { ResourceRef } from './worker-protocol.ts';
import { ExportedResource } from './exported-resource.ts';

/** A resource a linked import hands to the guest; the guest only ever sees a handle to it. */
export class HostResource {
  /** Unversioned interface that defines the resource type, e.g. `wasi:keyvalue/store`. */
  readonly iface: string;
  /** The resource type's WIT name, e.g. `bucket`. */
  readonly resource: string;
  readonly value: unknown;

  constructor(iface: string, resource: string, value: unknown) {
    this.iface = iface;
    this.resource = resource;
    this.value = value;
  }
}

/** Where the streams a provider hands to a guest are typed (see `HostInputStream`). */
export const STREAMS_INTERFACE = 'wasi:io/streams';

/**
 * Bytes a provider hands to the guest as a wasi:io `input-stream`: return
 * `new HostResource(STREAMS_INTERFACE, 'input-stream', source)`. The worker reads ahead in large
 * chunks; the guest dropping the stream disposes the source (`Symbol.dispose`, when it has one).
 */
export interface HostInputStream {
  /** Up to `max` next bytes; empty once there are no more. */
  read(max: number): Promise<Uint8Array>;
}

/**
 * Where the guest's writes to a wasi:io `output-stream` go: return
 * `new HostResource(STREAMS_INTERFACE, 'output-stream', sink)`. The worker gathers small writes
 * into large ones; every write is delivered before the guest's next host call, and before the sink
 * is disposed when the guest drops the stream.
 */
export interface HostOutputStream {
  write(bytes: Uint8Array): Promise<void>;
}

/** Runs the worker's call on a host stream; a rejection reaches the guest as a stream error. */
export function callHostStream(stream: unknown, fn: string, args: readonly unknown[]): Promise<unknown> {
  const [arg] = args;
  if (fn === 'read' && typeof (stream as Partial<HostInputStream>).read === 'function') {
    return (stream as HostInputStream).read(Number(arg));
  }
  if (fn === 'write' && arg instanceof Uint8Array) {
    if (typeof (stream as Partial<HostOutputStream>).write === 'function') {
      return (stream as HostOutputStream).write(arg);
    }
  }
  return Promise.reject(new Error(`this host stream does not serve ${fn}`));
}

export interface ImportCall {
  /** Unversioned interface, e.g. `wasi:keyvalue/store`. */
  interface: string;
  /** WIT function name (`list-keys`), `[constructor]` for a resource constructor. */
  fn: string;
  /** The resource type for constructors, static functions and methods. */
  resource?: string;
  /** The receiver of a method (the `value` of its HostResource). */
  self?: unknown;
  /** Arguments as jco lifted them; resources are replaced by their `value`. */
  args: unknown[];
  /**
   * Identifies the guest call (an HTTP request, an export call) this import call happens in, unique
   * within the process; state a guest sets for "the rest of this call" is keyed by it.
   */
  invocation: number;
}

/**
 * Serves a component's linked imports. Return values follow jco's conventions (a `result` may be
 * returned as `{ tag: 'ok' | 'err', val }`); a thrown error fails the guest's call.
 */
export type ImportHandler = (call: ImportCall) => Promise<unknown>;

/** Handles of the host resources one instance holds; dropped with the instance. */
export class ResourceTable {
  #next = 1;
  readonly #entries = new Map<number, HostResource>();

  get size(): number {
    return this.#entries.size;
  }

  /**
   * Replaces HostResources by references for the worker, keeping them here. A resource another
   * component on this host exported reaches the guest the same way, as a host resource of its
   * interface: the guest's calls on it come back here, and the host routes them to its owner.
   */
  toWorker(value: unknown): unknown {
    if (value instanceof ExportedResource) {
      return this.toWorker(new HostResource(value.interface, value.resource, value));
    }
    if (value instanceof HostResource) {
      const handle = this.#next++;
      this.#entries.set(handle, value);
      return { $interface: value.iface, $resource: value.resource, $handle: handle } satisfies ResourceRef;
    }
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
    if (Array.isArray(value)) return value.map((v) => this.toWorker(v));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.toWorker(v);
    return out;
  }

  /** Resolves the worker's `{ $handle }` references to the resources' values. */
  fromWorker(value: unknown): unknown {
    if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
    if (Array.isArray(value)) return value.map((v) => this.fromWorker(v));
    const handle = (value as { $handle?: unknown }).$handle;
    if (typeof handle === 'number' && Object.keys(value).length === 1) return this.get(handle);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.fromWorker(v);
    return out;
  }

  get(handle: number): unknown {
    const entry = this.#entries.get(handle);
    if (entry === undefined) throw new Error(`resource handle ${handle} is not known to this instance`);
    return entry.value;
  }

  drop(handle: number): void {
    const entry = this.#entries.get(handle);
    if (entry === undefined) return;
    this.#entries.delete(handle);
    disposeValue(entry.value);
  }

  clear(): void {
    for (const entry of this.#entries.values()) disposeValue(entry.value);
    this.#entries.clear();
  }
}

function disposeValue(value: unknown): void {
  if (value !== null && typeof value === 'object' && Symbol.dispose in value) {
    try {
      (value as Disposable)[Symbol.dispose]();
    } catch {
      // A provider's cleanup failing must not take the instance's other resources with it.
    }
  }
}
