/**
 * The component runtime: load → verify → transpile (cached) → compile (once per digest, in memory)
 * → pools of warm instances in workers, which a component's instances share when its imports let
 * them (worker-thread.ts). It knows nothing about lattices or hosts, and nothing about the platform:
 * where bytes come from, how a component is transpiled and cached, and what a worker is come in as a
 * RuntimePlatform (node-runtime.ts for Node, browser/ for a browser tab).
 */
import {
  DEFAULT_LIMITS,
  describeError,
  ExportNotFoundError,
  ResourceNotRoutableError,
  UnsupportedImportError,
  verifyComponentClaims,
} from '@cirrus/protocol';
import type { Limits, Logger, WascapClaims } from '@cirrus/protocol';
import { findCustomSection, silentLogger, SOURCE_MAP_SECTION, webCryptoBytes } from '@cirrus/protocol';
import { decodeComponentInterfaces } from './component-types.ts';
import { callName, callOwner, ExportedResource } from './exported-resource.ts';
import type { ExportCall } from './exported-resource.ts';
import type { ComponentInterfaces } from './component-types.ts';
import type { HttpBody, HttpRequestHead, HttpResponseSink } from './http-types.ts';
import type { ImportHandler } from './import-calls.ts';
import { WorkerInstance } from './instance.ts';
import { InstancePool } from './pool.ts';
import type { PoolStats } from './pool.ts';
import type { Transpiled } from './transpile.ts';
import { WorkerThreads } from './worker-thread.ts';
import type { SpawnWorker } from './worker-thread.ts';
import { assertComponent, capModuleMemory } from './wasm-binary.ts';
import { SUPPORTED_IMPORTS, unversioned } from './wasi/supported.ts';
import type { SourceLocator } from './source-map.ts';

export interface RuntimeOptions {
  /** Where transpiled components and compile caches live (default `~/.cache/cirrus`); Node only. */
  cacheDir?: string;
  limits?: Limits;
  logger?: Logger;
}

/** A component's bytes, as fetched. */
export interface Artifact {
  /** The reference as given. */
  ref: string;
  bytes: Uint8Array;
  /** `sha256:<hex>` of the bytes. */
  digest: string;
}

export interface ArtifactLoadOptions {
  maxBytes: number;
  fetchTimeoutMs: number;
  allowFileLoad: boolean;
  signal?: AbortSignal | undefined;
}

/** What the runtime needs of the platform it runs on. */
export interface RuntimePlatform {
  loadArtifact(ref: string, options: ArtifactLoadOptions): Promise<Artifact>;
  /** jco's bindings and core modules for a component, from a cache when it has them. */
  transpile(bytes: Uint8Array, digest: string): Promise<Transpiled>;
  spawnWorker: SpawnWorker;
  /** Shared workers to spread instances over when `runtimeWorkers` is 0. */
  parallelism: number;
  /** Where workers keep V8's compile cache, asked at each start; undefined for none. */
  compileCacheDir(): string | undefined;
  sourceLocator(section: Uint8Array | undefined): SourceLocator | undefined;
  /** Captures the caller's async context, so what a call's imports do runs in it (traces). */
  snapshotContext(): <R>(fn: () => R) => R;
}

export interface LoadComponentOptions {
  allowFileLoad: boolean;
  /** Refuse components without claims (CLAIMS_REQUIRED). */
  requireSigned?: boolean;
  /** When given, only components signed by these accounts (`A…`) load. */
  allowedIssuers?: readonly string[];
  /** The time claims' `exp` and `nbf` are judged by (default: now). */
  now?: Date;
  /** Abandons a download in progress (a host that stops while the component loads). */
  signal?: AbortSignal;
}

/** A component ready to be instantiated: verified, transpiled and compiled. */
export interface PreparedComponent {
  readonly ref: string;
  readonly digest: string;
  readonly sizeBytes: number;
  /** Unversioned interfaces the component imports. */
  readonly imports: readonly string[];
  /** The imports the host serves through links rather than the worker's WASI. */
  readonly linkedImports: readonly string[];
  readonly exports: readonly string[];
  /** The wasi:http incoming-handler export (e.g. `wasi:http/incoming-handler@0.2.12`), if any. */
  readonly httpExport: string | undefined;
  /**
   * WIT types of the interfaces imported and exported, for calls that cross hosts; empty maps when
   * the binary's types could not be decoded (the component still runs, its calls stay on this host).
   */
  readonly interfaces: ComponentInterfaces;
  readonly fromCache: boolean;
  /** The verified claims embedded in the binary; undefined when it is unsigned. */
  readonly claims: WascapClaims | undefined;
}

