/**
 * Part G: the application manager (`@cirrus/apps`, wadm-compatible).
 *
 *   G1 reconcile, in process   CPU of the pure `reconcile` for 1, 10 and 100 applications (each three
 *                              components, a provider, a link and two configs) against a simulated
 *                              lattice of three hosts where everything already runs: the steady pass
 *   G2 deploy → deployed       a nats-server and three `cirrus up --nats` hosts (one of them runs the
 *                              manager): an application of ten hello components spread over the three
 *                              hosts, put and deployed through the wadm API, until its status says
 *                              `deployed`; baseline: the same ten components started directly with
 *                              `component.scale`, until each host reports `component_scaled`
 *   G3 whole pass, real hosts  a manager in this process (observe over the control interface, the
 *                              wadm_state work, reconcile, status publish) against the same three hosts,
 *                              with 1 application and with 100 deployed: CPU of this process per pass
 *
 * Rounds are interleaved where the modes allow it; medians and min–max over rounds are reported.
 */
import { join } from 'node:path';
import {
  createAppManager,
  createWadmClient,
  parseManifest,
  reconcile,
  serveWadmApi,
  STATE_BUCKET,
  wadmStateWriter,
} from '@cirrus/apps';
import type {
  AppManager,
  AppManifest,
  AppState,
  ObservedComponent,
  ObservedLattice,
  ObservedProvider,
  ReconcileCommand,
  WadmApi,
  WadmClient,
} from '@cirrus/apps';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import type { Subscription } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { ctlPrefix, describeError, silentLogger } from '@cirrus/protocol';
import type { HostInventory, Link, Logger, StringMap } from '@cirrus/protocol';
import { startNatsServer, waitFor } from '@cirrus/testing';
import type { NatsServer } from '@cirrus/testing';
import {
  ChildServer,
  fmt,
  HarnessError,
  log,
  makeTempDir,
  median,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  ROOT,
  table,
} from './lib.ts';
import type { Settings } from './lib.ts';

const CIRRUS_BIN = join(ROOT, 'node_modules', '.bin', 'cirrus');
const LATTICE = 'bench-apps';
/** The label that pins each workload to one host (spread requirements). */
const SLOT_LABEL = 'bench-slot';
const HOSTS = 3;
/**
 * `cirrus up --heartbeat-interval`: the manager resyncs every heartbeat, and a pass's ping waits at
 * most half of one (less: it ends once every host the manager knows has answered).
 */
const HEARTBEAT_S = 1;
const SCATTER_MS = (HEARTBEAT_S * 1000) / 2;
/** How often G2 asks the wadm API for the status while it waits for `deployed`. */
const STATUS_POLL_MS = 50;
const REQUEST_TIMEOUT_MS = 5000;
const TEN_APP = 'bench-ten';
const TEN_COMPONENTS = 10;
/** G1: the lattice sizes, in applications; the first is the baseline. */
const RECONCILE_APPS = [1, 10, 100] as const;
/** G1: wall time of one measured round of one case (and of its warm-up). */
const RECONCILE_ROUND_MS = 500;
/** G3: applications of the big manager. */
const PASS_APPS = 100;
/** G3: the window before each round that measures what the same time costs with no pass. */
const IDLE_MS = 2000;

// ── manifests ───────────────────────────────────────────────────────────────────────────────────

interface Shape {
  name: string;
  /** hello components, c0…c<n-1>. */
  components: number;
  /** The host slot of component i (and of the provider: slotOf(0)). */
  slotOf: (i: number) => number;
  image: string;
  /** A key-value provider, a link c0 → provider with its own config, and a config on every component. */
  provider: boolean;
}

/** An OAM manifest (JSON is YAML) of `shape`, every workload one instance pinned to its slot. */
function manifestText(shape: Shape): string {
  const scaler = (slot: number): object => ({
    type: 'spreadscaler',
    properties: {
      instances: 1,
      spread: [{ name: `slot-${slot}`, requirements: { [SLOT_LABEL]: String(slot) } }],
    },
  });
  const link = {
    type: 'link',
    properties: {
      target: { name: 'store', config: [{ name: 'store-config', properties: { backend: 'memory' } }] },
      namespace: 'wasi',
      package: 'keyvalue',
      interfaces: ['store', 'atomics'],
    },
  };
  const components: object[] = [];
  for (let i = 0; i < shape.components; i++) {
    components.push({
      name: `c${i}`,
      type: 'component',
      properties: {
        image: shape.image,
        ...(shape.provider
          ? { config: [{ name: 'greeting', properties: { GREETING: `hello from ${shape.name}` } }] }
          : {}),
      },
      traits: [scaler(shape.slotOf(i)), ...(shape.provider && i === 0 ? [link] : [])],
    });
  }
  if (shape.provider) {
    components.push({
      name: 'store',
      type: 'capability',
      properties: { image: 'wasmcloud+builtin://keyvalue' },
      traits: [scaler(shape.slotOf(0))],
    });
  }
  return JSON.stringify({
    apiVersion: 'core.oam.dev/v1beta1',
    kind: 'Application',
    metadata: { name: shape.name, annotations: { version: 'v1' } },
    spec: { components },
  });
}

