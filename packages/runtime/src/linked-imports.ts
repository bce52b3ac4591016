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
import { receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { ErrorJSON } from '@cirrus/protocol';
import type { FromWorker, ImportCallMessage, ImportReply, ResourceRef } from './worker-protocol.ts';

export interface HostChannel {
  post(message: FromWorker): void;
  /** Slot 0 is set to 1 by the host once a reply is waiting on `replies`. */
  signal: Int32Array;
  replies: MessagePort;
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

  #call(message: ImportCallMessage): unknown {
    const { signal, replies } = this.#channel;
    message.args = message.args.map((a) => this.#toHost(a));
    Atomics.store(signal, 0, 0);
    this.#channel.post(message);
    Atomics.wait(signal, 0, 0);
    const received = receiveMessageOnPort(replies);
    if (received === undefined) {
      throw new LinkedImportFailure({
        code: 'INSTANCE_CRASHED',
        message: `no reply from the host for ${message.interface}#${message.fn}`,
      });
    }
    const reply = received.message as ImportReply;
    if (!reply.ok) throw new LinkedImportFailure(reply.error);
    return this.#fromHost(reply.value);
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
          return;
        }
        const created = owner.#call({ t: 'import', interface: iface, resource, fn: '[constructor]', args });
        // The host answers with a reference to the new resource, already wrapped in this class.
        return created as Resource;
      }

      [Symbol.dispose](): void {
        owner.#channel.post({ t: 'drop', handle: this[HANDLE] });
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
              return owner.#call({ t: 'import', interface: iface, resource, handle: this[HANDLE], fn, args });
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
      const Class = this.#resourceClass(value.$interface, value.$resource);
      return new Class(ADOPT, value.$handle);
    }
    if (Array.isArray(value)) return value.map((v) => this.#fromHost(v));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = this.#fromHost(v);
    return out;
  }
}

function isResourceRef(value: object): value is ResourceRef {
  return '$resource' in value && '$handle' in value && '$interface' in value;
}