export interface PoolConfig {
  componentId: string;
  maxInstances: number;
  /** Environment variables the component sees through wasi:cli/environment. */
  environment?: Record<string, string>;
  logger?: Logger;
  /** Overrides the runtime's invocation deadline for this component. */
  invocationTimeoutMs?: number;
  /** Serves the component's linked imports (see `PreparedComponent.linkedImports`). */
  imports?: ImportHandler;
}

export interface CallOptions {
  deadlineMs?: number;
}

/** A constructor (`[constructor]`), static function or method of a resource an exported interface defines. */
export interface ResourceCall {
  /** The resource type's WIT name, e.g. `counter`. */
  resource: string;
  /** WIT name, kebab-case. */
  fn: string;
  /** The receiver of a method: the ExportedResource a call of this component returned. */
  self?: unknown;
  args: unknown[];
}

export interface ComponentPool {
  readonly componentId: string;
  readonly component: PreparedComponent;
  /** Starts the first instance; rejects with the instantiation error if the component cannot run. */
  warm(): Promise<void>;
  handleHttp(
    head: HttpRequestHead,
    body: HttpBody,
    sink: HttpResponseSink,
    options?: CallOptions,
  ): Promise<void>;
  /**
   * Calls `fn` (kebab-case) of an exported interface (unversioned, e.g. `example:greeter/greet`) on
   * a warm instance, with values as jco represents them; the `err` of a `result` comes back as
   * `{ tag: 'err', val }`. Resources it returns stay in the instance that made them and come back as
   * ExportedResources, which the caller passes to later calls and disposes when done; a call passed
   * one runs in the instance that holds it.
   */
  invoke(exportInterface: string, fn: string, args: unknown[], options?: CallOptions): Promise<unknown>;
  /** Calls a constructor, static function or method of a resource, like `invoke`. */
  invokeResource(exportInterface: string, call: ResourceCall, options?: CallOptions): Promise<unknown>;
  setMaxInstances(max: number): void;
  readonly stats: PoolStats;
  /** Stops the component; calls in flight may finish for up to `drainMs`. */
  close(drainMs?: number): Promise<void>;
}

/** The runtime's worker threads: instances on each shared thread, and threads of one instance. */
export interface WorkerStats {
  shared: number[];
  dedicated: number;
}

export interface ComponentRuntime {
  load(ref: string, options: LoadComponentOptions): Promise<PreparedComponent>;
  createPool(component: PreparedComponent, config: PoolConfig): ComponentPool;
  /**
   * Keeps `runtimeSpareWorkers` empty worker threads started from now on, so that scaling a
   * component up from zero skips a thread's start. A host calls it once it runs.
   */
  standBy(): void;
  readonly workerStats: WorkerStats;
  close(): Promise<void>;
}

interface Compiled {
  prepared: Omit<PreparedComponent, 'claims'>;
  bindings: string;
  coreModules: Record<string, WebAssembly.Module>;
  locateSource: SourceLocator | undefined;
}

export function createRuntime(options: RuntimeOptions, platform: RuntimePlatform): ComponentRuntime {
  return new Runtime(options, platform);
}

class Runtime implements ComponentRuntime {
  readonly #platform: RuntimePlatform;
  readonly #limits: Limits;
  readonly #logger: Logger;
  readonly #compiled = new Map<string, Promise<Compiled>>();
  readonly #byPrepared = new WeakMap<PreparedComponent, Compiled>();
  readonly #pools = new Set<ComponentPool>();
  readonly #threads: WorkerThreads;