const appName = (i: number): string => `bench-app-${String(i).padStart(3, '0')}`;

/** Application i of the many-apps shapes: `components` hellos, all on slot i mod 3, with a provider. */
function manyShape(i: number, components: number, image: string): Shape {
  return { name: appName(i), components, slotOf: () => i % HOSTS, image, provider: true };
}

// ── statistics ──────────────────────────────────────────────────────────────────────────────────

const spread = (values: readonly number[], decimals: number): string =>
  values.length === 0 ? '–' : `${fmt(Math.min(...values), decimals)}–${fmt(Math.max(...values), decimals)}`;

const cpuMicros = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};

// ── G1: reconcile in process ────────────────────────────────────────────────────────────────────

function simulatedHostId(slot: number): string {
  // The length of a host's public key (56), which the reconciler compares and sorts.
  return `NBENCH${'A'.repeat(49)}${slot}`;
}

interface SimHost {
  id: string;
  labels: StringMap;
  components: ObservedComponent[];
  providers: ObservedProvider[];
}

interface SimLattice {
  hosts: SimHost[];
  links: Link[];
  configs: Map<string, StringMap>;
}

/** What the hosts would report after carrying out `commands` (only the ones a first deploy sends). */
function apply(lattice: SimLattice, commands: readonly ReconcileCommand[]): void {
  const host = (id: string): SimHost => {
    const found = lattice.hosts.find((h) => h.id === id);
    if (found === undefined) throw new HarnessError(`reconcile addressed unknown host ${id}`);
    return found;
  };
  for (const command of commands) {
    switch (command.op) {
      case 'put-config':
        lattice.configs.set(command.name, command.values);
        break;
      case 'scale-component': {
        const h = host(command.hostId);
        h.components = h.components.filter((c) => c.id !== command.componentId);
        if (command.count > 0) {
          h.components.push({
            id: command.componentId,
            imageRef: command.imageRef,
            count: command.count,
            annotations: command.annotations,
          });
        }
        break;
      }
      case 'start-provider':
        host(command.hostId).providers.push({
          id: command.providerId,
          imageRef: command.imageRef,
          annotations: command.annotations,
        });
        break;
      case 'put-link': {
        const { link } = command;
        lattice.links = lattice.links.filter(
          (l) =>
            !(
              l.source_id === link.source_id &&
              l.name === link.name &&
              l.wit_namespace === link.wit_namespace &&
              l.wit_package === link.wit_package
            ),
        );
        lattice.links.push(link);
        break;
      }
      default:
        throw new HarnessError(`a first deploy should not send ${command.op}`);
    }
  }
}

/** The lattice where every application of `states` runs as it should: reconcile, carry out, repeat. */
function convergedLattice(states: readonly AppState[]): ObservedLattice {
  const lattice: SimLattice = {
    hosts: Array.from({ length: HOSTS }, (_, slot) => ({
      id: simulatedHostId(slot),
      labels: { [SLOT_LABEL]: String(slot), 'hostcore.os': 'linux' },
      components: [],
      providers: [],
    })),
    links: [],
    configs: new Map(),
  };
  for (let step = 0; step < 5; step++) {
    const { commands, status } = reconcile(states, lattice);
    if (commands.length === 0) {
      for (const [name, s] of status) {
        if (s.status.type !== 'deployed') {
          throw new HarnessError(`simulated ${name} is ${s.status.type}: ${s.status.message ?? ''}`);
        }
      }
      return lattice;
    }
    apply(lattice, commands);
  }
  throw new HarnessError('the simulated lattice did not converge in 5 steps');
}

interface ReconcileCase {
  label: string;
  apps: number;
  states: AppState[];
  observed: ObservedLattice;
  /** CPU µs per call, one entry per round. */
  cpu: number[];
  wall: number[];
}

