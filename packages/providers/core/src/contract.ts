import type { LatticeConnection, WrpcServeOptions } from '@cirrus/lattice';
import type { Limits, Link, Logger, StringMap } from '@cirrus/protocol';
import type { HttpBody, HttpRequestHead, HttpResponseSink, ImportCall } from '@cirrus/runtime';

/** A link as a provider receives it: named config resolved into merged maps. */
export interface ResolvedLink extends Omit<Link, 'source_config' | 'target_config'> {
  source_config: StringMap;
  target_config: StringMap;
}

/** How providers call components; the host picks the path (in-process here, wRPC across hosts). */
export interface ComponentCalls {
  /**
   * Calls `fn` (kebab-case) of an interface `componentId` exports, with values as jco represents
   * them; the `err` case of a `result` resolves as `{ tag: 'err', val }`.
   */
  invoke(componentId: string, exportInterface: string, fn: string, args: unknown[]): Promise<unknown>;
  handleHttp(
    componentId: string,
    head: HttpRequestHead,
    body: HttpBody,
    sink: HttpResponseSink,
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
   * The cluster keys whose hosts' invocations are accepted, when the host requires signed
   * invocations: provider processes get them as HostData `cluster_issuers` and check for themselves.
   */
  clusterIssuers?: readonly string[];
  /** Aborted when the host stops before the start has finished: end whatever the start waits for. */
  signal?: AbortSignal;
}

/**
 * A capability provider, the same contract as the 1.x provider SDK: links arrive (and leave) with the
 * provider as their source or target, config may change, and shutdown drains.
 */
/** Who makes a linked import call: the calling component and the link it resolved through. */
export interface ImportSource {
  sourceId: string;
  linkName: string;
  /** The calling component's merged named config (what wasi:config serves). */
  componentConfig(): Promise<StringMap>;
}

export interface CapabilityProvider {
  /**
   * Serves a component's call on an interface this provider is the link target for (wasi:keyvalue,
   * …). Values follow jco's conventions; return `HostResource`s for resources.
   */
  handleImport?(call: ImportCall, source: ImportSource): Promise<unknown>;
  receiveLinkAsSource?(link: ResolvedLink): Promise<void>;
  receiveLinkAsTarget?(link: ResolvedLink): Promise<void>;
  deleteLinkAsSource?(link: ResolvedLink): Promise<void>;
  deleteLinkAsTarget?(link: ResolvedLink): Promise<void>;
  updateConfig?(config: StringMap): Promise<void>;
  shutdown(): Promise<void>;
}

export interface BuiltinProvider {
  /** Human name reported in the inventory. */
  name: string;
  start(context: ProviderContext): Promise<CapabilityProvider>;
}
