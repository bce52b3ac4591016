/**
 * A Cirrus host: identity, labels, inventory, components, providers, links and config on one
 * lattice. It talks to the world only through ports (lattice connection, runtime, clock, logger), so
 * the same core runs on the embedded lattice and on NATS.
 */
import {
  assertValidId,
  DEFAULT_LATTICE,
  DEFAULT_LIMITS,
  describeError,
  HostStoppedError,
  humanUptime,
  InvalidLabelError,
  parseConfigValues,
  parseLink,
  silentLogger,
} from '@cirrus/protocol';
import type { HostInventory, Limits, Link, Logger, StringMap } from '@cirrus/protocol';
import type { LatticeConnection } from '@cirrus/lattice';
import { createComponentRuntime } from '@cirrus/runtime';
import type { ComponentRuntime } from '@cirrus/runtime';
import { ComponentManager } from './components.ts';
import type { ScaleComponentCommand, UpdateComponentCommand } from './components.ts';
import { latticeEventSink } from './events.ts';
import { generateHostIdentity, hostcoreLabels } from './identity.ts';
import { LatticeState } from './lattice-state.ts';
import type { LinkDeletion } from './lattice-state.ts';
import { systemClock } from './ports.ts';
import type { Clock } from './ports.ts';
import { BUILTIN_PROVIDERS } from './providers/builtin.ts';
import { ProviderManager } from './providers/manager.ts';
import type { StartProviderCommand } from './providers/manager.ts';
import type { BuiltinProvider } from './providers/types.ts';
import { VERSION } from './version.ts';

export interface HostOptions {
  /** The lattice connection (embedded or NATS). */
  lattice: LatticeConnection;
  latticeName?: string;
  friendlyName?: string;
  /** User labels; `hostcore.*` labels are added by the host. */
  labels?: StringMap;
  runtime?: ComponentRuntime;
  /** Where compiled components are cached when the host creates its own runtime. */
  cacheDir?: string;
  limits?: Limits;
  logger?: Logger;
  clock?: Clock;
  /** Whether components may be loaded from local files (default false). */
  allowFileLoad?: boolean;
  /** Interval of `host_heartbeat` events (default 30 s; 0 disables). */
  heartbeatIntervalMs?: number;
  builtinProviders?: Readonly<Record<string, BuiltinProvider>>;
}

export interface Host {
  readonly id: string;
  readonly friendlyName: string;
  readonly latticeName: string;
  labels(): StringMap;
  inventory(): HostInventory;
  scaleComponent(command: ScaleComponentCommand): Promise<void>;
  updateComponent(command: UpdateComponentCommand): Promise<void>;
  startProvider(command: StartProviderCommand): Promise<void>;
  stopProvider(providerId: string): Promise<void>;
  /** Validates and stores a link (1.x shape); resolves once this host routes by it. */
  putLink(link: unknown): Promise<void>;
  deleteLink(
    target: Partial<LinkDeletion> & Pick<LinkDeletion, 'source_id' | 'wit_namespace' | 'wit_package'>,
  ): Promise<void>;
  links(): Link[];
  putConfig(name: string, values: unknown): Promise<void>;
  getConfig(name: string): Promise<StringMap | undefined>;
  deleteConfig(name: string): Promise<void>;
  putLabel(key: string, value: string): void;
  deleteLabel(key: string): boolean;
  /** Stops workloads gracefully and publishes `host_stopped`. */
  stop(): Promise<void>;
  /** Resolves when the host has stopped. */
  readonly stopped: Promise<void>;
}

const DEFAULT_HEARTBEAT_MS = 30_000;