/** Calls `reconcile` for RECONCILE_ROUND_MS; CPU and wall µs per call. */
function reconcileRound(c: ReconcileCase): { cpu: number; wall: number; calls: number } {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let calls = 0;
  let sink = 0;
  do {
    const { commands } = reconcile(c.states, c.observed);
    sink += commands.length;
    calls++;
  } while (performance.now() - started < RECONCILE_ROUND_MS);
  const wall = ((performance.now() - started) * 1000) / calls;
  if (sink !== 0) throw new HarnessError(`${c.label}: the steady pass sent ${sink / calls} commands`);
  return { cpu: cpuMicros(cpu) / calls, wall, calls };
}

function runReconcile(settings: Settings, image: string): void {
  log(`\n### G1. reconcile, in process: ${settings.rounds} rounds × ${RECONCILE_ROUND_MS} ms per case\n`);
  const manifests = Array.from({ length: Math.max(...RECONCILE_APPS) }, (_, i) =>
    parseManifest(manifestText(manyShape(i, 3, image))),
  );
  const stateOf = (manifest: AppManifest): AppState => ({ manifest, deployed: true, failures: [] });
  const cases: ReconcileCase[] = RECONCILE_APPS.map((n) => {
    const states = manifests.slice(0, n).map(stateOf);
    return {
      label: `(${RECONCILE_APPS.indexOf(n) + 1}) ${n} app${n === 1 ? '' : 's'}, lattice of ${n}`,
      apps: n,
      states,
      observed: convergedLattice(states),
      cpu: [],
      wall: [],
    };
  });
  const biggest = cases[cases.length - 1] as ReconcileCase;
  cases.push({
    label: `(${cases.length + 1}) 1 app, lattice of ${biggest.apps}`,
    apps: 1,
    states: biggest.states.slice(0, 1),
    observed: biggest.observed,
    cpu: [],
    wall: [],
  });
  const sample = biggest.observed;
  progress(
    `lattice of ${biggest.apps}: ${sample.hosts.map((h) => h.components.length).join('/')} components, ` +
      `${sample.hosts.map((h) => h.providers.length).join('/')} providers per host, ` +
      `${sample.links.length} links, ${sample.configs.size} configs`,
  );
  for (const c of cases) reconcileRound(c); // warm-up: JIT, the allocations' first GCs
  for (let r = 0; r < settings.rounds; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse();
    for (const c of order) {
      const measured = reconcileRound(c);
      c.cpu.push(measured.cpu);
      c.wall.push(measured.wall);
      progress(
        `round ${r + 1}/${settings.rounds} ${c.label}: ${fmt(measured.cpu, 1)} µs CPU per pass ` +
          `(${measured.calls} passes)`,
      );
    }
  }
  const base = median((cases[0] as ReconcileCase).cpu);
  log('CPU of one reconcile call (user + system, this process), every application deployed and running:\n');
  log(
    table(
      ['case', 'CPU µs/pass', 'min–max', 'µs per app', 'wall µs/pass', 'vs (1)'],
      cases.map((c) => [
        c.label,
        fmt(median(c.cpu), 1),
        spread(c.cpu, 1),
        fmt(median(c.cpu) / c.apps, 1),
        fmt(median(c.wall), 1),
        ratio(median(c.cpu), base),
      ]),
    ),
  );
  const hundred = cases.find((c) => c.apps === 100 && c.states.length === 100);
  if (hundred !== undefined) {
    log(
      `\n  100 apps cost ${ratio(median(hundred.cpu), base)} one app (linear would be 100.00×); ` +
        `per app ${ratio(median(hundred.cpu) / 100, base)}.`,
    );
  }
}

// ── lattice with real hosts (G2, G3) ────────────────────────────────────────────────────────────

function startHost(dir: string, natsUrl: string, slot: number): ChildServer {
  const name = `bench-apps-${slot}`;
  return ChildServer.startNode(`host ${slot}`, [
    CIRRUS_BIN,
    'up',
    '--nats',
    natsUrl,
    '--lattice',
    LATTICE,
    '--name',
    name,
    '--label',
    `${SLOT_LABEL}=${slot}`,
    '--heartbeat-interval',
    String(HEARTBEAT_S),
    '--log-level',
    'warn',
    '--cache-dir',
    join(dir, 'cache'),
  ]);
}

