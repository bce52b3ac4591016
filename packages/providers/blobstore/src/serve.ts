/**
 * The provider's side of `wrpc:blobstore/blobstore@0.2.0` (see wire-types.ts): calls from components
 * on other hosts, each served with the store of the caller's link. Object data streams both ways a
 * chunk at a time under the transport's flow control; each stream's status future settles once it
 * has ended, however it ended, so that the call can close.
 */
import { BlobstoreAccessDeniedError, describeError } from '@cirrus/protocol';
import { wrpcServe } from '@cirrus/lattice';
import type { Subscription, WrpcCaller, WrpcHandler } from '@cirrus/lattice';
import { providerServeOptions } from '@cirrus/provider-core';
import type { ProviderContext } from '@cirrus/provider-core';
import type { BlobReader, BlobWriter, DirectoryStore, NameLister } from './store.ts';
import { BLOBSTORE_FUNCTIONS, WRPC_BLOBSTORE } from './wire-types.ts';
import type { WireObjectId, WireResult, WireStatus } from './wire-types.ts';

/** Bytes read from an object per stream chunk. */
const READ_CHUNK_BYTES = 256 * 1024;

const U64_MAX = 2n ** 64n - 1n;

type Operation = (store: DirectoryStore, args: unknown[], caller: WrpcCaller) => Promise<unknown>;

async function guarded<T>(work: () => Promise<T>): Promise<WireResult<T>> {
  try {
    return { tag: 'ok', val: await work() };
  } catch (err) {
    return { tag: 'err', val: describeError(err) };
  }
}

/** A stream produced by `produce`, with the status that settles once it has ended. */
function streamed<T>(
  produce: () => AsyncGenerator<T>,
  release: () => Promise<void>,
  caller: WrpcCaller,
): [AsyncIterable<T>, WireStatus] {
  let settle!: (result: WireResult<undefined>) => void;
  const status = new Promise<WireResult<undefined>>((resolve) => (settle = resolve));
  const stop = (): void => {
    settle({ tag: 'err', val: 'the reader stopped reading' });
    void release().catch(() => undefined);
  };
  // The stream may never be read (the call abandoned first): its source is released all the same.
  caller.signal?.addEventListener('abort', stop, { once: true });
  async function* run(): AsyncGenerator<T> {
    try {
      yield* produce();
      settle({ tag: 'ok', val: undefined });
    } catch (err) {
      settle({ tag: 'err', val: describeError(err) });
      throw err;
    } finally {
      stop();
      caller.signal?.removeEventListener('abort', stop);
    }
  }
  return [run(), status];
}

function objectData(reader: BlobReader, caller: WrpcCaller): [AsyncIterable<Uint8Array>, WireStatus] {
  return streamed(
    async function* () {
      for (;;) {
        const chunk = await reader.read(READ_CHUNK_BYTES);
        if (chunk.byteLength === 0) return;
        yield chunk;
      }
    },
    () => reader.close(),
    caller,
  );
}

function objectNames(
  lister: NameLister,
  batch: number,
  limit: bigint | undefined,
  caller: WrpcCaller,
): [AsyncIterable<string[]>, WireStatus] {
  return streamed(
    async function* () {
      let left = limit ?? U64_MAX;
      while (left > 0n) {
        const { names, end } = await lister.next(left < BigInt(batch) ? left : BigInt(batch));
        left -= BigInt(names.length);
        if (names.length > 0) yield names;
        if (end || names.length === 0) return;
      }
    },
    () => lister.close(),
    caller,
  );
}

/** Writes the streamed bytes to a temporary file, put in place once they are all there. */
async function writeObject(
  store: DirectoryStore,
  id: WireObjectId,
  data: AsyncIterable<Uint8Array>,
): WireStatus {
  let writer: BlobWriter | undefined;
  try {
    writer = await store.createWriter();
    for await (const chunk of data) await writer.write(chunk);
    await writer.commit(id.container, id.object);
    return { tag: 'ok', val: undefined };
  } catch (err) {
    await writer?.abort();
    return { tag: 'err', val: describeError(err) };
  }
}

