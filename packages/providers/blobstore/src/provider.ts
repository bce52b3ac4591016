/**
 * The built-in blobstore provider: serves `wasi:blobstore` 0.2.0-draft (blobstore, container, types)
 * over a directory to the components linked to it. Each link picks its root directory through its
 * target config (`root`, or wasmCloud's `ROOT`), else the provider's config, else a directory of its
 * own per component under the host's state directory. Values travel through wasi:io streams that the
 * provider serves as host streams, so a large object never has to fit in one message. Components on
 * other hosts reach it as `wrpc:blobstore/blobstore@0.2.0` (serve.ts), through their link's store.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describeError, InvalidArgumentError } from '@cirrus/protocol';
import type { StringMap } from '@cirrus/protocol';
import { HostResource, STREAMS_INTERFACE } from '@cirrus/runtime';
import type { HostInputStream, HostOutputStream } from '@cirrus/runtime';
import type { Subscription } from '@cirrus/lattice';
import type {
  BuiltinProvider,
  CapabilityProvider,
  ExportHandlers,
  ImportSource,
  ProviderContext,
  ResolvedLink,
} from '@cirrus/provider-core';
import { serveBlobstore } from './serve.ts';
import { DirectoryStore } from './store.ts';
import type { BlobReader, BlobWriter, NameLister, ObjectId } from './store.ts';

const BLOBSTORE = 'wasi:blobstore/blobstore';
const CONTAINER = 'wasi:blobstore/container';
const TYPES = 'wasi:blobstore/types';

/** A `result<T, error>` as jco represents it; the interface's error is a string. */
type Result<T> = { tag: 'ok'; val: T } | { tag: 'err'; val: string };

/** Runs a store operation, turning its failure into the interface's error (`CODE: message (hint)`). */
async function guarded<T>(work: () => Promise<T> | T): Promise<Result<T>> {
  try {
    return { tag: 'ok', val: await work() };
  } catch (err) {
    return { tag: 'err', val: describeError(err) };
  }
}

/** What a guest's `container` resource stands for. */
interface ContainerRef {
  store: DirectoryStore;
  name: string;
}

function containerResource(store: DirectoryStore, name: string): HostResource {
  return new HostResource(CONTAINER, 'container', { store, name } satisfies ContainerRef);
}

/**
 * The root directory config names: `root`, or `ROOT` as wasmCloud's filesystem provider spells it.
 * A relative path is taken from the host's working directory.
 */
function configuredRoot(config: StringMap): string | undefined {
  const value = (config['root'] ?? config['ROOT'])?.trim();
  return value === undefined || value === '' ? undefined : resolve(value);
}

/**
 * A component's own root when no config names one: `blobstore/<component id>` in the host's state
 * directory (`$CIRRUS_STATE_DIR`, else `$XDG_STATE_HOME/cirrus`, else `~/.local/state/cirrus`).
 */
export function defaultBlobstoreRoot(
  componentId: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const explicit = env['CIRRUS_STATE_DIR']?.trim();
  const xdg = env['XDG_STATE_HOME']?.trim();
  const state =
    explicit !== undefined && explicit !== ''
      ? explicit
      : xdg !== undefined && xdg !== ''
        ? join(xdg, 'cirrus')
        : join(env['HOME']?.trim() || homedir(), '.local', 'state', 'cirrus');
  return join(state, 'blobstore', encodeURIComponent(componentId));
}

/**
 * An `outgoing-value`: bytes written through its body stream go to a temporary file, which becomes
 * the object once the value is bound to a name (`write-data`) and its body is complete (the stream
 * dropped, or `finish` called), whichever comes last.
 */
class OutgoingValue implements Disposable {
  readonly store: DirectoryStore;
  #writer: Promise<BlobWriter> | undefined;
  #bodyTaken = false;
  #bodyClosed = false;
  #target: { container: string; name: string } | undefined;
  #commit: Promise<void> | undefined;

  constructor(store: DirectoryStore) {
    this.store = store;
  }

  #writerNow(): Promise<BlobWriter> {
    return (this.#writer ??= this.store.createWriter());
  }