function checkAlive(hosts: readonly ChildServer[]): void {
  for (const host of hosts) {
    if (host.exitCode !== undefined) {
      throw new HarnessError(`${host.name} exited (${host.exitCode})\n${host.outputTail()}`);
    }
  }
}

interface Lattice {
  hosts: ChildServer[];
  /** Host ids by slot. */
  ids: string[];
  connection: NatsLatticeConnection;
  control: ControlClient;
  wadm: WadmClient;
  deadlineMs: number;
}

/** A deadline-bound wait that also fails as soon as a host exits. */
function waitOn<T>(
  lattice: Lattice,
  check: () => Promise<T | undefined | false>,
  what: string,
  ms = lattice.deadlineMs,
  intervalMs = STATUS_POLL_MS,
): Promise<T> {
  return waitFor(
    async () => {
      checkAlive(lattice.hosts);
      return check();
    },
    ms,
    what,
    intervalMs,
  );
}

async function inventories(lattice: Lattice): Promise<HostInventory[]> {
  return Promise.all(lattice.ids.map((id) => lattice.control.getInventory(id)));
}

/** Component ids running anywhere, with the slot of their host. */
async function runningComponents(lattice: Lattice): Promise<Map<string, number>> {
  const running = new Map<string, number>();
  (await inventories(lattice)).forEach((inv, slot) => {
    for (const c of inv.components) running.set(c.id, slot);
  });
  return running;
}

const hostsCpu = (lattice: Lattice): number =>
  lattice.hosts.reduce((sum, h) => sum + (h.cpuSeconds() ?? Number.NaN), 0);

// ── G2: deploy → deployed ───────────────────────────────────────────────────────────────────────

interface DeployMode {
  label: string;
  /** ms from the request to running / deployed, per round. */
  ms: number[];
  /** CPU seconds of the three hosts during that time, per round. */
  hostCpu: number[];
  /** Manager passes (host.ping requests) during that time, per round. */
  passes: number[];
  /** ms to remove it all again, per round. */
  removeMs: number[];
}

