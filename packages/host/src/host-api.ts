/**
 * What a running host offers: the operations the control interface and `cirrus up` drive. Its own
 * module, so that what drives a host does not import what builds one.
 */
import type { HostInventory, HostMetrics, Link, RegistryCredential, StringMap } from '@cirrus/protocol';
import type { ScaleComponentCommand, UpdateComponentCommand } from './components.ts';
import type { LinkDeletion } from './lattice-state.ts';
import type { StartProviderCommand } from './providers/manager.ts';

export interface HostStopOptions {
  /**
   * Milliseconds workloads get to stop gracefully (a `host.stop` request's `timeout`); past it the host
   * stops waiting for them, closes the runtime and reports `host_stopped`. Default: wait until done.
   */
  timeoutMs?: number;
}

export interface Host {
  readonly id: string;
  readonly friendlyName: string;
  readonly latticeName: string;
  labels(): StringMap;
  inventory(): HostInventory;
  /** This host's counters and gauges now (see docs/observability.md). */
  metrics(): HostMetrics;
  scaleComponent(command: ScaleComponentCommand): Promise<void>;
  updateComponent(command: UpdateComponentCommand): Promise<void>;
  startProvider(command: StartProviderCommand): Promise<void>;
  stopProvider(providerId: string): Promise<void>;
  /** Validates and stores a link (1.x shape); resolves once this host routes by it. */
  putLink(link: unknown): Promise<void>;
  deleteLink(target: LinkDeletionTarget): Promise<void>;
  links(): Link[];
  /** Claims stored in the lattice (`CLAIMS_*`), flat as `claims.get` replies with them. */
  claims(): StringMap[];
  /** Whether a provider with this id runs here or is starting. */
  hasProvider(providerId: string): boolean;
  putConfig(name: string, values: unknown): Promise<void>;
  getConfig(name: string): Promise<StringMap | undefined>;
  deleteConfig(name: string): Promise<void>;
  putLabel(key: string, value: string): void;
  deleteLabel(key: string): boolean;
  /** Registry credentials from `registry.put`, merged over earlier ones. Never logged. */
  putRegistryCredentials(credentials: Readonly<Record<string, RegistryCredential>>): void;
  /** Stops the control interface, then workloads gracefully, and publishes `host_stopped`. */
  stop(options?: HostStopOptions): Promise<void>;
  /**
   * For a host about to vanish (a browser tab closing): publishes `host_stopped` and hands it to the
   * connection's socket before returning, then stops as far as the time left allows.
   */
  stopNow(): void;
  /** Resolves when the host has stopped. */
  readonly stopped: Promise<void>;
}

export type LinkDeletionTarget = Partial<LinkDeletion> &
  Pick<LinkDeletion, 'source_id' | 'wit_namespace' | 'wit_package'>;
