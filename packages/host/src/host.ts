/**
 * The composition root of a Cirrus host: it builds the host's parts from its options, in order, and
 * wires them. A host talks to the world only through ports (lattice connections, runtime, clock,
 * logger), so the same core runs on the embedded lattice and on NATS; what it does lives in the parts
 * (calls.ts, components.ts, providers/manager.ts, running-host.ts).
 */
import {
  assertCtlTopicPrefix,
  assertValidId,
  CTL_TOPIC_PREFIX,
  DEFAULT_LATTICE,
  DEFAULT_LIMITS,
  InvalidArgumentError,
  LIMIT_SPECS,
  parsePublicKey,
  silentLogger,
} from '@cirrus/protocol';
import type { Limits, Logger, Nkey, StringMap } from '@cirrus/protocol';
import type { LatticeConnection } from '@cirrus/lattice';
import type { BuiltinProvider, WireBinding } from '@cirrus/provider-core';
import type { ComponentRuntime } from '@cirrus/runtime';
import { CallPath } from './calls.ts';
import { ComponentManager } from './components.ts';
import { startControlServer } from './control/server.ts';
import { latticeEventSink } from './events.ts';
import type { Host } from './host-api.ts';
import { hostPlatform } from '#platform';
import { generateHostIdentity } from './identity.ts';
import { setUpInvocationSigning } from './invocation-signing.ts';
import type { SignedInvocationOptions } from './invocation-signing.ts';
import { LatticeState } from './lattice-state.ts';
import { logLatticeStatus } from './lattice-status.ts';
import { LocalTargets } from './local-targets.ts';
import { HostMetricsRecorder } from './metrics.ts';
import { PolicyClient } from './policy.ts';
import type { PolicyOptions } from './policy.ts';
import { systemClock } from './ports.ts';
import type { Clock } from './ports.ts';
import type { ProviderRpc } from './providers/external.ts';
import { ProviderManager } from './providers/manager.ts';
import { checkLabelKey, RunningHost } from './running-host.ts';
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
  /**
   * The built-in providers, by the name in `wasmcloud+builtin://<name>` (`cirrus up` hands it the
   * providers of @cirrus/providers); default none.
   */
  builtinProviders?: Readonly<Record<string, BuiltinProvider>>;
  /** Interfaces whose calls between hosts take another form than themselves (wasi:keyvalue). */
  wireBindings?: readonly WireBinding[];
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

const DEFAULT_HEARTBEAT_MS = 30_000;

export async function createHost(options: HostOptions): Promise<Host> {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const clock = options.clock ?? systemClock;
  const latticeName = assertValidId('lattice name', options.latticeName ?? DEFAULT_LATTICE);
  const ctlTopicPrefix = assertCtlTopicPrefix(options.ctlTopicPrefix ?? CTL_TOPIC_PREFIX);
  const identity = generateHostIdentity(options.friendlyName, options.hostKey);
  const allowedIssuers = options.allowedIssuers?.map(
    (key) => parsePublicKey(key, 'account', 'the allowed issuer').publicKey,
  );
  for (const key of Object.keys(options.labels ?? {})) checkLabelKey(key);
  const labels: StringMap = { ...hostPlatform.hostcoreLabels(), ...options.labels };
  const logger = (options.logger ?? silentLogger).child({ host: identity.friendlyName });
  const now = (): Date => clock.now();
  const signing =
    options.signedInvocations === undefined
      ? {}
      : await setUpInvocationSigning(options.signedInvocations, {
          primitives: hostPlatform.signing,
          hostKey: identity.key,
          limits,
          logger,
          now: () => now().getTime(),
        });
  const runtime =
    options.runtime ?? hostPlatform.createRuntime({ cacheDir: options.cacheDir, limits, logger });
  const rpc = options.lattice;
  const ctl = options.controlLattice ?? rpc;
  const events = latticeEventSink(ctl, latticeName, identity.id, clock, logger);
  const state = await LatticeState.open(ctl, latticeName, logger);
  const policy = await openPolicy(options.policy, {
    ctl,
    limits,
    clock,
    logger,
    host: () => ({ publicKey: identity.id, lattice: latticeName, labels: { ...labels } }),
  });
  const allowFileLoad = options.allowFileLoad ?? false;
  const requireSigned = options.requireSigned ?? false;
  const targets = new LocalTargets();
  const connections = ctl === rpc ? [rpc] : [rpc, ctl];
  const metrics = new HostMetricsRecorder({
    hostId: identity.id,
    components: targets.components,
    connections,
    now: () => now().getTime(),
  });
  const wire = { connection: rpc, lattice: latticeName, limits, logger, ...signing };
  const calls = new CallPath({ state, targets, wire, policy, bindings: options.wireBindings ?? [], metrics });
  const common = {
    hostId: identity.id,
    state,
    events,
    limits,
    logger,
    allowFileLoad,
    targets,
    calls,
    policy,
    metrics,
  };
  const components = new ComponentManager({
    ...common,
    runtime,
    claims: { requireSigned, allowedIssuers, now },
  });
  const providers = new ProviderManager({
    ...common,
    lattice: latticeName,
    connection: rpc,
    builtins: options.builtinProviders ?? {},
    requireSigned,
    verifyInvocation: signing.verify,
    clusterIssuers: signing.clusterIssuers,
    ...(options.providerRpc === undefined ? {} : { providerRpc: options.providerRpc }),
  });
  state.onLinksChanged((change) => providers.onLinksChanged(change));
  state.onConfigChanged((name) => providers.onConfigChanged(name));
  const host = new RunningHost({
    identity,
    latticeName,
    labels,
    state,
    events,
    components,
    providers,
    ownedRuntime: options.runtime === undefined ? runtime : undefined,
    policy,
    metrics,
    connections,
    clock,
    logger,
    heartbeatMs: options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_MS,
  });
  try {
    const control = await startControlServer({
      connection: ctl,
      host,
      latticeName,
      topicPrefix: ctlTopicPrefix,
      maxInstances: limits.maxInstances,
      logger,
    });
    host.onStop(() => control.stop());
  } catch (err) {
    await host.stop().catch(() => undefined);
    throw err;
  }
  const statusLog = logLatticeStatus(
    ctl === rpc
      ? [{ connection: rpc }]
      : [
          { connection: ctl, label: 'control' },
          { connection: rpc, label: 'rpc' },
        ],
    logger,
    { intervalMs: limits.natsStatusLogIntervalMs, now: () => clock.monotonicMs() },
  );
  void host.stopped.then(() => statusLog.stop());
  events.publish('host_started', {
    friendly_name: identity.friendlyName,
    labels: { ...labels },
    uptime_seconds: 0,
    version: VERSION,
  });
  logger.info('host started', { id: identity.id, lattice: latticeName, version: VERSION });
  runtime.standBy();
  return host;
}

/** The policy service client, when the host has one (1.x `--policy-topic`); it fails closed. */
async function openPolicy(
  policy: PolicyOptions | undefined,
  deps: {
    ctl: LatticeConnection;
    limits: Limits;
    clock: Clock;
    logger: Logger;
    host: () => { publicKey: string; lattice: string; labels: StringMap };
  },
): Promise<PolicyClient | undefined> {
  if (policy === undefined) return undefined;
  return PolicyClient.open({
    connection: deps.ctl,
    topic: policy.topic,
    changesTopic: policy.changesTopic,
    timeoutMs: checkPolicyTimeout(policy.timeoutMs ?? deps.limits.policyTimeoutMs),
    maxCachedDecisions: deps.limits.policyMaxCachedDecisions,
    host: deps.host,
    clock: deps.clock,
    logger: deps.logger,
  });
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