async function runDeploy(settings: Settings, lattice: Lattice, image: string): Promise<void> {
  log(
    `\n### G2. deploy → deployed: ${TEN_COMPONENTS} hello components over ${HOSTS} hosts, ` +
      `${settings.rounds} rounds\n`,
  );
  const { control, wadm, connection } = lattice;
  const text = manifestText({
    name: TEN_APP,
    components: TEN_COMPONENTS,
    slotOf: (i) => i % HOSTS,
    image,
    provider: false,
  });
  const placements = parseManifest(text).components.map((c, i) => ({ id: c.id, slot: i % HOSTS }));
  await wadm.put(text);

  // Every pass of the manager pings the hosts once: counting pings counts passes.
  const pings: number[] = [];
  const published: { at: number; type: string }[] = [];
  const subscriptions: Subscription[] = [
    connection.subscribe(`${ctlPrefix(LATTICE)}.host.ping`, {
      callback: () => pings.push(performance.now()),
    }),
    connection.subscribe(`wadm.status.${LATTICE}.${TEN_APP}`, {
      callback: (msg) => {
        const type = msg.json<{ status?: { type?: string } }>().status?.type ?? '';
        published.push({ at: performance.now(), type });
      },
    }),
  ];
  await connection.flush();

  const allGone = async (): Promise<boolean> => {
    const running = await runningComponents(lattice);
    return placements.every((p) => !running.has(p.id));
  };
  const allPlaced = async (): Promise<void> => {
    const running = await runningComponents(lattice);
    for (const p of placements) {
      if (running.get(p.id) !== p.slot) {
        throw new HarnessError(`${p.id} runs on slot ${running.get(p.id) ?? 'none'}, not ${p.slot}`);
      }
    }
  };
  const scaleAll = (count: number, only?: number): Promise<unknown> =>
    Promise.all(
      placements
        .filter((p) => only === undefined || p.slot === only)
        .map((p) =>
          control.scaleComponent(
            { hostId: lattice.ids[p.slot] as string, componentRef: image, componentId: p.id, count },
            { wait: true, waitTimeoutMs: lattice.deadlineMs },
          ),
        ),
    );

  const direct: DeployMode = {
    label: `(1) direct: ${TEN_COMPONENTS} × component.scale, concurrent, until component_scaled`,
    ms: [],
    hostCpu: [],
    passes: [],
    removeMs: [],
  };
  const managed: DeployMode = {
    label: '(2) manager: model.deploy until model.status says deployed',
    ms: [],
    hostCpu: [],
    passes: [],
    removeMs: [],
  };
  const publishedMs: number[] = [];

  const runDirect = async (): Promise<{ ms: number; cpu: number; removeMs: number }> => {
    const cpu0 = hostsCpu(lattice);
    const t0 = performance.now();
    await scaleAll(1);
    const ms = performance.now() - t0;
    const cpu = hostsCpu(lattice) - cpu0;
    await allPlaced();
    const t1 = performance.now();
    await scaleAll(0);
    await waitOn(lattice, allGone, 'the directly started components to stop');
    return { ms, cpu, removeMs: performance.now() - t1 };
  };

  const runManaged = async (): Promise<{
    ms: number;
    cpu: number;
    passes: number;
    publishedMs: number;
    removeMs: number;
  }> => {
    const cpu0 = hostsCpu(lattice);
    const t0 = performance.now();
    await wadm.deploy(TEN_APP);
    await waitOn(
      lattice,
      async () => {
        const { status } = await wadm.status(TEN_APP);
        if (status.type === 'failed') throw new HarnessError(`${TEN_APP} failed: ${status.message ?? ''}`);
        return status.type === 'deployed';
      },
      `${TEN_APP} to be deployed`,
    );
    const t1 = performance.now();
    const cpu = hostsCpu(lattice) - cpu0;
    const passes = pings.filter((at) => at >= t0 && at <= t1).length;
    await allPlaced();
    const publish = await waitOn(
      lattice,
      async () => published.find((p) => p.at >= t0 && p.type === 'deployed'),
      `the deployed status of ${TEN_APP} to be published`,
    );
    const t2 = performance.now();
    await wadm.undeploy(TEN_APP);
    await waitOn(
      lattice,
      async () => (await wadm.status(TEN_APP)).status.type === 'undeployed' && (await allGone()),
      `${TEN_APP} to be removed`,
    );
    return { ms: t1 - t0, cpu, passes, publishedMs: publish.at - t0, removeMs: performance.now() - t2 };
  };

  try {
    // Warm-up: the first load transpiles hello into the shared cache, on one host first.
    progress('warming up: hello on one host, then both modes once');
    await scaleAll(1, 0);
    await scaleAll(0, 0);
    await waitOn(lattice, allGone, 'the warm-up components to stop');
    await runDirect();
    await runManaged();
    for (let r = 0; r < settings.rounds; r++) {
      const order = r % 2 === 0 ? (['direct', 'managed'] as const) : (['managed', 'direct'] as const);
      for (const which of order) {
        if (which === 'direct') {
          const m = await runDirect();
          direct.ms.push(m.ms);
          direct.hostCpu.push(m.cpu);
          direct.removeMs.push(m.removeMs);
          progress(`round ${r + 1}/${settings.rounds} direct: ${fmt(m.ms)} ms`);
        } else {
          const m = await runManaged();
          managed.ms.push(m.ms);
          managed.hostCpu.push(m.cpu);
          managed.passes.push(m.passes);
          managed.removeMs.push(m.removeMs);
          publishedMs.push(m.publishedMs);
          progress(
            `round ${r + 1}/${settings.rounds} manager: ${fmt(m.ms)} ms (${m.passes} passes), ` +
              `published after ${fmt(m.publishedMs)} ms`,
          );
        }
      }
    }
  } finally {
    for (const s of subscriptions) s.unsubscribe();
  }

  log(
    'Medians over rounds, min–max; a pass’s ping ends once the hosts the manager knows have answered ' +
      `(at most ${SCATTER_MS} ms):\n`,
  );
  const rows = [
    [direct.label, fmt(median(direct.ms)), spread(direct.ms, 0), fmt(median(direct.hostCpu), 2), '', ''],
    [
      managed.label,
      fmt(median(managed.ms)),
      spread(managed.ms, 0),
      fmt(median(managed.hostCpu), 2),
      fmt(median(managed.passes)),
      ratio(median(managed.ms), median(direct.ms)),
    ],
    [
      '(3) manager: model.deploy until wadm.status publishes deployed',
      fmt(median(publishedMs)),
      spread(publishedMs, 0),
      '',
      '',
      ratio(median(publishedMs), median(direct.ms)),
    ],
  ];
  log(table(['mode', 'ms', 'min–max', 'hosts CPU s', 'passes', 'vs (1)'], rows));
  log(
    `\n  removal: direct ${TEN_COMPONENTS} × scale to 0 ${fmt(median(direct.removeMs))} ms ` +
      `(${spread(direct.removeMs, 0)}), manager undeploy until undeployed and stopped ` +
      `${fmt(median(managed.removeMs))} ms (${spread(managed.removeMs, 0)})`,
  );
}

