/**
 * wasi:blobstore across hosts: a component whose blobstore link target runs elsewhere reaches it as
 * `wrpc:blobstore/blobstore@0.2.0` (see wire-types.ts). The guest's resources stay on the calling
 * host: a container is its name, an incoming value the object data streaming in, an outgoing value
 * the bytes the guest writes, streamed out once `write-data` names the object. Bytes written before
 * that wait in a temporary file past a window's worth, so a large object never sits in memory.
 */
import { randomBytes } from 'node:crypto';
import { open, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BlobstoreIoFailedError,
  BlobstoreTooLargeError,
  describeError,
  InvalidArgumentError,
} from '@cirrus/protocol';
import { HostResource, STREAMS_INTERFACE } from '@cirrus/runtime';
import type { HostInputStream, HostOutputStream, ImportCall } from '@cirrus/runtime';
import { exportFunctionName, invokeAcrossHosts } from '@cirrus/provider-core';
import type { CallSource, CrossHostOptions, WireBinding } from '@cirrus/provider-core';
import { BLOBSTORE_FUNCTIONS, WRPC_BLOBSTORE } from './wire-types.ts';
import type { WireObjectId, WireResult, WireStatus } from './wire-types.ts';

const BLOBSTORE = 'wasi:blobstore/blobstore';
const CONTAINER = 'wasi:blobstore/container';
const TYPES = 'wasi:blobstore/types';

/** Bytes moved per step out of the temporary file. */
const SPOOL_CHUNK_BYTES = 256 * 1024;

/** Where the calls of one guest resource go: the link's target on another host. */
class Remote {
  readonly options: CrossHostOptions;
  readonly targetId: string;
  readonly source: CallSource;

  constructor(options: CrossHostOptions, targetId: string, source: CallSource) {
    this.options = options;
    this.targetId = targetId;
    this.source = source;
  }

  call<T>(fn: string, args: unknown[]): Promise<WireResult<T>> {
    const witFn = BLOBSTORE_FUNCTIONS.get(fn);
    if (witFn === undefined) return Promise.reject(new Error(`${WRPC_BLOBSTORE} has no function ${fn}`));
    return invokeAcrossHosts(this.options, {
      targetId: this.targetId,
      instance: WRPC_BLOBSTORE,
      fn: witFn,
      args,
      sourceId: this.source.sourceId,
      linkName: this.source.linkName,
    }) as Promise<WireResult<T>>;
  }
}

interface RemoteContainer {
  remote: Remote;
  name: string;
}

function container(remote: Remote, name: string): HostResource {
  return new HostResource(CONTAINER, 'container', { remote, name } satisfies RemoteContainer);
}

const ok = <T>(val: T): WireResult<T> => ({ tag: 'ok', val });
const failed = (err: unknown): WireResult<never> => ({ tag: 'err', val: describeError(err) });

/** A stream's end as the guest sees it: a failure it reported in its status fails the read. */
async function statusError(status: WireStatus): Promise<Error | undefined> {
  const ended = await status.catch((err: unknown) => ({ tag: 'err' as const, val: describeError(err) }));
  return ended.tag === 'err' ? new Error(ended.val) : undefined;
}

/** An `incoming-value`: a range of an object, its bytes streaming from the provider's host. */
class RemoteIncomingValue implements Disposable {
  readonly #remote: Remote;
  readonly #id: WireObjectId;
  readonly #start: bigint;
  readonly #end: bigint;
  readonly #chunks: AsyncIterator<Uint8Array>;
  readonly #status: WireStatus;
  #consumed = false;

