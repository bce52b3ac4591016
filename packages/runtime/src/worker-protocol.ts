/**
 * Messages between the host thread and an instance worker. A worker holds one or more instances, of
 * one or more components; `instance` names one of them. Each instance runs one call at a time; `id`
 * identifies the call.
 */
import type { ErrorJSON } from '@cirrus/protocol';
import type { HttpRequestHead } from './http-types.ts';

/** One instance to start in a worker. */
export interface InstanceInit {
  componentId: string;
  /** Names the bindings: a worker loads the bindings of one key once, for all its instances. */
  bindingsKey: string;
  /**
   * The JavaScript bindings jco generated (an ES module), as source: the worker never reads the
   * cache directory, so it works without one and cannot see an entry change after it was verified.
   * Left out when the worker has loaded this `bindingsKey` before.
   */
  bindings?: string;
  coreModules: Record<string, WebAssembly.Module>;
  environment: [string, string][];
  httpExport: string | undefined;
  logLineMaxBytes: number;
  responseWindowBytes: number;
  /** Largest request body the component may send through wasi:http/outgoing-handler. */
  outgoingBodyMaxBytes: number;
  /** Two Int32 slots: bytes the client has taken, and a client-gone flag (see worker.ts). */
  flow: SharedArrayBuffer;
  /** Unversioned interfaces served through the host (links), not by the worker's WASI. */
  linkedImports: string[];
}

/** A host resource crossing the thread boundary: the worker holds only its handle. */
export interface ResourceRef {
  $resource: string;
  $interface: string;
  $handle: number;
}

/**
 * One call of a linked import: a function, a resource constructor, static or method. The worker
 * blocks until its reply, unless it gives `call`: then the reply comes back as an `import-reply`
 * message and the guest waits on a pollable meanwhile.
 */
export interface ImportCallMessage {
  t: 'import';
  instance: number;
  call?: number;
  /** Host resources the guest dropped since its last message (see `drops` below). */
  drops?: number[];
  interface: string;
  /** The resource type (kebab-case WIT name) for constructors, static functions and methods. */
  resource?: string;
  /** The receiver of a method. */
  handle?: number;
  /** The WIT function name (kebab-case); `[constructor]` for constructors. */
  fn: string;
  args: unknown[];
}

export type ImportReply = { ok: true; value: unknown } | { ok: false; error: ErrorJSON };

/**
 * A resource this instance exports, held in its worker for a caller outside (another component):
 * `$exported` is its id in the worker's table. In arguments the host sends `{ $exported }` alone.
 */
export interface ExportedRef {
  $exported: number;
  /** Unversioned interface that defines the resource type. */
  $interface: string;
  $resource: string;
}

export interface ResponseHead {
  status: number;
  headers: string[];
}

export type ToWorker =
  | { t: 'start'; instance: number; init: InstanceInit }
  /** Forgets an instance; its calls have ended. */
  | { t: 'stop'; instance: number }
  | { t: 'import-reply'; instance: number; call: number; reply: ImportReply }
  | { t: 'http'; instance: number; id: number; head: HttpRequestHead; hasBody: boolean }
  /**
   * Calls a function of an exported interface (`exportName` as jco keys it, `fn` in kebab-case), or,
   * with `resource`, a constructor (`[constructor]`), static function or method of one of its
   * resources; `self` is the receiver of a method, by its id in the worker's table.
   */
  | {
      t: 'invoke';
      instance: number;
      id: number;
      exportName: string;
      fn: string;
      resource?: string;
      self?: number;
      args: unknown[];
    }
  /** The host drops an exported resource it held (see ExportedRef). */
  | { t: 'drop'; instance: number; resource: number }
  | { t: 'body'; instance: number; id: number; chunk: Uint8Array }
  | { t: 'body-end'; instance: number; id: number }
  | { t: 'body-error'; instance: number; id: number; message: string };

/** What an instance's messages to the host carry besides `instance`. */
export type FromInstance =
  | { t: 'ready' }
  | { t: 'init-failed'; error: ErrorJSON }
  | { t: 'out'; id: number; head?: ResponseHead; chunks: Uint8Array[] }
  | {
      t: 'done';
      id: number;
      head?: ResponseHead;
      chunks: Uint8Array[];
      trailers?: string[];
      drops?: number[];
    }
  | { t: 'failed'; id: number; error: ErrorJSON; fatal: boolean; drops?: number[] }
  /**
   * `released`: ids of exported resources the call took over (passed as `own`), which the worker no
   * longer holds.
   */
  | { t: 'returned'; id: number; value: unknown; released?: number[]; drops?: number[] }
  | { t: 'consumed'; id: number; bytes: number }
  | { t: 'log'; stream: 'stdout' | 'stderr'; line: string }
  | Omit<ImportCallMessage, 'instance'>
  /**
   * A host resource the guest dropped outside a call (collected). Those dropped during a call ride
   * on the instance's next message, as `drops`: the call's next import, or its end.
   */
  | { t: 'drop'; handle: number };

export type FromWorker = FromInstance & { instance: number };