// ── G3: whole passes against real hosts ─────────────────────────────────────────────────────────

interface PassMode {
  label: string;
  apps: number;
  manager: AppManager;
  api: WadmApi;
  /** This process's CPU and the time when the observe step ended, set by onObserved. */
  observedAt: { cpu: NodeJS.CpuUsage | undefined; at: number };
  rounds: PassRound[];
}

/** One round of passes, per pass; CPU in µs, net of what the same time costs with no pass. */
interface PassRound {
  cpu: number;
  /** From the pass's start to the end of its observe step (ping, inventories, links, config). */
  observeCpu: number;
  /** This process's CPU with no pass running, over a pass's wall time: subtracted from cpu. */
  idleCpu: number;
  /** The three hosts' CPU (from /proc, 10 ms ticks). */
  hostCpu: number;
  wallMs: number;
}

/**
 * A manager as the application service runs it, in this process: its onObserved writes wadm_state,
 * and a wadm API (on a lattice name of its own, so that it never answers the hosts' requests)
 * publishes the statuses that changed after each pass.
 */
async function startPassManager(
  lattice: Lattice,
  key: string,
  label: string,
  apps: number,
  logger: Logger,
): Promise<PassMode> {
  const { connection, control } = lattice;
  const writeState = wadmStateWriter(await connection.kv(STATE_BUCKET), `${LATTICE}-${key}`);
  const observedAt: PassMode['observedAt'] = { cpu: undefined, at: 0 };
  const manager = createAppManager({
    control,
    logger,
    // As the service does: the first pass need not wait out the window for hosts it does not know.
    knownHosts: lattice.ids,
    // No timer passes: the harness runs them.
    limits: {
      appResyncIntervalMs: 3_600_000,
      appBackoffMs: 1_000,
      appBackoffMaxMs: 60_000,
      controlWaitTimeoutMs: 60_000,
    },
    onObserved: async (observed) => {
      observedAt.cpu = process.cpuUsage();
      observedAt.at = performance.now();
      await writeState(observed);
    },
  });
  const api = await serveWadmApi({ connection, lattice: `${LATTICE}-${key}`, manager, logger });
  return { label, apps, manager, api, observedAt, rounds: [] };
}

async function deployAll(lattice: Lattice, mode: PassMode, manifests: AppManifest[]): Promise<void> {
  const t0 = performance.now();
  await Promise.all(manifests.map((m) => mode.manager.deploy(m)));
  await waitOn(
    lattice,
    async () => {
      await mode.manager.pass();
      const statuses = manifests.map((m) => mode.manager.status(m.name)?.status);
      const failed = statuses.find((s) => s?.type === 'failed');
      if (failed !== undefined) throw new HarnessError(`an application failed: ${failed.message ?? ''}`);
      return statuses.every((s) => s?.type === 'deployed');
    },
    `${manifests.length} applications to be deployed`,
    // A component start takes a few hundred ms of a core: allow that for each, on top of the deadline.
    lattice.deadlineMs + manifests.length * 1000,
    0,
  );
  progress(`${mode.label}: ${manifests.length} applications deployed in ${fmt(performance.now() - t0)} ms`);
}

/** CPU per ms of this process and of the hosts while no pass runs (heartbeats, event streams, leases). */
interface Idle {
  cpuPerMs: number;
  hostCpuPerMs: number;
}

async function measureIdle(lattice: Lattice, ms: number): Promise<Idle> {
  const cpu = process.cpuUsage();
  const host0 = hostsCpu(lattice);
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const elapsed = performance.now() - t0;
  return { cpuPerMs: cpuMicros(cpu) / elapsed, hostCpuPerMs: ((hostsCpu(lattice) - host0) * 1e6) / elapsed };
}

