/**
 * A Cirrus host: identity, labels, inventory, components, providers, links and config on one
 * lattice. It talks to the world only through ports (lattice connection, runtime, clock, logger), so
 * the same core runs on the embedded lattice and on NATS.
 */
import {
  assertCtlTopicPrefix,
  assertValidId,
  CTL_TOPIC_PREFIX,
  DEFAULT_LATTICE,
  DEFAULT_LIMITS,
  describeError,
  HostStoppedError,
  humanUptime,
  InvalidArgumentError,
  InvalidLabelError,
  LIMIT_SPECS,
  parseConfigValues,
  parseLink,
  parsePublicKey,
  silentLogger,
} from '@cirrus/protocol';
import type {
  HostInventory,
  Limits,
  Link,
  Logger,
  Nkey,
  RegistryCredential,
  StringMap,
} from '@cirrus/protocol';
import type { LatticeConnection } from '@cirrus/lattice';
import { createComponentRuntime } from '@cirrus/runtime';
import type { ComponentRuntime, ImportHandler } from '@cirrus/runtime';
import { ComponentManager } from './components.ts';
import { ImportRouter } from './imports.ts';
import { invokeRemoteImport, serveComponentExports } from './wrpc/components.ts';
import { remoteKeyValue } from './wrpc/keyvalue.ts';
import { startControlServer } from './control/server.ts';
import type { ControlServer } from './control/server.ts';
import type { ScaleComponentCommand, UpdateComponentCommand } from './components.ts';
import { latticeEventSink } from './events.ts';
import { logLatticeStatus } from './lattice-status.ts';
import { generateHostIdentity, hostcoreLabels } from './identity.ts';
import { setUpInvocationSigning } from './invocation-signing.ts';
import type { SignedInvocationOptions } from './invocation-signing.ts';
import { LatticeState } from './lattice-state.ts';
import type { LinkDeletion } from './lattice-state.ts';
import { PolicyClient } from './policy.ts';
import type { PolicyOptions } from './policy.ts';
import { systemClock } from './ports.ts';
import type { Clock } from './ports.ts';
import { BUILTIN_PROVIDERS } from './providers/builtin.ts';
import { ProviderManager } from './providers/manager.ts';
import type { StartProviderCommand } from './providers/manager.ts';
import type { ProviderRpc } from './providers/external.ts';
import type { BuiltinProvider } from './providers/types.ts';
import { VERSION } from './version.ts';

export interface HostOptions {
  /** The lattice connection (embedded or NATS); with `controlLattice`, the RPC connection only. */
  lattice: LatticeConnection;
  /**
   * A separate connection for control traffic, as 1.x's `--ctl-*` settings give: the control
   * interface, events, the lattice KV state and policy requests go here, and wRPC and providers stay
   * on `lattice`. Default: `lattice` carries everything.
   */
  controlLattice?: LatticeConnection;
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
  /**
   * Where provider processes started from files connect (HostData `lattice_rpc_url`, …): the NATS
   * server the host uses, or the local endpoint of its embedded lattice. Asked at each process start.
   */
  providerRpc?: () => ProviderRpc | undefined;
  /**
   * First tokens of the control subjects (default `wasmbus.ctl`, giving `wasmbus.ctl.v1.<lattice>.…`);
   * the 1.x host's `--ctl-topic-prefix`.
   */
  ctlTopicPrefix?: string;
  /**
   * The policy service (1.x `--policy-topic`, `--policy-changes-topic`, `--policy-timeout-ms`): asked
   * before every component or provider start and every invocation of a component; fails closed.
   */
  policy?: PolicyOptions;
  /**
   * The host's server key (`N…`, e.g. `Nkey.fromSeed` of a seed file), for an id that survives
   * restarts; default a fresh key. Its seed is never logged.
   */
  hostKey?: Nkey;
  /**
   * Refuse components without claims, and provider programs (which carry none) with CLAIMS_REQUIRED.
   * Claims that are present are always checked. Beyond 1.x; default false.
   */
  requireSigned?: boolean;
  /** Accept only components whose claims are signed by one of these accounts (`A…`). Beyond 1.x. */
  allowedIssuers?: readonly string[];
  /**
   * Signed invocations (beyond 1.x; off by default): sign every wRPC invocation this host sends, and/or
   * refuse those not signed by a host whose credential an accepted cluster key issued.
   */
  signedInvocations?: SignedInvocationOptions;
}

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
  /** Resolves when the host has stopped. */
  readonly stopped: Promise<void>;
}

