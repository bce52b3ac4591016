/** The contract between a host and the capability providers it runs: what each side offers the other. */
import type { LatticeConnection, WrpcServeOptions } from '@cirrus/lattice';
import type { Limits, Link, Logger, StringMap, WitFunction } from '@cirrus/protocol';
import type { HttpBody, HttpRequestHead, HttpResponseSink, ImportCall } from '@cirrus/runtime';
import type { CrossHostOptions } from './wire.ts';

/** A link as a provider receives it: named config resolved into merged maps. */
export interface ResolvedLink extends Omit<Link, 'source_config' | 'target_config'> {
  source_config: StringMap;
  target_config: StringMap;
}

/**
 * Where a call to a component that runs on another host goes, and how its values are typed on the
 * wire: without it such a call fails with COMPONENT_NOT_RUNNING.
 */
export interface RemoteExport {
  /** The wRPC instance invoked, e.g. `wasmcloud:messaging/handler@0.2.0`. */
  instance: string;
  fn: WitFunction;
}

/** How providers call components; the host picks the path (in-process here, wRPC across hosts). */
export interface ComponentCalls {
  /**
   * Calls `fn` (kebab-case) of an interface `componentId` exports, with values as jco represents
   * them; the `err` case of a `result` resolves as `{ tag: 'err', val }`.
   */
  invoke(
    componentId: string,
    exportInterface: string,
    fn: string,
    args: unknown[],
    remote?: RemoteExport,
  ): Promise<unknown>;
  /**
   * Serves one request with the component, on this host or another. `signal` tells that the client
   * went away: a request to another host is abandoned there too.
   */
  handleHttp(
    componentId: string,
    head: HttpRequestHead,
    body: HttpBody,
    sink: HttpResponseSink,
    signal?: AbortSignal,
  ): Promise<void>;
}

export interface ProviderContext {
  providerId: string;
  hostId: string;
  /** The lattice name. */
  lattice: string;
  /** The host's lattice connection. */
  connection: LatticeConnection;
  /** The provider's merged named config. */
  config: StringMap;
  logger: Logger;
  limits: Limits;
  components: ComponentCalls;
  /**
   * Hand to `wrpcServe` as its `verify` when serving over wRPC: set when the host requires signed
   * invocations.
   */
  verifyInvocation?: WrpcServeOptions['verify'];
  /**
   * Hand to `wrpcServe` as its `observe`: the host counts and traces what the provider serves over
   * wRPC as it does the calls made to it on this host.
   */
  observe?: WrpcServeOptions['observe'];
  /**
   * The cluster keys whose hosts' invocations are accepted, when the host requires signed
   * invocations: provider processes get them as HostData `cluster_issuers` and check for themselves.
   */
  clusterIssuers?: readonly string[];
  /** Aborted when the host stops before the start has finished: end whatever the start waits for. */
  signal?: AbortSignal;
}

/** Who makes a call to a provider: the calling component and the link it resolved through. */
export interface CallSource {
  sourceId: string;
  linkName: string;
}

/** A component's call as a built-in provider serves it. */
export interface ImportSource extends CallSource {
  /** The calling component's merged named config (what wasi:config serves). */
  componentConfig(): Promise<StringMap>;
  /**
   * Identifies the guest call (an HTTP request, an export call) this import call happens in, unique
   * within the process; state a guest sets for "the rest of this call" is keyed by it.
   */
  invocation: number;
}

/**
 * One function of an exported interface, called with what the call carries (`ctx`) and the
 * arguments in jco's value mapping; a method of a resource gets the resource it was called on as its
 * first argument. It returns the result value (nothing for a function without results).
 */
export type ExportHandler<Ctx> = (ctx: Ctx, ...args: never[]) => unknown;

/**
 * What a provider serves: handlers by interface, then by function as WIT names it on the wire
 * (`open`; `bucket.get` for the method `get` of resource `bucket`; `bucket` for its constructor).
 * Built-in providers key interfaces without version (`wasi:keyvalue/store`); provider processes key
 * them by the instance they serve over wRPC (`example:greeter/greet@0.1.0`).
 */
export type ExportHandlers<Ctx> = Readonly<Record<string, Readonly<Record<string, ExportHandler<Ctx>>>>>;

/**
 * A capability provider, the same contract as the 1.x provider SDK: it serves the interfaces of
 * `exports` to linked components, links arrive (and leave) with the provider as their source or
 * target, config may change, and shutdown drains.
 */
export interface CapabilityProvider {
  /** The interfaces components reach through a link to this provider; values follow jco's mapping. */
  readonly exports?: ExportHandlers<ImportSource>;
  /**
   * WIT of the exported interfaces that components on other hosts reach over wRPC, under their own
   * names (a package header and its interfaces). The host serves each declared interface's functions
   * with the handlers of `exports`; interfaces it does not declare are served on this host only.
   */
  readonly wit?: string;
  receiveLinkAsSource?(link: ResolvedLink): Promise<void>;
  receiveLinkAsTarget?(link: ResolvedLink): Promise<void>;
  deleteLinkAsSource?(link: ResolvedLink): Promise<void>;
  deleteLinkAsTarget?(link: ResolvedLink): Promise<void>;
  updateConfig?(config: StringMap): Promise<void>;
  shutdown(): Promise<void>;
}

/** The name of the handler an import call runs: `open`, `bucket.get` (a method), `bucket` (a constructor). */
export function exportFunctionName(call: { fn: string; resource?: string | undefined }): string {
  if (call.resource === undefined) return call.fn;
  return call.fn === '[constructor]' ? call.resource : `${call.resource}.${call.fn}`;
}

export interface BuiltinProvider {
  /** Human name reported in the inventory. */
  name: string;
  start(context: ProviderContext): Promise<CapabilityProvider>;
}

/**
 * How a component's calls on some interfaces travel to a provider on another host when the wire
 * form differs from the interface itself (§4.5): wasi:keyvalue goes out as wrpc:keyvalue with a
 * bucket as its name, wasi:blobstore as wrpc:blobstore, wasi:http/outgoing-handler as
 * wrpc:http/outgoing-handler. The provider serving those interfaces serves their wire form itself,
 * on the host it runs on (`providerServeOptions`). Interfaces without a binding travel as
 * themselves, typed by the caller's WIT.
 */
export interface WireBinding {
  /** Unversioned interfaces the binding carries, e.g. `wasi:keyvalue/store`. */
  readonly interfaces: readonly string[];
  /** Makes the call on `targetId`, elsewhere in the lattice. */
  invoke(options: CrossHostOptions, targetId: string, call: ImportCall, source: CallSource): Promise<unknown>;
}