async function passRound(lattice: Lattice, mode: PassMode, passes: number, idle: Idle): Promise<PassRound> {
  let cpu = 0;
  let observeCpu = 0;
  let observeMs = 0;
  const wall: number[] = [];
  const host0 = hostsCpu(lattice);
  for (let i = 0; i < passes; i++) {
    mode.observedAt.cpu = undefined;
    const before = process.cpuUsage();
    const t0 = performance.now();
    await mode.manager.pass();
    mode.api.publishStatus();
    wall.push(performance.now() - t0);
    cpu += cpuMicros(before);
    // Set by onObserved during the pass (TypeScript still sees the undefined written above).
    const observed = mode.observedAt.cpu as NodeJS.CpuUsage | undefined;
    if (observed === undefined) throw new HarnessError(`${mode.label}: a pass did not observe the lattice`);
    observeCpu += observed.user + observed.system - (before.user + before.system);
    observeMs += mode.observedAt.at - t0;
  }
  const wallMs = wall.reduce((a, b) => a + b, 0);
  const round: PassRound = {
    cpu: (cpu - idle.cpuPerMs * wallMs) / passes,
    observeCpu: (observeCpu - idle.cpuPerMs * observeMs) / passes,
    idleCpu: (idle.cpuPerMs * wallMs) / passes,
    hostCpu: ((hostsCpu(lattice) - host0) * 1e6 - idle.hostCpuPerMs * wallMs) / passes,
    wallMs: median(wall),
  };
  return round;
}

/**
 * The control requests one pass of `mode` sends, by operation (`config.get`, `host.get`, …): the
 * fewest of three passes, as the hosts' own manager may run a pass of its own meanwhile.
 */