  constructor(
    remote: Remote,
    id: WireObjectId,
    range: [bigint, bigint],
    data: [AsyncIterable<Uint8Array>, WireStatus],
  ) {
    this.#remote = remote;
    this.#id = id;
    [this.#start, this.#end] = range;
    this.#chunks = data[0][Symbol.asyncIterator]();
    this.#status = data[1];
    this.#status.catch(() => undefined);
  }

  /** The range's size, as the object's size bounds it (as the provider's own reader does). */
  async size(): Promise<bigint> {
    const info = await this.#remote.call<{ size: bigint }>('get-object-info', [this.#id]);
    if (info.tag === 'err') throw new Error(info.val);
    const size = info.val.size;
    const from = this.#start < size ? this.#start : size;
    const to = this.#end < size ? this.#end + 1n : size;
    return to - from;
  }

  #take(): AsyncIterator<Uint8Array> {
    if (this.#consumed) throw new InvalidArgumentError('the incoming value was already consumed');
    this.#consumed = true;
    return this.#chunks;
  }

  async consumeSync(): Promise<Uint8Array> {
    const chunks = this.#take();
    const max = this.#remote.options.limits.blobstoreMaxSyncReadBytes;
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const next = await chunks.next();
      if (next.done === true) break;
      total += next.value.byteLength;
      if (total > max) {
        void chunks.return?.();
        throw new BlobstoreTooLargeError(`more than blobstoreMaxSyncReadBytes (${max}) bytes for one read`, {
          hint: 'read the value as a stream (incoming-value-consume-async) or a smaller range',
        });
      }
      parts.push(next.value);
    }
    const failure = await statusError(this.#status);
    if (failure !== undefined) throw failure;
    const bytes = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      bytes.set(part, offset);
      offset += part.byteLength;
    }
    return bytes;
  }