  constructor(options: RuntimeOptions, platform: RuntimePlatform) {
    this.#platform = platform;
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#logger = options.logger ?? silentLogger;
    this.#threads = new WorkerThreads({
      spawn: platform.spawnWorker,
      workers: this.#limits.runtimeWorkers > 0 ? this.#limits.runtimeWorkers : platform.parallelism,
      instancesPerWorker: this.#limits.workerInstancesMax,
      spares: this.#limits.runtimeSpareWorkers,
      heapMaxBytes: this.#limits.instanceHeapMaxBytes,
      linearMemoryMaxBytes: this.#limits.instanceMemoryMaxBytes,
      logger: this.#logger,
    });
  }

  get workerStats(): WorkerStats {
    return this.#threads.stats;
  }

  standBy(): void {
    this.#threads.standBy(() => this.#platform.compileCacheDir());
  }

  async load(ref: string, options: LoadComponentOptions): Promise<PreparedComponent> {
    const artifact = await this.#platform.loadArtifact(ref, {
      maxBytes: this.#limits.componentMaxBytes,
      fetchTimeoutMs: this.#limits.componentFetchTimeoutMs,
      allowFileLoad: options.allowFileLoad,
      signal: options.signal,
    });
    assertComponent(artifact.bytes, ref);
    // On every load, not once per digest: whether claims pass depends on the time and the host's settings.
    const claims = await verifyComponentClaims(artifact.bytes, {
      requireSigned: options.requireSigned,
      allowedIssuers: options.allowedIssuers,
      now: options.now,
      what: ref,
    });
    let compiled = this.#compiled.get(artifact.digest);
    if (compiled === undefined) {
      compiled = this.#compile(ref, artifact.bytes, artifact.digest);
      this.#compiled.set(artifact.digest, compiled);
      compiled.catch(() => this.#compiled.delete(artifact.digest));
    }
    const result = await compiled;
    const prepared: PreparedComponent = { ...result.prepared, ref, claims };
    this.#byPrepared.set(prepared, result);
    return prepared;
  }

  async #compile(ref: string, bytes: Uint8Array, digest: string): Promise<Compiled> {
    const started = performance.now();
    const transpiled = await this.#platform.transpile(bytes, digest);
    // Interfaces the worker's WASI does not implement are served by the host through links; a bare
    // function imported at the top level of the world has no interface to link, so nothing can serve it.
    const unsupported = transpiled.imports.filter(
      (name) => !SUPPORTED_IMPORTS.has(name) && !isInterface(name),
    );
    if (unsupported.length > 0) {
      throw new UnsupportedImportError(
        `${ref} imports ${unsupported.join(', ')}, which this host cannot provide`,
        {
          hint: 'import functions through an interface (ns:package/interface) that a link can serve',
          details: { imports: unsupported },
        },
      );
    }
    const coreModules: Record<string, WebAssembly.Module> = {};
    await Promise.all(
      transpiled.coreModules.map(async ({ name, bytes: raw }) => {
        const capped = capModuleMemory(raw, this.#limits.instanceMemoryMaxBytes, `${ref} (${name})`);
        coreModules[name] = await WebAssembly.compile(webCryptoBytes(capped));
      }),
    );
    const httpExport = transpiled.exports.find((name) => name.startsWith('wasi:http/incoming-handler@0.2'));
    let interfaces: ComponentInterfaces;
    try {
      interfaces = decodeComponentInterfaces(bytes);
    } catch (err) {
      this.#logger.warn('component interface types not decoded; its calls cannot cross hosts', {
        ref,
        error: describeError(err),
      });
      interfaces = { imports: new Map(), exports: new Map() };
    }
    this.#logger.debug('component prepared', {
      ref,
      digest,
      transpiled: transpiled.fromCache ? 'cached' : 'fresh',
      ms: Math.round(performance.now() - started),
    });
    return {
      prepared: {
        ref,
        digest,
        sizeBytes: bytes.byteLength,
        imports: transpiled.imports,
        linkedImports: transpiled.imports.filter((name) => !SUPPORTED_IMPORTS.has(name)),
        exports: transpiled.exports,
        httpExport,
        interfaces,
        fromCache: transpiled.fromCache,
      },
      bindings: transpiled.bindings,
      coreModules,
      locateSource: this.#platform.sourceLocator(findCustomSection(bytes, SOURCE_MAP_SECTION)),
    };
  }

  createPool(component: PreparedComponent, config: PoolConfig): ComponentPool {
    const compiled = this.#byPrepared.get(component);
    if (compiled === undefined) throw new Error('createPool needs a component returned by load()');
    const logger = (config.logger ?? this.#logger).child({ component: config.componentId });
    const limits = this.#limits;
    const deadlineMs = config.invocationTimeoutMs ?? limits.invocationTimeoutMs;
    const init = {
      componentId: config.componentId,
      bindingsKey: component.digest,
      bindings: compiled.bindings,
      coreModules: compiled.coreModules,
      environment: Object.entries(config.environment ?? {}),
      httpExport: component.httpExport,
      logLineMaxBytes: limits.guestLogLineMaxBytes,
      responseWindowBytes: limits.httpResponseWindowBytes,
      outgoingBodyMaxBytes: limits.httpClientMaxRequestBodyBytes,
      linkedImports: [...component.linkedImports],
    };
    const platform = this.#platform;
    const threads = this.#threads;
    // A linked import blocks its thread until the host answers: such a component runs alone.
    const shares = component.linkedImports.length === 0;
    const instances = new InstancePool<WorkerInstance>({
      name: `component ${config.componentId}`,
      start: () =>
        WorkerInstance.start({
          // Asked at each start: a cache that stopped working is left alone by later workers.
          thread: shares
            ? threads.shared(platform.compileCacheDir(), config.componentId)
            : threads.dedicated(platform.compileCacheDir()),
          init,
          startTimeoutMs: limits.instanceStartTimeoutMs,
          logger,
          imports: config.imports,
          onLending: (instance, change) => instances.lendingChanged(instance, change),
          locateSource: compiled.locateSource,
          snapshotContext: () => platform.snapshotContext(),
        }),
      maxInstances: config.maxInstances,
      minWarm: 1,
      acquireTimeoutMs: limits.poolAcquireTimeoutMs,
      startTimeoutMs: limits.instanceStartTimeoutMs,
      maxWaiters: limits.poolMaxWaiters,
      maxCallsPerInstance: limits.instanceMaxCalls,
      onStartError: (err) => logger.error('instance failed to start', { error: String(err) }),
    });
    const call = async (exportInterface: string, exportCall: ExportCall, callDeadlineMs: number) => {
      const exportName = component.exports.find((name) => unversioned(name) === exportInterface);
      if (exportName === undefined) {
        throw new ExportNotFoundError(`${config.componentId} does not export ${exportInterface}`, {
          hint: `it exports: ${component.exports.join(', ') || 'nothing'}`,
        });
      }
      const what = callName(exportInterface, exportCall.fn, exportCall.resource);
      const held = callOwner(config.componentId, what, exportCall.self, exportCall.args);
      let instance: WorkerInstance;
      if (held === undefined) instance = await instances.acquire();
      else {
        try {
          instance = await instances.acquireInstance(held.owner as WorkerInstance);
        } catch (err) {
          // Ended while the call waited, or held by an instance this pool no longer runs.
          if (!held.live || !(held.owner as WorkerInstance).alive) throw held.lostError();
          throw err;
        }
      }
      try {
        return await instance.invoke(exportName, exportCall, callDeadlineMs);
      } finally {
        instances.release(instance);
      }
    };
    const pools = this.#pools;
    const pool: ComponentPool = {
      componentId: config.componentId,
      component,
      warm: () => instances.warm(),
      async handleHttp(head, body, sink, options = {}) {
        const instance = await instances.acquire();
        try {
          await instance.handleHttp(head, body, sink, options.deadlineMs ?? deadlineMs);
        } finally {
          instances.release(instance);
        }
      },
      invoke: (exportInterface, fn, args, options = {}) =>
        call(exportInterface, { fn, args }, options.deadlineMs ?? deadlineMs),
      invokeResource(exportInterface, { resource, fn, self, args }, options = {}) {
        if (self !== undefined && !(self instanceof ExportedResource)) {
          return Promise.reject(
            new ResourceNotRoutableError(
              `${callName(exportInterface, fn, resource)} of component ${config.componentId} was called on a resource it did not export`,
            ),
          );
        }
        return call(exportInterface, { resource, fn, self, args }, options.deadlineMs ?? deadlineMs);
      },
      setMaxInstances: (max) => instances.setMaxInstances(max),
      get stats() {
        return instances.stats;
      },
      async close(drainMs = 0) {
        pools.delete(pool);
        await instances.close(drainMs);
      },
    };
    pools.add(pool);
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools].map((p) => p.close()));
    await this.#threads.close();
  }
}

/** `ns:package/interface`, as opposed to a function imported at the top level of a world. */
function isInterface(name: string): boolean {
  return /^[a-z][a-z0-9-]*:[a-z][a-z0-9-]*\/[a-z][a-z0-9-]*$/.test(name);
}
