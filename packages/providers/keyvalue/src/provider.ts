/**
 * The built-in key-value provider: serves `wasi:keyvalue` 0.2.0-draft (store, atomics, batch) to the
 * components linked to it. Each link picks its backend through its target config (`backend` =
 * `memory`, `redis` with `url`, or `nats`); links without one use the provider's own config, then
 * the in-memory store. Links that choose the same backend settings share one backend.
 *
 * How config is read is the one thing that differs between the built-in and the stand-ins for
 * wasmCloud's key-value providers (`createKeyValueProvider`).
 */
import { CirrusError, describeError } from '@cirrus/protocol';
import type { StringMap } from '@cirrus/protocol';
import { HostResource } from '@cirrus/runtime';
import type { LatticeConnection, Subscription } from '@cirrus/lattice';
import type { WitFunction } from '@cirrus/protocol';
import {
  ATOMICS_FUNCTIONS,
  BATCH_FUNCTIONS,
  STORE_FUNCTIONS,
  WRPC_ATOMICS,
  WRPC_BATCH,
  WRPC_STORE,
} from './wire.ts';
import { wrpcServe } from '@cirrus/lattice';
import { providerServeOptions } from '@cirrus/provider-core';
import type { WrpcHandler } from '@cirrus/lattice';
import { backendSpec, createKeyValueBackend } from './backends/index.ts';
import type { BackendSpec, KeyValueBackend } from './backends/index.ts';
import type {
  BuiltinProvider,
  CapabilityProvider,
  ExportHandler,
  ExportHandlers,
  ImportSource,
  ProviderContext,
  ResolvedLink,
} from '@cirrus/provider-core';

const STORE = 'wasi:keyvalue/store';
const ATOMICS = 'wasi:keyvalue/atomics';
const BATCH = 'wasi:keyvalue/batch';

/** What a guest's `bucket` resource stands for. */
interface Bucket {
  backend: KeyValueBackend;
  name: string;
}

/** `store.error` of wasi:keyvalue 0.2.0-draft, as jco represents the variant. */
type StoreError = { tag: 'no-such-store' } | { tag: 'access-denied' } | { tag: 'other'; val: string };

type Result<T> = { tag: 'ok'; val: T } | { tag: 'err'; val: StoreError };

const ok = <T>(val: T): Result<T> => ({ tag: 'ok', val });

function storeError(err: unknown): StoreError {
  const code = err instanceof CirrusError ? err.code : undefined;
  if (code === 'KV_NO_SUCH_STORE') return { tag: 'no-such-store' };
  if (code === 'KV_ACCESS_DENIED') return { tag: 'access-denied' };
  return { tag: 'other', val: describeError(err) };
}

/** Runs a backend operation, turning its failure into the interface's error type. */
async function guarded<T>(work: () => Promise<T>): Promise<Result<T>> {
  try {
    return ok(await work());
  } catch (err) {
    return { tag: 'err', val: storeError(err) };
  }
}

/** One method of the `bucket` resource (also what a `wrpc:keyvalue/store` call runs). */
function bucketOperation(
  backend: KeyValueBackend,
  name: string,
  fn: string,
  args: unknown[],
): Promise<unknown> {
  const [first, second] = args;
  switch (fn) {
    case 'get':
      return guarded(() => backend.get(name, first as string));
    case 'set':
      return guarded(() => backend.set(name, first as string, second as Uint8Array));
    case 'delete':
      return guarded(() => backend.delete(name, first as string));
    case 'exists':
      return guarded(() => backend.exists(name, first as string));
    case 'list-keys':
      return guarded(async () => {
        const cursor = typeof first === 'bigint' || typeof first === 'number' ? first.toString() : undefined;
        const page = await backend.listKeys(name, cursor);
        return { keys: page.keys, cursor: page.cursor === undefined ? undefined : BigInt(page.cursor) };
      });
    default:
      return Promise.reject(new Error(`the bucket resource has no method ${fn}`));
  }
}