  consumeAsync(): HostInputStream & Disposable {
    const chunks = this.#take();
    let rest: Uint8Array = new Uint8Array(0);
    return {
      read: async (max) => {
        while (rest.byteLength === 0) {
          const next = await chunks.next();
          if (next.done === true) {
            const failure = await statusError(this.#status);
            if (failure !== undefined) throw failure;
            return rest;
          }
          rest = next.value;
        }
        const out = rest.subarray(0, max);
        rest = rest.subarray(out.byteLength);
        return out;
      },
      [Symbol.dispose]: () => void chunks.return?.(),
    };
  }

  [Symbol.dispose](): void {
    if (!this.#consumed) void this.#chunks.return?.();
  }
}

/**
 * Bytes written before the object has a name: in memory up to a window, then in a temporary file
 * (unlinked at once, so nothing is left behind), bounded by blobstoreMaxObjectBytes.
 */
class Spool {
  readonly #memoryMax: number;
  readonly #max: number;
  #memory: Uint8Array[] = [];
  #file: Promise<FileHandle> | undefined;
  #size = 0;

  constructor(memoryMax: number, max: number) {
    this.#memoryMax = memoryMax;
    this.#max = max;
  }

  async append(bytes: Uint8Array): Promise<void> {
    if (this.#size + bytes.byteLength > this.#max) {
      throw new BlobstoreTooLargeError(`the object is larger than blobstoreMaxObjectBytes (${this.#max})`);
    }
    const at = this.#size;
    this.#size += bytes.byteLength;
    if (this.#file === undefined && this.#size <= this.#memoryMax) {
      this.#memory.push(bytes.slice());
      return;
    }
    const file = await (this.#file ??= this.#spill());
    await file.write(bytes, 0, bytes.byteLength, at);
  }

  async #spill(): Promise<FileHandle> {
    const path = join(tmpdir(), `cirrus-blob-${randomBytes(12).toString('hex')}`);
    const file = await open(path, 'wx+', 0o600);
    await unlink(path);
    let offset = 0;
    for (const part of this.#memory) {
      await file.write(part, 0, part.byteLength, offset);
      offset += part.byteLength;
    }
    this.#memory = [];
    return file;
  }

  /** What was written, in order; the spool is empty (and its file closed) once read. */
  async *drain(): AsyncGenerator<Uint8Array> {
    try {
      if (this.#file === undefined) {
        for (const part of this.#memory) yield part;
        return;
      }
      const file = await this.#file;
      for (let at = 0; at < this.#size; at += SPOOL_CHUNK_BYTES) {
        const buffer = new Uint8Array(Math.min(SPOOL_CHUNK_BYTES, this.#size - at));
        const { bytesRead } = await file.read(buffer, 0, buffer.byteLength, at);
        yield buffer.subarray(0, bytesRead);
      }
    } finally {
      this.discard();
    }
  }

  discard(): void {
    this.#memory = [];
    const file = this.#file;
    this.#file = undefined;
    void file?.then((f) => f.close()).catch(() => undefined);
  }
}

/**
 * Hands the guest's writes to the stream being sent, one at a time: a write waits until the stream
 * takes it, and fails once the stream has stopped.
 */
class Handoff {
  #waiting: { bytes: Uint8Array; taken: () => void; refused: (err: Error) => void } | undefined;
  #wake: (() => void) | undefined;
  #ended = false;
  #failure: Error | undefined;

  write(bytes: Uint8Array): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#ended) return Promise.reject(new InvalidArgumentError('the outgoing value body is closed'));
    return new Promise((taken, refused) => {
      this.#waiting = { bytes: bytes.slice(), taken, refused };
      this.#wake?.();
    });
  }

  /** No more writes: the body is complete, or, with `failure`, abandoned. */
  end(failure?: Error): void {
    this.#ended = true;
    if (failure !== undefined) {
      this.#failure ??= failure;
      this.#waiting?.refused(this.#failure);
      this.#waiting = undefined;
    }
    this.#wake?.();
  }

  async *chunks(): AsyncGenerator<Uint8Array> {
    let complete = false;
    try {
      for (;;) {
        const waiting = this.#waiting;
        if (waiting !== undefined) {
          this.#waiting = undefined;
          waiting.taken();
          yield waiting.bytes;
          continue;
        }
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#ended) {
          complete = true;
          return;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    } finally {
      if (!complete) this.end(new BlobstoreIoFailedError('the object stopped being sent to the provider'));
    }
  }
}

/**
 * An `outgoing-value`: the object is written on the provider's host by `write-container-data`, once
 * `write-data` names it; its status arrives when the body is complete (`finish`, or the stream dropped).
 */
class RemoteOutgoingValue implements Disposable {
  readonly #spool: Spool;
  readonly #handoff = new Handoff();
  #bodyTaken = false;
  #bound = false;
  #status: WireStatus | undefined;
  #finished = false;

  constructor(options: CrossHostOptions) {
    this.#spool = new Spool(options.limits.wrpcStreamWindowBytes, options.limits.blobstoreMaxObjectBytes);
  }

  body(): (HostOutputStream & Disposable) | undefined {
    if (this.#bodyTaken) return undefined;
    this.#bodyTaken = true;
    return {
      write: (bytes) => (this.#bound ? this.#handoff.write(bytes) : this.#spool.append(bytes)),
      [Symbol.dispose]: () => this.#handoff.end(),
    };
  }

  async bind(target: RemoteContainer, name: unknown): Promise<WireResult<undefined>> {
    if (this.#bound)
      return failed(new InvalidArgumentError('write-data was already called for this outgoing value'));
    this.#bound = true;
    const spool = this.#spool;
    const handoff = this.#handoff;
    const data = (async function* () {
      yield* spool.drain();
      yield* handoff.chunks();
    })();
    const id: WireObjectId = { container: target.name, object: String(name) };
    const started = await target.remote.call<WireStatus>('write-container-data', [id, data]);
    if (started.tag === 'err') {
      handoff.end(new Error(started.val));
      spool.discard();
      return started;
    }
    this.#status = started.val;
    // A provider that fails (or goes away) mid-write must not leave the guest's next write waiting.
    this.#status.then(
      (ended) => {
        if (ended.tag === 'err') handoff.end(new BlobstoreIoFailedError(ended.val));
      },
      (err: unknown) => handoff.end(new BlobstoreIoFailedError(describeError(err))),
    );
    return ok(undefined);
  }

  /** The body is complete: waits until the object is in place (or why it is not). */
  async finish(): Promise<WireResult<undefined>> {
    this.#finished = true;
    this.#handoff.end();
    if (this.#status === undefined) {
      this.#spool.discard();
      return ok(undefined);
    }
    return this.#status.catch(failed);
  }

  [Symbol.dispose](): void {
    if (this.#finished) return;
    // Dropped unfinished: the object must not appear with part of its bytes.
    this.#handoff.end(new InvalidArgumentError('the outgoing value was dropped before finish'));
    if (this.#status === undefined) this.#spool.discard();
  }
}

/** A `stream-object-names`: names streaming in, read ahead by one so that the end is known. */
class RemoteNames implements Disposable {
  readonly #names: AsyncIterator<string[]>;
  readonly #status: WireStatus;
  readonly #maxNames: number;
  #ahead: string[] = [];
  #done = false;

  constructor(data: [AsyncIterable<string[]>, WireStatus], maxNames: number) {
    this.#names = data[0][Symbol.asyncIterator]();
    this.#status = data[1];
    this.#status.catch(() => undefined);
    this.#maxNames = maxNames;
  }

  async #fill(count: number): Promise<void> {
    while (this.#ahead.length < count && !this.#done) {
      const next = await this.#names.next();
      if (next.done === true) {
        this.#done = true;
        const failure = await statusError(this.#status);
        if (failure !== undefined) throw failure;
      } else {
        this.#ahead.push(...next.value);
      }
    }
  }

  async next(count: bigint): Promise<[string[], boolean]> {
    const n = count > BigInt(this.#maxNames) ? this.#maxNames : Number(count);
    await this.#fill(n + 1);
    const names = this.#ahead.splice(0, n);
    return [names, this.#done && this.#ahead.length === 0];
  }

  async skip(count: bigint): Promise<[bigint, boolean]> {
    let skipped = 0n;
    for (;;) {
      const [names, end] = await this.next(count - skipped);
      skipped += BigInt(names.length);
      if (end || skipped >= count || names.length === 0) return [skipped, end];
    }
  }

  [Symbol.dispose](): void {
    void this.#names.return?.();
  }
}

/** Runs a step that may throw, as the interface's `result<T, error>`. */
async function guarded<T>(work: () => Promise<T>): Promise<WireResult<T>> {
  try {
    return ok(await work());
  } catch (err) {
    return failed(err);
  }
}

function objectId(value: unknown): WireObjectId {
  const { container: c, object } = (value ?? {}) as Partial<WireObjectId>;
  return { container: String(c), object: String(object) };
}

/** Carries a component's wasi:blobstore imports to a provider on another host. */
export const blobstoreBinding: WireBinding = {
  interfaces: [BLOBSTORE, CONTAINER, TYPES],
  invoke: remoteBlobstore,
};

async function remoteBlobstore(
  options: CrossHostOptions,
  targetId: string,
  call: ImportCall,
  source: CallSource,
): Promise<unknown> {
  const remote = new Remote(options, targetId, source);
  const [first, second, third] = call.args;
  const self = call.self;
  switch (`${call.interface}#${exportFunctionName(call)}`) {
    case `${BLOBSTORE}#create-container`: {
      const created = await remote.call<undefined>('create-container', [String(first)]);
      return created.tag === 'ok' ? ok(container(remote, String(first))) : created;
    }
    case `${BLOBSTORE}#get-container`: {
      const info = await remote.call<unknown>('get-container-info', [String(first)]);
      return info.tag === 'ok' ? ok(container(remote, String(first))) : info;
    }
    case `${BLOBSTORE}#delete-container`:
      return remote.call('delete-container', [String(first)]);
    case `${BLOBSTORE}#container-exists`:
      return remote.call('container-exists', [String(first)]);
    case `${BLOBSTORE}#copy-object`:
      return remote.call('copy-object', [objectId(first), objectId(second)]);
    case `${BLOBSTORE}#move-object`:
      return remote.call('move-object', [objectId(first), objectId(second)]);
    case `${CONTAINER}#container.name`:
      return ok((self as RemoteContainer).name);
    case `${CONTAINER}#container.info`: {
      const { remote: at, name } = self as RemoteContainer;
      const info = await at.call<{ createdAt: bigint }>('get-container-info', [name]);
      return info.tag === 'ok' ? ok({ name, createdAt: info.val.createdAt }) : info;
    }
    case `${CONTAINER}#container.get-data`: {
      const { remote: at, name } = self as RemoteContainer;
      const id: WireObjectId = { container: name, object: String(first) };
      const range: [bigint, bigint] = [BigInt(second as bigint), BigInt(third as bigint)];
      const data = await at.call<[AsyncIterable<Uint8Array>, WireStatus]>('get-container-data', [
        id,
        ...range,
      ]);
      if (data.tag === 'err') return data;
      return ok(new HostResource(TYPES, 'incoming-value', new RemoteIncomingValue(at, id, range, data.val)));
    }
    case `${CONTAINER}#container.write-data`:
      return (second as RemoteOutgoingValue).bind(self as RemoteContainer, first);
    case `${CONTAINER}#container.list-objects`: {
      const { remote: at, name } = self as RemoteContainer;
      const names = await at.call<[AsyncIterable<string[]>, WireStatus]>('list-container-objects', [
        name,
        undefined,
        undefined,
      ]);
      if (names.tag === 'err') return names;
      const lister = new RemoteNames(names.val, options.limits.blobstoreListMaxNames);
      return ok(new HostResource(CONTAINER, 'stream-object-names', lister));
    }
    case `${CONTAINER}#container.delete-object`: {
      const { remote: at, name } = self as RemoteContainer;
      return at.call('delete-object', [{ container: name, object: String(first) }]);
    }
    case `${CONTAINER}#container.delete-objects`: {
      const { remote: at, name } = self as RemoteContainer;
      return at.call('delete-objects', [name, Array.isArray(first) ? first.map(String) : []]);
    }
    case `${CONTAINER}#container.has-object`: {
      const { remote: at, name } = self as RemoteContainer;
      return at.call('has-object', [{ container: name, object: String(first) }]);
    }
    case `${CONTAINER}#container.object-info`: {
      const { remote: at, name } = self as RemoteContainer;
      const object = String(first);
      const info = await at.call<{ createdAt: bigint; size: bigint }>('get-object-info', [
        { container: name, object },
      ]);
      return info.tag === 'ok' ? ok({ name: object, container: name, ...info.val }) : info;
    }
    case `${CONTAINER}#container.clear`:
      return (self as RemoteContainer).remote.call('clear-container', [(self as RemoteContainer).name]);
    case `${CONTAINER}#stream-object-names.read-stream-object-names`:
      return guarded(() => (self as RemoteNames).next(BigInt(first as bigint)));
    case `${CONTAINER}#stream-object-names.skip-stream-object-names`:
      return guarded(() => (self as RemoteNames).skip(BigInt(first as bigint)));
    case `${TYPES}#outgoing-value.new-outgoing-value`:
      return new HostResource(TYPES, 'outgoing-value', new RemoteOutgoingValue(options));
    case `${TYPES}#outgoing-value.outgoing-value-write-body`: {
      const body = (self as RemoteOutgoingValue).body();
      return body === undefined
        ? { tag: 'err', val: undefined }
        : ok(new HostResource(STREAMS_INTERFACE, 'output-stream', body));
    }
    case `${TYPES}#outgoing-value.finish`:
      return (first as RemoteOutgoingValue).finish();
    case `${TYPES}#incoming-value.incoming-value-consume-sync`:
      return guarded(() => (first as RemoteIncomingValue).consumeSync());
    case `${TYPES}#incoming-value.incoming-value-consume-async`:
      return guarded(
        async () =>
          new HostResource(STREAMS_INTERFACE, 'input-stream', (first as RemoteIncomingValue).consumeAsync()),
      );
    case `${TYPES}#incoming-value.size`:
      return (self as RemoteIncomingValue).size();
    default:
      throw new Error(`${call.interface}#${exportFunctionName(call)} is not served across hosts`);
  }
}
