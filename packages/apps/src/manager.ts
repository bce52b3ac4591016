/**
 * The application manager: it keeps the applications it was given, and runs passes of observe →
 * reconcile → act. A pass runs when an application changes, when a lattice event says something
 * moved (a host came or went, a workload started, stopped or failed), and every
 * `appResyncIntervalMs` whatever happened, so a missed event only delays a correction. Passes never
 * overlap; one asked for during a pass runs right after it.
 *
 * A command a host refuses, or a start its events report as failed, is held back from that host for
 * `appBackoffMs`, doubled for each refusal in a row up to `appBackoffMaxMs`, and the application's
 * status says `failed` with the host's words meanwhile: a workload that cannot start is retried, not
 * hammered. Another command for the workload (a new version's image) goes at once.
 */
import type { ControlClient } from '@cirrus/control-client';
import { describeError } from '@cirrus/protocol';
import type { CloudEvent, HostInventory, Limits, Logger, StringMap } from '@cirrus/protocol';
import type { AppManifest } from './manifest.ts';
import type { ObservedLattice } from './placement.ts';
import { observeLattice } from './observe.ts';
import { reconcile } from './reconcile.ts';
import type { AppState, AppStatus, ReconcileCommand, WorkloadFailure } from './reconcile.ts';

export type AppManagerLimits = Pick<
  Limits,
  'appResyncIntervalMs' | 'appBackoffMs' | 'appBackoffMaxMs' | 'controlWaitTimeoutMs'
>;

export interface AppManagerOptions {
  control: ControlClient;
  logger: Logger;
  limits: AppManagerLimits;
  /** Hosts known to be on the lattice at the start, so that the first pass need not wait for others. */
  knownHosts?: Iterable<string>;
  /** The `wasmcloud.dev/managed-by` annotation of what this manager places. */
  managedBy?: string;
  /**
   * Called with the hosts' inventories each pass observed (the service records them in `wadm_state`);
   * with it, passes run even while no application is deployed.
   */
  onObserved?: (inventories: readonly HostInventory[]) => Promise<void>;
}

export interface AppManager {
  /** Deploys `manifest` (a new version of an application replaces the one deployed); resolves after a pass. */
  deploy(manifest: AppManifest): Promise<AppStatus>;
  /** Removes what the application placed; resolves after a pass, with undefined for an unknown name. */
  undeploy(name: string): Promise<AppStatus | undefined>;
  status(name: string): AppStatus | undefined;
  /** The manifest an application is deployed (or being removed) with. */
  manifest(name: string): AppManifest | undefined;
  /** Names of the applications deployed or being removed. */
  list(): string[];
  /** Runs a pass now (or after the one under way) and resolves when it is done. */
  pass(): Promise<void>;
  stop(): Promise<void>;
}

/** Events after which the lattice is read again at once rather than at the next resync. */
const MOVES =
  /^com\.wasmcloud\.lattice\.(host_started|host_stopped|component_scaled|component_scale_failed|provider_started|provider_start_failed|provider_stopped|linkdef_set|linkdef_deleted|config_set|config_deleted|labels_changed)$/;

/** The workload and host a command is about, for the commands that start, scale or stop one. */
function placementOf(command: ReconcileCommand): { workload: string; hostId: string } | undefined {
  if ('componentId' in command) return { workload: command.componentId, hostId: command.hostId };
  if ('providerId' in command) return { workload: command.providerId, hostId: command.hostId };
  return undefined;
}

interface Hold {
  until: number;
  refusals: number;
  failure: WorkloadFailure;
  /**
   * The command refused (JSON), when known: only it is held back. Another one for the same
   * workload (a new version's image, say) is a new desire, tried at once.
   */
  command: string | undefined;
}

interface Managed {
  manifest: AppManifest;
  deployed: boolean;
  previous?: AppManifest;
  status?: AppStatus;
}