export type LinkDeletionTarget = Partial<LinkDeletion> &
  Pick<LinkDeletion, 'source_id' | 'wit_namespace' | 'wit_package'>;

const DEFAULT_HEARTBEAT_MS = 30_000;

export async function createHost(options: HostOptions): Promise<Host> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const baseLogger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const latticeName = assertValidId('lattice name', options.latticeName ?? DEFAULT_LATTICE);
  const ctlTopicPrefix = assertCtlTopicPrefix(options.ctlTopicPrefix ?? CTL_TOPIC_PREFIX);
  const identity = generateHostIdentity(options.friendlyName, options.hostKey);
  const allowedIssuers = options.allowedIssuers?.map(
    (key) => parsePublicKey(key, 'account', 'the allowed issuer').publicKey,
  );
  const logger = baseLogger.child({ host: identity.friendlyName });
  const signing =
    options.signedInvocations === undefined
      ? {}
      : await setUpInvocationSigning(options.signedInvocations, {
          hostKey: identity.key,
          limits,
          logger,
          now: () => clock.now().getTime(),
        });
  const runtime = options.runtime ?? createComponentRuntime({ cacheDir: options.cacheDir, limits, logger });
  const ownsRuntime = options.runtime === undefined;
  const conn = options.lattice;
  const ctl = options.controlLattice ?? conn;

  const userLabels = { ...(options.labels ?? {}) };
  for (const key of Object.keys(userLabels)) checkLabelKey(key);
  const labels: StringMap = { ...hostcoreLabels(), ...userLabels };

  const events = latticeEventSink(ctl, latticeName, identity.id, clock, logger);
  const state = await LatticeState.open(ctl, latticeName, logger);
  const policy =
    options.policy === undefined
      ? undefined
      : await PolicyClient.open({
          connection: ctl,
          topic: options.policy.topic,
          changesTopic: options.policy.changesTopic,
          timeoutMs: checkPolicyTimeout(options.policy.timeoutMs ?? limits.policyTimeoutMs),
          maxCachedDecisions: limits.policyMaxCachedDecisions,
          host: () => ({ publicKey: identity.id, lattice: latticeName, labels: { ...labels } }),
          clock,
          logger,
        });
  const wrpcOptions = { connection: conn, lattice: latticeName, limits, logger, ...signing };
  const components: ComponentManager = new ComponentManager({
    hostId: identity.id,
    runtime,
    state,
    events,
    limits,
    logger,
    allowFileLoad: options.allowFileLoad ?? false,
    policy,
    claims: { requireSigned: options.requireSigned ?? false, allowedIssuers, now: () => clock.now() },
    // Called when a component starts, after the router below exists.
    imports: (id): ImportHandler => imports.handlerFor(id),
    serveExports: (id, pool, authorize) => {
      const subscriptions = serveComponentExports(
        wrpcOptions,
        id,
        pool.component.interfaces.exports,
        (iface, fn, args) => pool.invoke(iface, fn, args),
        authorize,
      );
      return () => {
        for (const sub of subscriptions) sub.unsubscribe();
      };
    },
  });
  const providers: ProviderManager = new ProviderManager({
    hostId: identity.id,
    lattice: latticeName,
    connection: conn,
    state,
    events,
    limits,
    logger,
    components: {
      handleHttp: (id, head, body, sink) => components.handleHttp(id, head, body, sink),
      invoke: (id, iface, fn, args) => components.invoke(id, iface, fn, args),
    },
    builtins: options.builtinProviders ?? BUILTIN_PROVIDERS,
    allowFileLoad: options.allowFileLoad ?? false,
    requireSigned: options.requireSigned ?? false,
    policy,
    verifyInvocation: signing.verify,
    clusterIssuers: signing.clusterIssuers,
    ...(options.providerRpc === undefined ? {} : { providerRpc: options.providerRpc }),
  });
  const imports: ImportRouter = new ImportRouter({
    state,
    logger,
    targets: {
      serveImport: (id, call, source) =>
        providers.serveImport(id, call, source) ?? components.serveImport(id, call),
    },
    componentConfig: (id) => components.config(id),
    remote: (targetId, call, source) =>
      call.interface.startsWith('wasi:keyvalue/')
        ? remoteKeyValue(wrpcOptions, targetId, call, source)
        : invokeRemoteImport(
            wrpcOptions,
            components.interfaces(source.sourceId)?.imports ?? new Map(),
            targetId,
            call,
            source,
          ),
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

  // Kept for fetching from private registries; only the registry names are ever logged.
  const registryCredentials = new Map<string, RegistryCredential>();
  let control: ControlServer | undefined;
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

  /** Deletes a link; false when its source has no spec at all (then nothing is written or announced). */
  const removeLink = async (target: LinkDeletionTarget): Promise<boolean> => {
    assertRunning();
    const deletion: LinkDeletion = {
      source_id: assertValidId('source_id', target.source_id),
      name: target.name ?? 'default',
      wit_namespace: target.wit_namespace,
      wit_package: target.wit_package,
    };
    const outcome = await state.deleteLink(deletion);
    if (!outcome.specExisted) return false;
    const removed = outcome.removed;
    events.publish(
      'linkdef_deleted',
      removed === undefined
        ? deletion
        : { ...deletion, target: removed.target, interfaces: removed.interfaces },
    );
    return true;
  };

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
      await removeLink(target);
    },
    links: () => state.links(),
    claims: () => state.claims(),
    hasProvider: (providerId) => providers.has(providerId),
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
    putRegistryCredentials(credentials) {
      for (const [registry, credential] of Object.entries(credentials)) {
        registryCredentials.set(registry, { ...credential });
      }
      logger.info('registry credentials updated', { registries: Object.keys(credentials) });
    },
    stop(stopOptions = {}) {
      stopping ??= (async () => {
        clearInterval(heartbeat);
        // No new control requests once stopping; requests already in flight get HOST_STOPPED.
        control?.stop();
        logger.info('host stopping');
        const workloads = (async () => {
          await providers.stopAll();
          await components.stopAll();
        })();
        await withinGrace(workloads, stopOptions.timeoutMs, logger);
        policy?.close();
        state.close();
        if (ownsRuntime) await runtime.close();
        events.publish('host_stopped', { labels: { ...labels } });
        await Promise.all([conn.flush(), ctl.flush()]).catch(() => undefined);
        logger.info('host stopped');
        resolveStopped();
      })();
      return stopping;
    },
    stopped,
  };

  try {
    control = await startControlServer({
      connection: ctl,
      // The control interface also needs to know whether a deleted link's spec existed.
      host: { ...host, deleteLink: removeLink },
      latticeName,
      topicPrefix: ctlTopicPrefix,
      maxInstances: limits.maxInstances,
      logger,
    });
  } catch (err) {
    await host.stop().catch(() => undefined);
    throw err;
  }

  const statusLog = logLatticeStatus(
    ctl === conn
      ? [{ connection: conn }]
      : [
          { connection: ctl, label: 'control' },
          { connection: conn, label: 'rpc' },
        ],
    logger,
    { intervalMs: limits.natsStatusLogIntervalMs, now: () => clock.monotonicMs() },
  );
  void stopped.then(() => statusLog.stop());

  events.publish('host_started', {
    friendly_name: identity.friendlyName,
    labels: { ...labels },
    uptime_seconds: 0,
    version: VERSION,
  });
  logger.info('host started', { id: identity.id, lattice: latticeName, version: VERSION });
  return host;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

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

function checkPolicyTimeout(timeoutMs: number): number {
  const { min, max } = LIMIT_SPECS.policyTimeoutMs;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < min || timeoutMs > max) {
    throw new InvalidArgumentError(`policy timeout ${timeoutMs} ms is out of range`, {
      hint: `use a whole number of milliseconds from ${min} to ${max}`,
    });
  }
  return timeoutMs;
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