function objectId(value: unknown): WireObjectId {
  return value as WireObjectId;
}

const OPERATIONS: Readonly<Record<string, Operation>> = {
  'clear-container': (store, [name]) => guarded(() => store.clear(name)),
  'container-exists': (store, [name]) => guarded(() => store.containerExists(name)),
  'create-container': (store, [name]) => guarded(async () => void (await store.createContainer(name))),
  'delete-container': (store, [name]) => guarded(() => store.deleteContainer(name)),
  'get-container-info': (store, [name]) =>
    guarded(async () => ({ createdAt: (await store.containerInfo(name)).createdAt })),
  'list-container-objects': (store, [name, limit, offset], caller) =>
    guarded(async () => {
      const lister = await store.listObjects(name);
      if (typeof offset === 'bigint' && offset > 0n) await lister.skip(offset);
      const batch = store.limits.blobstoreListMaxNames;
      return objectNames(lister, batch, typeof limit === 'bigint' ? limit : undefined, caller);
    }),
  'copy-object': (store, [src, dest]) => guarded(() => store.copyObject(objectId(src), objectId(dest))),
  'move-object': (store, [src, dest]) => guarded(() => store.moveObject(objectId(src), objectId(dest))),
  'delete-object': (store, [id]) =>
    guarded(() => store.deleteObject(objectId(id).container, objectId(id).object)),
  'delete-objects': (store, [name, objects]) =>
    guarded(() => store.deleteObjects(name, Array.isArray(objects) ? objects : [])),
  'get-container-data': (store, [id, start, end], caller) =>
    guarded(async () => {
      const { container, object } = objectId(id);
      return objectData(await store.read(container, object, start as bigint, end as bigint), caller);
    }),
  'get-object-info': (store, [id]) =>
    guarded(async () => {
      const info = await store.objectInfo(objectId(id).container, objectId(id).object);
      return { createdAt: info.createdAt, size: info.size };
    }),
  'has-object': (store, [id]) => guarded(() => store.hasObject(objectId(id).container, objectId(id).object)),
  'write-container-data': async (store, [id, data]) => {
    const { container, object } = objectId(id);
    try {
      // Refused before any byte moves when the object could not be put in place.
      await store.commitTarget(container, object);
    } catch (err) {
      return { tag: 'err', val: describeError(err) };
    }
    // Answered at once: the caller streams the bytes once it knows, and learns from the status
    // whether they were stored.
    return { tag: 'ok', val: writeObject(store, { container, object }, data as AsyncIterable<Uint8Array>) };
  },
};

/**
 * Serves `wrpc:blobstore/blobstore@0.2.0` for the provider; `storeOf` gives the store of the
 * caller's link, or undefined when it has none (the call is then refused).
 */
export function serveBlobstore(
  context: ProviderContext,
  storeOf: (caller: WrpcCaller) => Promise<DirectoryStore> | undefined,
): Subscription {
  const handlers = new Map<string, WrpcHandler>();
  for (const [name, fn] of BLOBSTORE_FUNCTIONS) {
    const operation = OPERATIONS[name];
    if (operation === undefined) continue;
    handlers.set(name, {
      fn,
      handle: async (args, caller) => {
        const store = storeOf(caller);
        if (store === undefined) {
          const denied = new BlobstoreAccessDeniedError(
            `${caller.sourceId} has no link named ${caller.linkName} to ${context.providerId}`,
          );
          return [{ tag: 'err', val: describeError(denied) }];
        }
        return [await operation(await store, args, caller)];
      },
    });
  }
  return wrpcServe(context.connection, {
    ...providerServeOptions(context),
    instance: WRPC_BLOBSTORE,
    handlers,
  });
}
