/**
 * What runs on this host, as the call path sees it: the components and providers a call can reach
 * without leaving the process. The component and provider managers keep it current; the call path
 * only reads it. It is its own object so that the call path needs neither manager, and the managers
 * can be handed the call path.
 */
import type { StringMap } from '@cirrus/protocol';
import type { CapabilityProvider } from '@cirrus/provider-core';
import type { ComponentPool } from '@cirrus/runtime';

export interface LocalComponent {
  readonly id: string;
  imageRef: string;
  pool: ComponentPool;
  maxInstances: number;
  annotations: StringMap;
  /** Named config merged into the component's environment, in order. */
  config: string[];
  /** Stops serving the component's exports to other hosts. */
  unserve: () => void;
}

export interface LocalProvider {
  readonly id: string;
  readonly ref: string;
  /** Human name reported in the inventory. */
  readonly name: string;
  readonly provider: CapabilityProvider;
  readonly annotations: StringMap;
  readonly config: string[];
  /** Stops serving the provider's exports to other hosts. */
  readonly unserve: () => void;
}

export class LocalTargets {
  readonly components = new Map<string, LocalComponent>();
  readonly providers = new Map<string, LocalProvider>();
  /**
   * Lifecycle work in progress per component id (a start, an update): settles when it is done, so a
   * call that arrives while its component starts waits for it instead of failing.
   */
  readonly componentWork = new Map<string, Promise<unknown>>();

  /** The component `id` running here, once any start in progress has finished; undefined if none. */
  async component(id: string): Promise<LocalComponent | undefined> {
    const running = this.components.get(id);
    if (running !== undefined) return running;
    const work = this.componentWork.get(id);
    if (work === undefined) return undefined;
    await work;
    return this.components.get(id);
  }

  /** Whether `id` runs here or is being started. */
  hasComponent(id: string): boolean {
    return this.components.has(id) || this.componentWork.has(id);
  }
}
