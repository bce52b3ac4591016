/**
 * A started host: what the control interface and `cirrus up` drive. It holds the host's own state
 * (identity, labels, registry credentials, heartbeat) and hands the workload operations to the
 * component and provider managers; every change is published as a 1.x event.
 */
import {
  assertValidId,
  describeError,
  HostStoppedError,
  humanUptime,
  InvalidLabelError,
  parseConfigValues,
  parseLink,
  unrefTimer,
} from '@cirrus/protocol';
import type {
  HostInventory,
  HostMetrics,
  Link,
  Logger,
  RegistryCredential,
  StringMap,
} from '@cirrus/protocol';
import type { LatticeConnection } from '@cirrus/lattice';
import type { ComponentRuntime } from '@cirrus/runtime';
import type { ComponentManager, ScaleComponentCommand, UpdateComponentCommand } from './components.ts';
import type { Host, HostStopOptions, LinkDeletionTarget } from './host-api.ts';
import type { HostIdentity } from './identity.ts';
import type { LatticeState, LinkDeletion } from './lattice-state.ts';
import type { HostMetricsRecorder } from './metrics.ts';
import type { PolicyClient } from './policy.ts';
import type { Clock, EventSink } from './ports.ts';
import type { ProviderManager, StartProviderCommand } from './providers/manager.ts';
import { VERSION } from './version.ts';

export interface RunningHostParts {
  identity: HostIdentity;
  latticeName: string;
  labels: StringMap;
  state: LatticeState;
  events: EventSink;
  components: ComponentManager;
  providers: ProviderManager;
  /** Closed when the host stops, when the host created it. */
  ownedRuntime: ComponentRuntime | undefined;
  policy: PolicyClient | undefined;
  metrics: HostMetricsRecorder;
  /** Flushed when the host stops, so `host_stopped` leaves before the connections close. */
  connections: readonly LatticeConnection[];
  clock: Clock;
  logger: Logger;
  /** Interval of `host_heartbeat` events; 0 disables them. */
  heartbeatMs: number;
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,252}$/;