/** One function of `batch` on a bucket (also what a `wrpc:keyvalue/batch` call runs). */
function batchOperation(
  backend: KeyValueBackend,
  name: string,
  fn: string,
  args: unknown[],
): Promise<unknown> {
  const [keysOrEntries] = args;
  switch (fn) {
    case 'get-many':
      return guarded(async () => {
        const keys = keysOrEntries as string[];
        const values = await backend.getMany(name, keys);
        return values.map((value, i): [string, Uint8Array] | undefined =>
          value === undefined ? undefined : [keys[i] as string, value],
        );
      });
    case 'set-many':
      return guarded(() => backend.setMany(name, keysOrEntries as [string, Uint8Array][]));
    case 'delete-many':
      return guarded(() => backend.deleteMany(name, keysOrEntries as string[]));
    default:
      return Promise.reject(new Error(`wasi:keyvalue/batch has no function ${fn}`));
  }
}

type Operation = (backend: KeyValueBackend, name: string, fn: string, args: unknown[]) => Promise<unknown>;

/** What serves a link (or a component calling without one). */
export interface LinkSettings {
  readonly backend: BackendSpec;
  /**
   * The bucket that every identifier opened through the link stands for (wasmCloud's keyvalue-nats
   * names it in the link); without one, the identifier names the bucket.
   */
  readonly bucket?: string;
  /** Config keys that are not honoured, each saying why: logged when the link arrives. */
  readonly ignored?: readonly string[];
}

/** Reads a link's target config, and the provider's own config, into settings; throws when they are wrong. */
export type LinkSettingsReader = (linkConfig: StringMap, providerConfig: StringMap) => LinkSettings;

export interface KeyValueProviderOptions {
  /** Human name reported in the inventory. */
  name: string;
  settings: LinkSettingsReader;
}

/** Methods of the `bucket` resource: each gets its bucket first. */
function bucketMethods(fns: readonly string[], run: Operation): Record<string, ExportHandler<ImportSource>> {
  return Object.fromEntries(
    fns.map((fn) => [
      `bucket.${fn}`,
      (_: ImportSource, bucket: Bucket, ...args: unknown[]) => run(bucket.backend, bucket.name, fn, args),
    ]),
  );
}

/** Functions of an interface whose first parameter is a bucket (wasi:keyvalue/batch). */
function functionsOnBucket(
  fns: readonly string[],
  run: Operation,
): Record<string, ExportHandler<ImportSource>> {
  return Object.fromEntries(
    fns.map((fn) => [
      fn,
      (_: ImportSource, bucket: Bucket, ...args: unknown[]) => run(bucket.backend, bucket.name, fn, args),
    ]),
  );
}

class KeyValueProvider implements CapabilityProvider {
  readonly #context: ProviderContext;
  readonly #lattice: LatticeConnection;
  readonly #read: LinkSettingsReader;
  /** Backends by their spec, shared by the links that choose the same one. */
  readonly #backends = new Map<string, Promise<KeyValueBackend>>();
  /** The settings each link (`source|link name`) chose. */
  readonly #links = new Map<string, LinkSettings>();
  #config: StringMap;

  /** Components on other hosts reach this provider over wRPC. */
  readonly #served: Subscription[];