export async function createHost(options: HostOptions): Promise<Host> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const baseLogger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const latticeName = assertValidId('lattice name', options.latticeName ?? DEFAULT_LATTICE);
  const identity = generateHostIdentity(options.friendlyName);
  const logger = baseLogger.child({ host: identity.friendlyName });
  const runtime = options.runtime ?? createComponentRuntime({ cacheDir: options.cacheDir, limits, logger });
  const ownsRuntime = options.runtime === undefined;
  const conn = options.lattice;

  const userLabels = { ...(options.labels ?? {}) };
  for (const key of Object.keys(userLabels)) checkLabelKey(key);
  const labels: StringMap = { ...hostcoreLabels(), ...userLabels };

  const events = latticeEventSink(conn, latticeName, identity.id, clock, logger);
  const state = await LatticeState.open(conn, latticeName, logger);
  const components = new ComponentManager({
    hostId: identity.id,
    runtime,
    state,
    events,
    limits,
    logger,
    allowFileLoad: options.allowFileLoad ?? false,
  });
  const providers = new ProviderManager({
    hostId: identity.id,
    lattice: latticeName,
    state,
    events,
    limits,
    logger,
    components: { handleHttp: (id, head, body, sink) => components.handleHttp(id, head, body, sink) },
    builtins: options.builtinProviders ?? BUILTIN_PROVIDERS,
  });
  state.onLinksChanged((change) => providers.onLinksChanged(change));
  state.onConfigChanged((name) => providers.onConfigChanged(name));

  const startedAt = clock.monotonicMs();
  const uptimeSeconds = (): number => Math.floor((clock.monotonicMs() - startedAt) / 1000);

  const inventory = (): HostInventory => ({
    host_id: identity.id,
    friendly_name: identity.friendlyName,
    version: VERSION,
    labels: { ...labels },
    uptime_seconds: uptimeSeconds(),
    uptime_human: humanUptime(uptimeSeconds()),
    components: components.describe(),
    providers: providers.describe(),
  });

  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const assertRunning = (): void => {
    if (stopping !== undefined)
      throw new HostStoppedError('the host is stopping', { hint: 'start a new host' });
  };

  const heartbeatMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS;
  const heartbeat =
    heartbeatMs > 0
      ? setInterval(() => events.publish('host_heartbeat', inventory()), heartbeatMs)
      : undefined;
  heartbeat?.unref();

  const host: Host = {
    id: identity.id,
    friendlyName: identity.friendlyName,
    latticeName,
    labels: () => ({ ...labels }),
    inventory,
    async scaleComponent(command) {
      assertRunning();
      await components.scale(command);
    },
    async updateComponent(command) {
      assertRunning();
      await components.update(command);
    },
    async startProvider(command) {
      assertRunning();
      await providers.start(command);
    },
    async stopProvider(providerId) {
      assertRunning();
      await providers.stop(providerId);
    },
    async putLink(input) {
      assertRunning();
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
    },
    async deleteLink(target) {
      assertRunning();
      const deletion: LinkDeletion = {
        source_id: assertValidId('source_id', target.source_id),
        name: target.name ?? 'default',
        wit_namespace: target.wit_namespace,
        wit_package: target.wit_package,
      };
      const outcome = await state.deleteLink(deletion);
      if (!outcome.specExisted) return;
      const removed = outcome.removed;
      events.publish(
        'linkdef_deleted',
        removed === undefined
          ? deletion
          : { ...deletion, target: removed.target, interfaces: removed.interfaces },
      );
    },
    links: () => state.links(),
    async putConfig(name, values) {
      assertRunning();
      const configName = assertValidId('config name', name);
      await state.putConfig(configName, parseConfigValues(values));
      events.publish('config_set', { config_name: configName });
    },
    getConfig: (name) => state.getConfig(assertValidId('config name', name)),
    async deleteConfig(name) {
      assertRunning();
      const configName = assertValidId('config name', name);
      await state.deleteConfig(configName);
      events.publish('config_deleted', { config_name: configName });
    },
    putLabel(key, value) {
      checkLabelKey(key);
      if (typeof value !== 'string') throw new InvalidLabelError(`label ${key} needs a string value`);
      if (labels[key] === value) return;
      labels[key] = value;
      events.publish('labels_changed', { host_id: identity.id, labels: { ...labels } });
    },
    deleteLabel(key) {
      checkLabelKey(key);
      if (!(key in labels)) return false;
      delete labels[key];
      events.publish('labels_changed', { host_id: identity.id, labels: { ...labels } });
      return true;
    },
    stop() {
      stopping ??= (async () => {
        clearInterval(heartbeat);
        logger.info('host stopping');
        await providers.stopAll();
        await components.stopAll();
        state.close();
        if (ownsRuntime) await runtime.close();
        events.publish('host_stopped', { labels: { ...labels } });
        await conn.flush().catch(() => undefined);
        logger.info('host stopped');
        resolveStopped();
      })();
      return stopping;
    },
    stopped,
  };

  events.publish('host_started', {
    friendly_name: identity.friendlyName,
    labels: { ...labels },
    uptime_seconds: 0,
    version: VERSION,
  });
  logger.info('host started', { id: identity.id, lattice: latticeName, version: VERSION });
  return host;
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,252}$/;

function checkLabelKey(key: string): void {
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
