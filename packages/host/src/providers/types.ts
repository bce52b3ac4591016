import type { Limits, Link, Logger, StringMap } from '@cirrus/protocol';
import type { HttpBody, HttpRequestHead, HttpResponseSink } from '@cirrus/runtime';

/** A link as a provider receives it: named config resolved into merged maps. */
export interface ResolvedLink extends Omit<Link, 'source_config' | 'target_config'> {
  source_config: StringMap;
  target_config: StringMap;
}

/** How providers call components; the host picks the path (in-process here, wRPC across hosts). */
export interface ComponentCalls {
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
  lattice: string;
  /** The provider's merged named config. */
  config: StringMap;
  logger: Logger;
  limits: Limits;
  components: ComponentCalls;
}

/**
 * A capability provider, the same contract as the 1.x provider SDK: links arrive (and leave) with the
 * provider as their source or target, config may change, and shutdown drains.
 */
export interface CapabilityProvider {
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