  constructor(context: ProviderContext, read: LinkSettingsReader) {
    this.#context = context;
    this.#lattice = context.connection;
    this.#read = read;
    this.#config = context.config;
    this.#served = [
      this.#serve(WRPC_STORE, STORE_FUNCTIONS, bucketOperation),
      this.#serve(WRPC_ATOMICS, ATOMICS_FUNCTIONS, (backend, bucket, _fn, [key, delta]) =>
        guarded(() => backend.increment(bucket, key as string, BigInt(delta as bigint))),
      ),
      this.#serve(WRPC_BATCH, BATCH_FUNCTIONS, batchOperation),
    ];
  }

  /** Serves `instance`, whose functions all take the bucket's identifier first. */
  #serve(instance: string, functions: ReadonlyMap<string, WitFunction>, run: Operation): Subscription {
    const handlers = new Map<string, WrpcHandler>();
    for (const [name, fn] of functions) {
      handlers.set(name, {
        fn,
        handle: async ([identifier, ...args], caller) => {
          // Only components linked to this provider may use it, with their link's backend.
          const settings = this.#links.get(`${caller.sourceId}|${caller.linkName}`);
          if (settings === undefined) return [{ tag: 'err', val: { tag: 'access-denied' } }];
          const bucket = settings.bucket ?? (identifier as string);
          return [await run(await this.#backend(settings.backend), bucket, name, args)];
        },
      });
    }
    return wrpcServe(this.#lattice, {
      ...providerServeOptions(this.#context),
      maxPayload: this.#lattice.maxPayload,
      instance,
      handlers,
    });
  }

  async receiveLinkAsTarget(link: ResolvedLink): Promise<void> {
    const settings = this.#read(link.target_config, this.#config);
    if (settings.ignored !== undefined && settings.ignored.length > 0) {
      this.#context.logger.warn('key-value link config not honoured', {
        component: link.source_id,
        link_name: link.name,
        ignored: settings.ignored.join('; '),
      });
    }
    this.#links.set(`${link.source_id}|${link.name}`, settings);
    // Open the backend (and the link's bucket) now, so a wrong URL or bucket fails the link rather
    // than the first call.
    const backend = await this.#backend(settings.backend);
    if (settings.bucket !== undefined) await backend.open(settings.bucket);
  }

  async deleteLinkAsTarget(link: ResolvedLink): Promise<void> {
    this.#links.delete(`${link.source_id}|${link.name}`);
  }

  async updateConfig(config: StringMap): Promise<void> {
    this.#config = config;
  }

  readonly exports: ExportHandlers<ImportSource> = {
    [STORE]: {
      open: (source: ImportSource, name: unknown) => this.#open(source, name),
      ...bucketMethods(['get', 'set', 'delete', 'exists', 'list-keys'], bucketOperation),
    },
    [ATOMICS]: {
      increment: (_: ImportSource, bucket: Bucket, key: string, delta: bigint | number) =>
        guarded(() => bucket.backend.increment(bucket.name, key, BigInt(delta))),
    },
    [BATCH]: functionsOnBucket(['get-many', 'set-many', 'delete-many'], batchOperation),
  };

  #open(source: ImportSource, name: unknown): Promise<unknown> {
    if (typeof name !== 'string') {
      return Promise.resolve({ tag: 'err', val: { tag: 'other', val: 'bucket name must be a string' } });
    }
    return guarded(async () => {
      const settings =
        this.#links.get(`${source.sourceId}|${source.linkName}`) ?? this.#read({}, this.#config);
      const backend = await this.#backend(settings.backend);
      const bucket = settings.bucket ?? name;
      await backend.open(bucket);
      return new HostResource(STORE, 'bucket', { backend, name: bucket } satisfies Bucket);
    });
  }

  #backend(spec: BackendSpec): Promise<KeyValueBackend> {
    const key = JSON.stringify(spec);
    const existing = this.#backends.get(key);
    if (existing !== undefined) return existing;
    const created = createKeyValueBackend(spec, {
      lattice: this.#lattice,
      limits: this.#context.limits,
      logger: this.#context.logger,
    });
    this.#backends.set(key, created);
    created.catch(() => this.#backends.delete(key));
    return created;
  }

  async shutdown(): Promise<void> {
    for (const sub of this.#served) sub.unsubscribe();
    const backends = [...this.#backends.values()];
    this.#backends.clear();
    await Promise.all(backends.map(async (b) => (await b.catch(() => undefined))?.close()));
  }
}

/** A key-value provider that reads link and provider config its own way. */
export function createKeyValueProvider(options: KeyValueProviderOptions): BuiltinProvider {
  return {
    name: options.name,
    async start(context) {
      return new KeyValueProvider(context, options.settings);
    },
  };
}

/** The built-in's own keys: a link that names its `backend` uses its own config alone. */
function ownSettings(linkConfig: StringMap, providerConfig: StringMap): LinkSettings {
  const config = linkConfig['backend'] !== undefined ? linkConfig : { ...providerConfig, ...linkConfig };
  return { backend: backendSpec(config) };
}

export const keyValueProvider: BuiltinProvider = createKeyValueProvider({
  name: 'Key-Value',
  settings: ownSettings,
});