async function requestsOfOnePass(lattice: Lattice, mode: PassMode): Promise<string> {
  const prefix = `${ctlPrefix(LATTICE)}.`;
  let fewest: Map<string, number> | undefined;
  const total = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0);
  for (let i = 0; i < 3; i++) {
    const counts = new Map<string, number>();
    const sub = lattice.connection.subscribe(`${prefix}>`, {
      callback: (msg) => {
        const op = msg.subject.slice(prefix.length).split('.').slice(0, 2).join('.');
        counts.set(op, (counts.get(op) ?? 0) + 1);
      },
    });
    try {
      await lattice.connection.flush();
      await mode.manager.pass();
      await lattice.connection.flush();
    } finally {
      sub.unsubscribe();
    }
    if (fewest === undefined || total(counts) < total(fewest)) fewest = counts;
  }
  const counts = fewest ?? new Map<string, number>();
  const ops = [...counts].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${n} ${op}`);
  return `${total(counts)} control requests (${ops.join(', ')})`;
}

async function runPasses(settings: Settings, lattice: Lattice, image: string): Promise<void> {
  const passes = Math.max(3, Math.round(settings.calls / 100));
  log(
    `\n### G3. whole manager pass against the ${HOSTS} hosts: ${settings.rounds} rounds × ${passes} passes\n`,
  );
  const warnings: string[] = [];
  const logger: Logger = {
    ...silentLogger,
    warn: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields ?? {})}`),
    error: (message, fields) => warnings.push(`${message} ${JSON.stringify(fields ?? {})}`),
    child: () => logger,
  };
  const manifests = Array.from({ length: PASS_APPS + 1 }, (_, i) =>
    parseManifest(manifestText(manyShape(i, 1, image))),
  );
  const small = await startPassManager(lattice, 'one', '(1) 1 app, lattice of 1', 1, logger);
  const big = await startPassManager(
    lattice,
    'many',
    `(2) ${PASS_APPS} apps, lattice of ${PASS_APPS + 1}`,
    PASS_APPS,
    logger,
  );
  const smallInBig: PassMode = { ...small, label: `(3) 1 app, lattice of ${PASS_APPS + 1}`, rounds: [] };
  const modes = [small, big, smallInBig];
  const requests = new Map<PassMode, string>();
  const measure = async (r: number, mode: PassMode, idle: Idle): Promise<void> => {
    const round = await passRound(lattice, mode, passes, idle);
    mode.rounds.push(round);
    progress(
      `round ${r + 1}/${settings.rounds} ${mode.label}: ${fmt(round.cpu)} µs CPU per pass ` +
        `(+ ${fmt(round.idleCpu)} µs idle), hosts ${fmt(round.hostCpu)} µs`,
    );
  };
  try {
    await deployAll(lattice, small, manifests.slice(0, 1));
    const idle0 = await measureIdle(lattice, SCATTER_MS);
    await passRound(lattice, small, 2, idle0); // warm-up
    requests.set(small, await requestsOfOnePass(lattice, small));
    for (let r = 0; r < settings.rounds; r++) await measure(r, small, await measureIdle(lattice, IDLE_MS));
    await deployAll(lattice, big, manifests.slice(1));
    for (const mode of [big, smallInBig]) await passRound(lattice, mode, 2, idle0); // warm-up
    requests.set(big, await requestsOfOnePass(lattice, big));
    requests.set(smallInBig, await requestsOfOnePass(lattice, smallInBig));
    for (let r = 0; r < settings.rounds; r++) {
      const idle = await measureIdle(lattice, IDLE_MS);
      for (const mode of r % 2 === 0 ? [big, smallInBig] : [smallInBig, big]) await measure(r, mode, idle);
    }
    if (warnings.length > 0) {
      throw new HarnessError(`the managers warned:\n  ${warnings.slice(0, 10).join('\n  ')}`);
    }
  } finally {
    for (const mode of [small, big]) {
      await mode.manager.stop();
      await mode.api.stop();
    }
  }

  const of = (m: PassMode, key: keyof PassRound): number[] => m.rounds.map((round) => round[key]);
  const base = median(of(small, 'cpu'));
  log(
    'CPU per pass of this process (observe: ping, inventories, links, config; wadm_state; reconcile; ' +
      'status publish)\nand of the hosts answering it, each net of the same time with no pass ' +
      `(idle: heartbeats, event streams, leases);\nwall time of the median pass (its ping ends once the ${HOSTS} known hosts answered, at most ${SCATTER_MS} ms):\n`,
  );
  log(
    table(
      [
        'case',
        'CPU µs/pass',
        'min–max',
        'of it observe',
        'µs per app',
        'idle µs',
        'hosts CPU µs',
        'wall ms',
        'vs (1)',
      ],
      modes.map((m) => [
        m.label,
        fmt(median(of(m, 'cpu'))),
        spread(of(m, 'cpu'), 0),
        fmt(median(of(m, 'observeCpu'))),
        fmt(median(of(m, 'cpu')) / m.apps),
        fmt(median(of(m, 'idleCpu'))),
        fmt(median(of(m, 'hostCpu'))),
        fmt(median(of(m, 'wallMs'))),
        ratio(median(of(m, 'cpu')), base),
      ]),
    ),
  );
  log('\n  One pass sends:');
  for (const m of modes) log(`    ${m.label}: ${requests.get(m) ?? '–'}`);
  log(
    `\n  ${PASS_APPS} apps cost ${ratio(median(of(big, 'cpu')), base)} one app per pass; ` +
      `one app in the big lattice ${ratio(median(of(smallInBig, 'cpu')), base)}.`,
  );
}

// ── the part ────────────────────────────────────────────────────────────────────────────────────

export async function runApps(settings: Settings): Promise<void> {
  const image = requireHelloWasm();
  log('\n## G. Application manager\n');
  runReconcile(settings, image);

  const dir = await makeTempDir();
  const hosts: ChildServer[] = [];
  let nats: NatsServer | undefined;
  let connection: NatsLatticeConnection | undefined;
  try {
    nats = await startNatsServer();
    for (let slot = 0; slot < HOSTS; slot++) hosts.push(startHost(dir, nats.url, slot));
    connection = await connectNats({ servers: nats.url, name: 'bench-apps' });
    const control = createControlClient({
      connection,
      lattice: LATTICE,
      scatterMs: SCATTER_MS,
      timeoutMs: REQUEST_TIMEOUT_MS,
    });
    const deadlineMs = settings.startTimeout * 1000;
    const names = Array.from({ length: HOSTS }, (_, slot) => `bench-apps-${slot}`);
    const ids = await waitFor(
      async () => {
        checkAlive(hosts);
        const seen = await control.pingHosts();
        const found = names.map((name) => seen.find((h) => h.friendly_name === name)?.id);
        return found.every((id) => id !== undefined) ? found : undefined;
      },
      deadlineMs,
      `the ${HOSTS} hosts to answer a ping`,
    );
    const wadm = createWadmClient(connection, LATTICE, REQUEST_TIMEOUT_MS);
    const lattice: Lattice = { hosts, ids, connection, control, wadm, deadlineMs };
    await waitOn(
      lattice,
      () =>
        wadm.list().then(
          () => true,
          () => false,
        ),
      'the application manager to answer the wadm API',
    );
    await runDeploy(settings, lattice, image);
    await runPasses(settings, lattice, image);
  } catch (err) {
    if (err instanceof HarnessError) throw err;
    throw new HarnessError(`${describeError(err)}\n${hosts.map((h) => h.outputTail()).join('\n')}`);
  } finally {
    await connection?.close();
    for (const host of hosts) await host.stop();
    await nats?.stop();
    await removeTempDir(dir);
  }
}