export function createAppManager(options: AppManagerOptions): AppManager {
  const { control, logger, limits } = options;
  const managedBy = options.managedBy ?? 'cirrus';
  const apps = new Map<string, Managed>();
  const holds = new Map<string, Hold>();
  /** Placement commands sent whose outcome has not shown yet, by workload and host. */
  const inFlight = new Map<string, { command: string; until: number }>();
  /**
   * Workloads started on a host that no pass has seen there yet, by workload and host: an application
   * being removed is not forgotten while one of its own may still appear (a host answers a start
   * before it is done, and a pass that saw nothing would leave what appears after it for good).
   */
  const starting = new Map<string, { workloadId: string; hostId: string; until: number }>();
  /**
   * Named config as last read (null: none by that name). An event that it changed drops a name, a
   * command of this manager that changes it too, and each resync drops them all: a pass reads only
   * what may have changed, where it read every config the applications name.
   */
  const configCache = new Map<string, StringMap | null>();
  /** Hosts the last pass saw, and those whose events said they are up since: a pass waits for them only. */
  let knownHosts = new Set(options.knownHosts);
  let running: Promise<void> | undefined;
  /** What the pass under way does with what it read: a stop waits for it, not for the reading. */
  let acting: Promise<void> | undefined;
  let again: Promise<void> | undefined;
  let stopped = false;

  const holdKey = (workloadId: string, hostId: string): string => `${workloadId}@${hostId}`;

  const hold = (workloadId: string, hostId: string, message: string, command: string | undefined): void => {
    const key = holdKey(workloadId, hostId);
    const refusals = (holds.get(key)?.refusals ?? 0) + 1;
    const wait = Math.min(limits.appBackoffMs * 2 ** Math.min(refusals - 1, 30), limits.appBackoffMaxMs);
    holds.set(key, { until: Date.now() + wait, refusals, failure: { workloadId, hostId, message }, command });
  };

  const onHold = (command: ReconcileCommand): boolean => {
    const target = placementOf(command);
    if (target === undefined) return false;
    const key = holdKey(target.workload, target.hostId);
    const held = holds.get(key);
    const same = held?.command === undefined || held.command === JSON.stringify(command);
    if (held !== undefined && held.until > Date.now() && same) return true;
    // Hosts answer a start before it is done: until its outcome shows, the same command again would
    // only be refused as a duplicate.
    const sent = inFlight.get(key);
    return sent !== undefined && sent.until > Date.now() && sent.command === JSON.stringify(command);
  };

  const act = async (command: ReconcileCommand): Promise<void> => {
    switch (command.op) {
      case 'put-config':
        configCache.delete(command.name);
        await control.putConfig(command.name, command.values);
        return;
      case 'delete-config':
        configCache.delete(command.name);
        await control.deleteConfig(command.name);
        return;
      case 'scale-component':
        await control.scaleComponent({
          hostId: command.hostId,
          componentRef: command.imageRef,
          componentId: command.componentId,
          count: command.count,
          config: command.config,
          annotations: command.annotations,
        });
        return;
      case 'update-component':
        await control.updateComponent({
          hostId: command.hostId,
          componentId: command.componentId,
          newComponentRef: command.imageRef,
          annotations: command.annotations,
        });
        return;
      case 'start-provider':
        await control.startProvider({
          hostId: command.hostId,
          providerRef: command.imageRef,
          providerId: command.providerId,
          config: command.config,
          annotations: command.annotations,
        });
        return;
      case 'stop-provider':
        await control.stopProvider({ hostId: command.hostId, providerId: command.providerId });
        return;
      case 'put-link':
        await control.putLink(command.link);
        return;
      case 'delete-link':
        await control.deleteLink({
          source_id: command.sourceId,
          name: command.name,
          wit_namespace: command.namespace,
          wit_package: command.package,
        });
        return;
    }
  };

  const configNames = (): string[] =>
    [...apps.values()].flatMap(({ manifest, previous }) =>
      [manifest, ...(previous === undefined ? [] : [previous])].flatMap((m) =>
        m.components.flatMap((c) => [
          ...c.config.map((r) => r.name),
          ...c.links.flatMap((l) => [...l.sourceConfig, ...l.targetConfig].map((r) => r.name)),
        ]),
      ),
    );

  const onePass = async (): Promise<void> => {
    // With nothing to manage, a pass only records the lattice for whoever reads wadm_state.
    if (apps.size === 0 && options.onObserved === undefined) return;
    const names = configNames();
    const read = await observeLattice(
      control,
      names.filter((name) => !configCache.has(name)),
      knownHosts,
    );
    if (stopped) return;
    const { inventories } = read;
    // Hosts serve config: with none answering, nothing read is known not to exist.
    if (inventories.length > 0) {
      for (const name of names) {
        if (!configCache.has(name)) configCache.set(name, read.observed.configs.get(name) ?? null);
      }
    }
    const configs = new Map<string, StringMap>();
    for (const name of names) {
      const values = configCache.get(name);
      if (values !== undefined && values !== null) configs.set(name, values);
    }
    const observed: ObservedLattice = { ...read.observed, configs };
    knownHosts = new Set(inventories.map((i) => i.host_id));
    acting = actOn(observed, inventories).finally(() => (acting = undefined));
    await acting;
  };

  /** What a pass does with what it observed: records it, then brings the lattice to the apps. */
  const actOn = async (observed: ObservedLattice, inventories: readonly HostInventory[]): Promise<void> => {
    await options
      .onObserved?.(inventories)
      .catch((err: unknown) => logger.warn('wadm_state not written', { error: describeError(err) }));
    if (apps.size === 0) return;
    const now = Date.now();
    for (const [key, start] of starting) {
      const host = observed.hosts.find((h) => h.id === start.hostId);
      const shown =
        host === undefined ||
        host.components.some((c) => c.id === start.workloadId) ||
        host.providers.some((p) => p.id === start.workloadId);
      if (shown || start.until <= now) starting.delete(key);
    }
    const failures = [...holds.values()].filter((h) => h.until > now).map((h) => h.failure);
    const states: AppState[] = [...apps.values()].map((app) => ({
      manifest: app.manifest,
      deployed: app.deployed,
      ...(app.previous === undefined ? {} : { previous: app.previous }),
      failures: failures.filter((f) => app.manifest.components.some((c) => c.id === f.workloadId)),
    }));
    const { commands, status } = reconcile(
      states,
      { ...observed, starting: [...starting.values()] },
      managedBy,
    );
    for (const [name, appStatus] of status) {
      const app = apps.get(name);
      if (app === undefined) continue;
      app.status = appStatus;
      // Once removed, an application is forgotten; a new version is no longer an upgrade once in place.
      const pending = [...starting.values()].some((s) =>
        app.manifest.components.some((c) => c.id === s.workloadId),
      );
      if (!app.deployed && appStatus.status.type === 'undeployed' && !pending) apps.delete(name);
      if (app.deployed && appStatus.status.type === 'deployed') delete app.previous;
    }
    // A workload this pass asks nothing of has its last command's outcome in place (or no longer needed).
    const asked = new Set(
      commands.map(placementOf).flatMap((t) => (t === undefined ? [] : [holdKey(t.workload, t.hostId)])),
    );
    for (const key of inFlight.keys()) if (!asked.has(key)) inFlight.delete(key);
    for (const command of commands) {
      if (stopped) return;
      if (onHold(command)) continue;
      const target = placementOf(command);
      const key = target === undefined ? undefined : holdKey(target.workload, target.hostId);
      // Recorded before it is sent: the outcome event may arrive before the reply.
      if (key !== undefined) {
        inFlight.set(key, {
          command: JSON.stringify(command),
          until: Date.now() + limits.controlWaitTimeoutMs,
        });
      }
      const starts =
        (command.op === 'scale-component' && command.count > 0) || command.op === 'start-provider';
      if (key !== undefined && target !== undefined && starts) {
        starting.set(key, {
          workloadId: target.workload,
          hostId: target.hostId,
          until: Date.now() + limits.controlWaitTimeoutMs,
        });
      }
      try {
        await act(command);
      } catch (err) {
        const message = describeError(err);
        logger.warn('application command refused', { op: command.op, error: message });
        if (key !== undefined) inFlight.delete(key);
        if (key !== undefined) starting.delete(key);
        if (target !== undefined) hold(target.workload, target.hostId, message, JSON.stringify(command));
      }
    }
  };

  const pass = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    if (running === undefined) {
      running = onePass()
        .catch((err: unknown) => logger.warn('application pass failed', { error: describeError(err) }))
        .finally(() => (running = undefined));
      return running;
    }
    again ??= running.then(() => {
      again = undefined;
      return pass();
    });
    return again;
  };

  const timer = setInterval(() => {
    configCache.clear();
    void pass();
  }, limits.appResyncIntervalMs);
  const events = control.events();
  void (async () => {
    try {
      for await (const event of events) {
        noteHost(event);
        noteConfig(event);
        if (!MOVES.test(event.type)) continue;
        noteOutcome(event);
        void pass();
      }
    } catch (err) {
      if (!stopped) logger.warn('application manager lost the event stream', { error: describeError(err) });
    }
  })();

  function noteHost(event: CloudEvent): void {
    if (event.type === 'com.wasmcloud.lattice.host_stopped') knownHosts.delete(event.source);
    else if (/\.host_(started|heartbeat)$/.test(event.type)) knownHosts.add(event.source);
  }

  function noteConfig(event: CloudEvent): void {
    if (!/\.config_(set|deleted)$/.test(event.type)) return;
    const name = event.data['config_name'];
    if (typeof name === 'string') configCache.delete(name);
  }

  /** A workload's start, scale or stop finished on a host: its command is no longer in flight. */
  function noteOutcome(event: CloudEvent): void {
    const data = event.data;
    const text = (key: string): string | undefined => {
      const value = data[key];
      return typeof value === 'string' ? value : undefined;
    };
    const workload = text('component_id') ?? text('provider_id');
    if (workload === undefined) return;
    const hostId = text('host_id') ?? event.source;
    const key = holdKey(workload, hostId);
    const sent = inFlight.get(key);
    inFlight.delete(key);
    if (event.type.endsWith('_failed')) {
      starting.delete(key);
      hold(workload, hostId, text('error') ?? 'failed', sent?.command);
    }
  }

  return {
    async deploy(manifest) {
      const current = apps.get(manifest.name);
      const previous = current?.deployed === true ? current.manifest : undefined;
      apps.set(manifest.name, { manifest, deployed: true, ...(previous === undefined ? {} : { previous }) });
      await pass();
      return apps.get(manifest.name)?.status ?? { status: { type: 'reconciling' }, scalers: [] };
    },
    async undeploy(name) {
      const app = apps.get(name);
      if (app === undefined) return undefined;
      app.deployed = false;
      delete app.previous;
      await pass();
      return app.status;
    },
    status: (name) => apps.get(name)?.status,
    manifest: (name) => apps.get(name)?.manifest,
    list: () => [...apps.keys()],
    pass,
    async stop() {
      stopped = true;
      clearInterval(timer);
      events.stop();
      await acting;
    },
  };
}