  /** The body stream; only the first call gets one. */
  body(): (HostOutputStream & Disposable) | undefined {
    if (this.#bodyTaken) return undefined;
    this.#bodyTaken = true;
    return {
      write: async (bytes) => (await this.#writerNow()).write(bytes),
      [Symbol.dispose]: () => {
        this.#bodyClosed = true;
        // Nobody may wait for this commit (finish is optional in practice); finish reports its failure.
        if (this.#target !== undefined) this.#startCommit().catch(() => undefined);
      },
    };
  }

  #startCommit(): Promise<void> {
    const target = this.#target;
    if (target === undefined) return Promise.resolve();
    return (this.#commit ??= this.#writerNow().then((w) => w.commit(target.container, target.name)));
  }

  /** `write-data`: names the object; it is written now if the body is complete, else when it is. */
  async bind(container: ContainerRef, name: unknown): Promise<void> {
    if (container.store !== this.store) {
      throw new InvalidArgumentError('the outgoing value was created through another blobstore link');
    }
    if (this.#target !== undefined) {
      throw new InvalidArgumentError('write-data was already called for this outgoing value');
    }
    const target = await this.store.commitTarget(container.name, name);
    this.#target = { container: target.container, name: target.name };
    if (this.#bodyClosed) await this.#startCommit();
  }

  /** `finish`: the body is whatever was written; waits until the object is in place. */
  async finish(): Promise<void> {
    this.#bodyClosed = true;
    if (this.#target === undefined) {
      await this.#discard();
      return;
    }
    await this.#startCommit();
  }

  async #discard(): Promise<void> {
    const writer = this.#writer;
    this.#writer = Promise.reject(new InvalidArgumentError('the outgoing value was finished'));
    this.#writer.catch(() => undefined);
    await (await writer?.catch(() => undefined))?.abort();
  }

  [Symbol.dispose](): void {
    if (this.#commit === undefined) void this.#discard();
  }
}

/** An `incoming-value`: an open range of an object, consumed at once or as a stream. */
class IncomingValue implements Disposable {
  readonly #reader: BlobReader;
  #consumed = false;

  constructor(reader: BlobReader) {
    this.#reader = reader;
  }

  get size(): bigint {
    return BigInt(this.#reader.size);
  }

  #take(): BlobReader {
    if (this.#consumed) throw new InvalidArgumentError('the incoming value was already consumed');
    this.#consumed = true;
    return this.#reader;
  }

  consumeSync(): Promise<Uint8Array> {
    return this.#take().readAll();
  }

  consumeAsync(): HostInputStream & Disposable {
    const reader = this.#take();
    return {
      read: (max) => reader.read(max),
      [Symbol.dispose]: () => void reader.close().catch(() => undefined),
    };
  }

  [Symbol.dispose](): void {
    if (!this.#consumed) void this.#reader.close().catch(() => undefined);
  }
}

/** A `stream-object-names`; closing it releases the directory it reads. */
class ObjectNames implements Disposable {
  readonly lister: NameLister;

  constructor(lister: NameLister) {
    this.lister = lister;
  }

  [Symbol.dispose](): void {
    void this.lister.close();
  }
}

function objectId(value: unknown): ObjectId {
  const { container, object } = (value ?? {}) as Partial<ObjectId>;
  return { container: container as string, object: object as string };
}

class BlobstoreProvider implements CapabilityProvider {
  readonly #context: ProviderContext;
  /** Stores by root directory, shared by the links that name the same one. */
  readonly #stores = new Map<string, Promise<DirectoryStore>>();
  /** The root each link (`source|link name`) chose. */
  readonly #links = new Map<string, string>();
  #config: StringMap;
  /** Components on other hosts reach this provider over wRPC, only through a link to it. */
  readonly #served: Subscription;

  constructor(context: ProviderContext) {
    this.#context = context;
    this.#config = context.config;
    this.#served = serveBlobstore(context, (caller) => {
      const root = this.#links.get(`${caller.sourceId}|${caller.linkName}`);
      return root === undefined ? undefined : this.#store(root);
    });
  }

  #root(sourceId: string, linkConfig: StringMap): string {
    return configuredRoot(linkConfig) ?? configuredRoot(this.#config) ?? defaultBlobstoreRoot(sourceId);
  }

  #store(root: string): Promise<DirectoryStore> {
    const existing = this.#stores.get(root);
    if (existing !== undefined) return existing;
    const opened = DirectoryStore.open(root, this.#context.limits);
    this.#stores.set(root, opened);
    opened.catch(() => this.#stores.delete(root));
    return opened;
  }

  async receiveLinkAsTarget(link: ResolvedLink): Promise<void> {
    const root = this.#root(link.source_id, link.target_config);
    // Open the root now, so an unusable directory fails the link rather than the first call.
    await this.#store(root);
    this.#links.set(`${link.source_id}|${link.name}`, root);
  }

  async deleteLinkAsTarget(link: ResolvedLink): Promise<void> {
    this.#links.delete(`${link.source_id}|${link.name}`);
  }

  async updateConfig(config: StringMap): Promise<void> {
    this.#config = config;
  }

  readonly exports: ExportHandlers<ImportSource> = {
    [BLOBSTORE]: {
      'create-container': async (source: ImportSource, name: unknown) => {
        const store = await this.#sourceStore(source);
        return guarded(async () => containerResource(store, (await store.createContainer(name)).name));
      },
      'get-container': async (source: ImportSource, name: unknown) => {
        const store = await this.#sourceStore(source);
        return guarded(async () => containerResource(store, (await store.containerInfo(name)).name));
      },
      'delete-container': async (source: ImportSource, name: unknown) => {
        const store = await this.#sourceStore(source);
        return guarded(() => store.deleteContainer(name));
      },
      'container-exists': async (source: ImportSource, name: unknown) => {
        const store = await this.#sourceStore(source);
        return guarded(() => store.containerExists(name));
      },
      'copy-object': async (source: ImportSource, from: unknown, to: unknown) => {
        const store = await this.#sourceStore(source);
        return guarded(() => store.copyObject(objectId(from), objectId(to)));
      },
      'move-object': async (source: ImportSource, from: unknown, to: unknown) => {
        const store = await this.#sourceStore(source);
        return guarded(() => store.moveObject(objectId(from), objectId(to)));
      },
    },
    [CONTAINER]: {
      'container.name': (_: ImportSource, { name }: ContainerRef) => guarded(() => name),
      'container.info': (_: ImportSource, { store, name }: ContainerRef) =>
        guarded(() => store.containerInfo(name)),
      'container.get-data': (
        _: ImportSource,
        { store, name }: ContainerRef,
        object: unknown,
        start: bigint,
        end: bigint,
      ) =>
        guarded(async () => {
          const reader = await store.read(name, object, BigInt(start), BigInt(end));
          return new HostResource(TYPES, 'incoming-value', new IncomingValue(reader));
        }),
      'container.write-data': (
        _: ImportSource,
        container: ContainerRef,
        object: unknown,
        data: OutgoingValue,
      ) => guarded(() => data.bind(container, object)),
      'container.list-objects': (_: ImportSource, { store, name }: ContainerRef) =>
        guarded(
          async () =>
            new HostResource(
              CONTAINER,
              'stream-object-names',
              new ObjectNames(await store.listObjects(name)),
            ),
        ),
      'container.delete-object': (_: ImportSource, { store, name }: ContainerRef, object: unknown) =>
        guarded(() => store.deleteObject(name, object)),
      'container.delete-objects': (_: ImportSource, { store, name }: ContainerRef, objects: unknown) =>
        guarded(() => store.deleteObjects(name, Array.isArray(objects) ? objects : [])),
      'container.has-object': (_: ImportSource, { store, name }: ContainerRef, object: unknown) =>
        guarded(() => store.hasObject(name, object)),
      'container.object-info': (_: ImportSource, { store, name }: ContainerRef, object: unknown) =>
        guarded(() => store.objectInfo(name, object)),
      'container.clear': (_: ImportSource, { store, name }: ContainerRef) => guarded(() => store.clear(name)),
      'stream-object-names.read-stream-object-names': (
        _: ImportSource,
        { lister }: ObjectNames,
        count: bigint,
      ) =>
        guarded(async () => {
          const { names, end } = await lister.next(BigInt(count));
          return [names, end];
        }),
      'stream-object-names.skip-stream-object-names': (
        _: ImportSource,
        { lister }: ObjectNames,
        count: bigint,
      ) =>
        guarded(async () => {
          const { skipped, end } = await lister.skip(BigInt(count));
          return [skipped, end];
        }),
    },
    [TYPES]: {
      'outgoing-value.new-outgoing-value': async (source: ImportSource) =>
        new HostResource(TYPES, 'outgoing-value', new OutgoingValue(await this.#sourceStore(source))),
      'outgoing-value.outgoing-value-write-body': (_: ImportSource, value: OutgoingValue) => {
        const body = value.body();
        return body === undefined
          ? { tag: 'err', val: undefined }
          : { tag: 'ok', val: new HostResource(STREAMS_INTERFACE, 'output-stream', body) };
      },
      'outgoing-value.finish': (_: ImportSource, value: OutgoingValue) => guarded(() => value.finish()),
      'incoming-value.incoming-value-consume-sync': (_: ImportSource, value: IncomingValue) =>
        guarded(() => value.consumeSync()),
      'incoming-value.incoming-value-consume-async': (_: ImportSource, value: IncomingValue) =>
        guarded(() => new HostResource(STREAMS_INTERFACE, 'input-stream', value.consumeAsync())),
      'incoming-value.size': (_: ImportSource, value: IncomingValue) => value.size,
    },
  };

  #sourceStore(source: ImportSource): Promise<DirectoryStore> {
    const root = this.#links.get(`${source.sourceId}|${source.linkName}`) ?? this.#root(source.sourceId, {});
    return this.#store(root);
  }

  async shutdown(): Promise<void> {
    this.#served.unsubscribe();
    this.#stores.clear();
    this.#links.clear();
  }
}

export const blobstoreProvider: BuiltinProvider = {
  name: 'Blobstore',
  async start(context) {
    return new BlobstoreProvider(context);
  },
};