export function checkLabelKey(key: string): void {
  if (typeof key !== 'string' || !LABEL_KEY.test(key)) {
    throw new InvalidLabelError(`label key ${JSON.stringify(key)} is not valid`, {
      hint: 'use letters, digits, ".", "_", "/" and "-", e.g. zone or app.kubernetes.io/name',
    });
  }
  if (key.toLowerCase().startsWith('hostcore.')) {
    throw new InvalidLabelError(`label ${key} is reserved`, {
      hint: 'hostcore.* labels are set by the host itself',
    });
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class RunningHost implements Host {
  readonly id: string;
  readonly friendlyName: string;
  readonly latticeName: string;
  readonly stopped: Promise<void>;
  readonly #parts: RunningHostParts;
  readonly #labels: StringMap;
  readonly #startedAt: number;
  /** Kept for fetching from private registries; only the registry names are ever logged. */
  readonly #registryCredentials = new Map<string, RegistryCredential>();
  readonly #heartbeat: NodeJS.Timeout | undefined;
  /** What else stops with the host (the control interface, the status log), first. */
  readonly #onStop: (() => void)[] = [];
  #stopping: Promise<void> | undefined;
  /** `host_stopped` went out already (stopNow). */
  #announcedStop = false;
  #resolveStopped!: () => void;

  constructor(parts: RunningHostParts) {
    this.#parts = parts;
    this.id = parts.identity.id;
    this.friendlyName = parts.identity.friendlyName;
    this.latticeName = parts.latticeName;
    this.#labels = parts.labels;
    this.#startedAt = parts.clock.monotonicMs();
    this.stopped = new Promise<void>((resolve) => (this.#resolveStopped = resolve));
    this.#heartbeat =
      parts.heartbeatMs > 0
        ? setInterval(() => parts.events.publish('host_heartbeat', this.inventory()), parts.heartbeatMs)
        : undefined;
    unrefTimer(this.#heartbeat);
  }

  /** Runs `stop` first when the host stops. */
  onStop(stop: () => void): void {
    this.#onStop.push(stop);
  }

  labels(): StringMap {
    return { ...this.#labels };
  }

  inventory(): HostInventory {
    const uptime = Math.floor((this.#parts.clock.monotonicMs() - this.#startedAt) / 1000);
    return {
      host_id: this.id,
      friendly_name: this.friendlyName,
      version: VERSION,
      labels: { ...this.#labels },
      uptime_seconds: uptime,
      uptime_human: humanUptime(uptime),
      components: this.#parts.components.describe(),
      providers: this.#parts.providers.describe(),
    };
  }

  metrics(): HostMetrics {
    return this.#parts.metrics.snapshot();
  }

  async scaleComponent(command: ScaleComponentCommand): Promise<void> {
    this.#assertRunning();
    await this.#parts.components.scale(command);
  }

  async updateComponent(command: UpdateComponentCommand): Promise<void> {
    this.#assertRunning();
    await this.#parts.components.update(command);
  }

  async startProvider(command: StartProviderCommand): Promise<void> {
    this.#assertRunning();
    await this.#parts.providers.start(command);
  }

  async stopProvider(providerId: string): Promise<void> {
    this.#assertRunning();
    await this.#parts.providers.stop(providerId);
  }

  async putLink(input: unknown): Promise<void> {
    this.#assertRunning();
    const { state, events } = this.#parts;
    const link = parseLink(input);
    let applied: Promise<void>;
    try {
      ({ applied } = await state.putLink(link));
    } catch (err) {
      events.publish('linkdef_set_failed', { ...link, error: describeError(err) });
      throw err;
    }
    events.publish('linkdef_set', link);
    await applied;
  }

  async deleteLink(target: LinkDeletionTarget): Promise<void> {
    await this.removeLink(target);
  }

  /** Deletes a link; false when its source has no spec at all (then nothing is written or announced). */
  async removeLink(target: LinkDeletionTarget): Promise<boolean> {
    this.#assertRunning();
    const deletion: LinkDeletion = {
      source_id: assertValidId('source_id', target.source_id),
      name: target.name ?? 'default',
      wit_namespace: target.wit_namespace,
      wit_package: target.wit_package,
    };
    const outcome = await this.#parts.state.deleteLink(deletion);
    if (!outcome.specExisted) return false;
    const removed = outcome.removed;
    this.#parts.events.publish(
      'linkdef_deleted',
      removed === undefined
        ? deletion
        : { ...deletion, target: removed.target, interfaces: removed.interfaces },
    );
    return true;
  }

  links(): Link[] {
    return this.#parts.state.links();
  }

  claims(): StringMap[] {
    return this.#parts.state.claims();
  }

  hasProvider(providerId: string): boolean {
    return this.#parts.providers.has(providerId);
  }

  async putConfig(name: string, values: unknown): Promise<void> {
    this.#assertRunning();
    const configName = assertValidId('config name', name);
    await this.#parts.state.putConfig(configName, parseConfigValues(values));
    this.#parts.events.publish('config_set', { config_name: configName });
  }

  getConfig(name: string): Promise<StringMap | undefined> {
    return this.#parts.state.getConfig(assertValidId('config name', name));
  }

  async deleteConfig(name: string): Promise<void> {
    this.#assertRunning();
    const configName = assertValidId('config name', name);
    await this.#parts.state.deleteConfig(configName);
    this.#parts.events.publish('config_deleted', { config_name: configName });
  }

  putLabel(key: string, value: string): void {
    checkLabelKey(key);
    if (typeof value !== 'string') throw new InvalidLabelError(`label ${key} needs a string value`);
    if (this.#labels[key] === value) return;
    this.#labels[key] = value;
    this.#parts.events.publish('labels_changed', { host_id: this.id, labels: { ...this.#labels } });
  }

  deleteLabel(key: string): boolean {
    checkLabelKey(key);
    if (!(key in this.#labels)) return false;
    delete this.#labels[key];
    this.#parts.events.publish('labels_changed', { host_id: this.id, labels: { ...this.#labels } });
    return true;
  }

  putRegistryCredentials(credentials: Readonly<Record<string, RegistryCredential>>): void {
    for (const [registry, credential] of Object.entries(credentials)) {
      this.#registryCredentials.set(registry, { ...credential });
    }
    this.#parts.logger.info('registry credentials updated', { registries: Object.keys(credentials) });
  }

  stopNow(): void {
    if (this.#stopping !== undefined) return;
    const { events, connections } = this.#parts;
    clearInterval(this.#heartbeat);
    for (const stop of this.#onStop.splice(0)) stop();
    events.publish('host_stopped', { labels: { ...this.#labels } });
    this.#announcedStop = true;
    // Flushing hands the event to the socket at once; the rest of the stop runs as far as it gets.
    for (const connection of connections) connection.flush().catch(() => undefined);
    void this.stop({ timeoutMs: 0 });
  }

  stop(stopOptions: HostStopOptions = {}): Promise<void> {
    this.#stopping ??= (async () => {
      const { providers, components, policy, state, ownedRuntime, events, connections, logger } = this.#parts;
      clearInterval(this.#heartbeat);
      // No new control requests once stopping; requests already in flight get HOST_STOPPED.
      for (const stop of this.#onStop) stop();
      logger.info('host stopping');
      const workloads = (async () => {
        await providers.stopAll();
        await components.stopAll();
      })();
      await withinGrace(workloads, stopOptions.timeoutMs, logger);
      policy?.close();
      state.close();
      await ownedRuntime?.close();
      if (!this.#announcedStop) events.publish('host_stopped', { labels: { ...this.#labels } });
      await Promise.all(connections.map((c) => c.flush())).catch(() => undefined);
      logger.info('host stopped');
      this.#resolveStopped();
    })();
    return this.#stopping;
  }

  #assertRunning(): void {
    if (this.#stopping !== undefined) {
      throw new HostStoppedError('the host is stopping', { hint: 'start a new host' });
    }
  }
}

/**
 * Waits for `work`, or only until `timeoutMs` has passed; after that a late failure of `work` is
 * logged instead of becoming an unhandled rejection.
 */
async function withinGrace(
  work: Promise<void>,
  timeoutMs: number | undefined,
  logger: Logger,
): Promise<void> {
  // Node fires longer timers at once; a deadline that far away means "wait until done".
  if (timeoutMs === undefined || timeoutMs > MAX_TIMER_MS) return work;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), timeoutMs);
  });
  try {
    if ((await Promise.race([work.then(() => 'done' as const), expired])) === 'expired') {
      logger.warn('workloads did not stop in time; stopping without them', { timeout_ms: timeoutMs });
      void work.catch((err: unknown) =>
        logger.warn('workload failed to stop after the host stopped', { error: describeError(err) }),
      );
    }
  } finally {
    clearTimeout(timer);
  }
}
