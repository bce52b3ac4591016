/**
 * The application manager's decisions, as one pure function: the applications as they should be and
 * the lattice as it was last seen give the control commands that close the gap, and the status of
 * every scaler. The runner around it feeds it what hosts report and sends what it returns; running it
 * again on the same input gives the same answer, so a missed event is corrected by the next pass.
 *
 * Where workloads go is placement.ts (wadm 0.2x's spreads and daemons); a provider runs at most
 * once per host, so its instances count hosts. What the manager placed carries
 * the 1.x annotations, and anything of an application's that is not where it should be is undone.
 */
import type { Link, StringMap } from '@cirrus/protocol';
import type { AppComponent, AppLink, AppManifest, NamedConfigRef } from './manifest.ts';
import { APP_SPEC, MANAGED_BY } from './plan.ts';
import { componentOn, linksLike, placedBy, providerOn } from './observed-index.ts';
import { isStarting, place } from './placement.ts';
import type { ObservedHost, ObservedLattice, Placement } from './placement.ts';

export { spreadShares } from './placement.ts';
export type { ObservedComponent, ObservedHost, ObservedLattice, ObservedProvider } from './placement.ts';

/** A start or scale that a host refused, as its event reported it. */
export interface WorkloadFailure {
  workloadId: string;
  hostId: string;
  message: string;
}

export interface AppState {
  manifest: AppManifest;
  /** False: everything the manifest placed is removed (an undeployed or deleted application). */
  deployed: boolean;
  /**
   * The version deployed before this one, during an upgrade: its links and config that this version
   * no longer has are removed (workloads are recognised by their annotations).
   */
  previous?: AppManifest;
  failures?: readonly WorkloadFailure[];
}

export type ReconcileCommand =
  | { op: 'put-config'; name: string; values: StringMap }
  | {
      op: 'scale-component';
      hostId: string;
      componentId: string;
      imageRef: string;
      count: number;
      config: string[];
      annotations: StringMap;
    }
  | { op: 'update-component'; hostId: string; componentId: string; imageRef: string; annotations: StringMap }
  | {
      op: 'start-provider';
      hostId: string;
      providerId: string;
      imageRef: string;
      config: string[];
      annotations: StringMap;
    }
  | { op: 'stop-provider'; hostId: string; providerId: string }
  | { op: 'put-link'; link: Link }
  | { op: 'delete-link'; sourceId: string; name: string; namespace: string; package: string }
  | { op: 'delete-config'; name: string };

/** wadm's status types; `failed` outranks the rest, then `undeployed`, `waiting`, `reconciling`. */
export type StatusType = 'undeployed' | 'reconciling' | 'deployed' | 'failed' | 'waiting' | 'unhealthy';

export interface StatusInfo {
  type: StatusType;
  message?: string;
}

export interface ScalerStatus {
  id: string;
  kind: 'SpreadScaler' | 'DaemonScaler' | 'LinkScaler' | 'ConfigScaler';
  name: string;
  status: StatusInfo;
}

export interface AppStatus {
  status: StatusInfo;
  scalers: ScalerStatus[];
}

export interface Reconciliation {
  /** In order: config, then starts and scales, then links, then what is stopped or deleted. */
  commands: ReconcileCommand[];
  status: Map<string, AppStatus>;
}

const PRECEDENCE: readonly StatusType[] = ['failed', 'undeployed', 'waiting', 'reconciling', 'unhealthy'];

/** The 1.x aggregation: the highest-ranking status among the scalers, deployed when all are. */
export function aggregateStatus(scalers: readonly ScalerStatus[]): StatusInfo {
  for (const type of PRECEDENCE) {
    const found = scalers.find((s) => s.status.type === type);
    if (found !== undefined) return found.status;
  }
  return { type: 'deployed' };
}

function configNames(refs: readonly NamedConfigRef[]): string[] {
  return refs.map((r) => r.name);
}

function sameMap(a: StringMap, b: StringMap): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sortedB = [...b].sort();
  return [...a].sort().every((x, i) => x === sortedB[i]);
}

function linkOf(source: AppComponent, link: AppLink, ids: ReadonlyMap<string, string>): Link {
  return {
    source_id: source.id,
    target: ids.get(link.target) ?? link.target,
    name: link.name,
    wit_namespace: link.namespace,
    wit_package: link.package,
    interfaces: link.interfaces,
    source_config: configNames(link.sourceConfig),
    target_config: configNames(link.targetConfig),
  };
}

function sameLinkKey(a: Link, b: Link): boolean {
  return (
    a.source_id === b.source_id &&
    a.name === b.name &&
    a.wit_namespace === b.wit_namespace &&
    a.wit_package === b.wit_package
  );
}

function sameLink(a: Link, b: Link): boolean {
  return (
    sameLinkKey(a, b) &&
    a.target === b.target &&
    sameList(a.interfaces, b.interfaces) &&
    sameList(a.source_config, b.source_config) &&
    sameList(a.target_config, b.target_config)
  );
}

/** Every named config the manifest gives values for: what it creates, and removes when undeployed. */
function ownConfigs(manifest: AppManifest): Map<string, StringMap> {
  const out = new Map<string, StringMap>();
  const collect = (refs: readonly NamedConfigRef[]): void => {
    for (const ref of refs) if (ref.values !== undefined) out.set(ref.name, ref.values);
  };
  for (const c of manifest.components) {
    collect(c.config);
    for (const link of c.links) {
      collect(link.sourceConfig);
      collect(link.targetConfig);
    }
  }
  return out;
}

interface Pass {
  starts: ReconcileCommand[];
  links: ReconcileCommand[];
  removals: ReconcileCommand[];
  configs: ReconcileCommand[];
}

/** Decides the commands and statuses for `apps` against what the lattice holds now. */
export function reconcile(
  apps: readonly AppState[],
  observed: ObservedLattice,
  managedBy = 'cirrus',
): Reconciliation {
  const pass: Pass = { starts: [], links: [], removals: [], configs: [] };
  const status = new Map<string, AppStatus>();
  // A copy of its own, so that this call's index of it is built once and never outlives the call.
  const lattice: ObservedLattice = { ...observed };
  for (const app of apps) {
    const scalers = app.deployed
      ? deploy(app, lattice, managedBy, pass)
      : undeploy(app.manifest, lattice, pass);
    status.set(app.manifest.name, {
      status: app.deployed ? aggregateStatus(scalers) : undeployedStatus(scalers),
      scalers,
    });
  }
  return { commands: [...pass.configs, ...pass.starts, ...pass.links, ...pass.removals], status };
}

function undeployedStatus(scalers: readonly ScalerStatus[]): StatusInfo {
  return scalers.some((s) => s.status.type === 'reconciling')
    ? { type: 'reconciling', message: 'removing what the application placed' }
    : { type: 'undeployed' };
}

function deploy(app: AppState, observed: ObservedLattice, managedBy: string, pass: Pass): ScalerStatus[] {
  const { manifest } = app;
  const annotations: StringMap = { [MANAGED_BY]: managedBy, [APP_SPEC]: manifest.name };
  const scalers: ScalerStatus[] = [];
  for (const [name, values] of ownConfigs(manifest)) {
    const current = observed.configs.get(name);
    const converged = current !== undefined && sameMap(current, values);
    if (!converged) pass.configs.push({ op: 'put-config', name, values });
    scalers.push({
      id: `ConfigScaler-${manifest.name}-${name}`,
      kind: 'ConfigScaler',
      name,
      status: converged ? { type: 'deployed' } : { type: 'reconciling', message: `putting config ${name}` },
    });
  }
  const ids = new Map(manifest.components.map((c) => [c.name, c.id]));
  for (const workload of ownWorkloads(manifest)) {
    const before = pass.starts.length + pass.removals.length;
    const placement =
      workload.kind === 'capability'
        ? placeProvider(workload, observed, annotations, pass)
        : placeComponent(workload, observed, annotations, pass);
    const changed = pass.starts.length + pass.removals.length > before;
    const failure = app.failures?.find((f) => f.workloadId === workload.id);
    let state: StatusInfo = { type: 'deployed' };
    if (placement.waiting.length > 0) state = { type: 'waiting', message: placement.waiting.join('; ') };
    else if (changed && failure !== undefined)
      state = { type: 'failed', message: `host ${failure.hostId}: ${failure.message}` };
    else if (changed) state = { type: 'reconciling', message: `placing ${workload.name}` };
    scalers.push({
      id: `${workload.scaler.kind === 'daemon' ? 'DaemonScaler' : 'SpreadScaler'}-${manifest.name}-${workload.name}`,
      kind: workload.scaler.kind === 'daemon' ? 'DaemonScaler' : 'SpreadScaler',
      name: workload.name,
      status: state,
    });
  }
  for (const source of manifest.components) {
    for (const appLink of source.links) {
      const link = linkOf(source, appLink, ids);
      const converged = linksLike(observed, link).some((l) => sameLink(l, link));
      if (!converged) pass.links.push({ op: 'put-link', link });
      scalers.push({
        id: `LinkScaler-${manifest.name}-${source.name}-${link.wit_namespace}:${link.wit_package}-${link.name}`,
        kind: 'LinkScaler',
        name: `${source.name} → ${appLink.target}`,
        status: converged ? { type: 'deployed' } : { type: 'reconciling', message: 'putting the link' },
      });
    }
  }
  removeLeftovers(manifest, observed, managedBy, pass);
  if (app.previous !== undefined) removePrevious(app.previous, manifest, observed, pass);
  return scalers;
}

/** Links and config of the previous version that this one does not have. */
function removePrevious(
  previous: AppManifest,
  current: AppManifest,
  observed: ObservedLattice,
  pass: Pass,
): void {
  const kept = currentLinks(current);
  for (const link of currentLinks(previous)) {
    if (kept.some((l) => sameLinkKey(l, link))) continue;
    if (linksLike(observed, link).some((l) => l.target === link.target)) pass.links.push(deleteLink(link));
  }
  const keptConfigs = ownConfigs(current);
  for (const name of ownConfigs(previous).keys()) {
    if (!keptConfigs.has(name) && observed.configs.has(name))
      pass.removals.push({ op: 'delete-config', name });
  }
}

function currentLinks(manifest: AppManifest): Link[] {
  const ids = new Map(manifest.components.map((c) => [c.name, c.id]));
  return manifest.components.flatMap((source) => source.links.map((link) => linkOf(source, link, ids)));
}

function deleteLink(link: Link): ReconcileCommand {
  return {
    op: 'delete-link',
    sourceId: link.source_id,
    name: link.name,
    namespace: link.wit_namespace,
    package: link.wit_package,
  };
}

function placeComponent(
  workload: AppComponent,
  observed: ObservedLattice,
  annotations: StringMap,
  pass: Pass,
): Placement {
  const runningOn = (host: ObservedHost): number =>
    componentOn(observed, host.id, workload.id)?.count ??
    (isStarting(observed, workload.id, host.id) ? 1 : 0);
  const placement = place(workload, observed.hosts, runningOn);
  for (const host of observed.hosts) {
    const want = placement.perHost.get(host.id) ?? 0;
    const have = componentOn(observed, host.id, workload.id);
    if (want === 0) {
      if (have !== undefined) {
        pass.removals.push(scale(host.id, workload, have.imageRef, 0, annotations));
      }
      continue;
    }
    if (have !== undefined && !sameImage(have.imageRef, workload.image)) {
      pass.starts.push({
        op: 'update-component',
        hostId: host.id,
        componentId: workload.id,
        imageRef: workload.image,
        annotations,
      });
      continue;
    }
    if (have?.count !== want) pass.starts.push(scale(host.id, workload, workload.image, want, annotations));
  }
  return placement;
}

/** 1.x hosts report a provider's image without its transport scheme (`file://`, `oci://`). */
function sameImage(reported: string, wanted: string): boolean {
  const bare = (ref: string): string => ref.replace(/^(file|oci|https?):\/\//, '');
  return reported === wanted || bare(reported) === bare(wanted);
}

function scale(
  hostId: string,
  workload: AppComponent,
  imageRef: string,
  count: number,
  annotations: StringMap,
): ReconcileCommand {
  return {
    op: 'scale-component',
    hostId,
    componentId: workload.id,
    imageRef,
    count,
    config: configNames(workload.config),
    annotations,
  };
}

function placeProvider(
  workload: AppComponent,
  observed: ObservedLattice,
  annotations: StringMap,
  pass: Pass,
): Placement {
  const runningOn = (host: ObservedHost): number =>
    providerOn(observed, host.id, workload.id) !== undefined || isStarting(observed, workload.id, host.id)
      ? 1
      : 0;
  const placement = place(workload, observed.hosts, runningOn);
  for (const host of observed.hosts) {
    const want = placement.perHost.has(host.id);
    const have = providerOn(observed, host.id, workload.id);
    // A provider with another image is stopped first; the next pass starts the new one.
    if (have !== undefined && (!want || !sameImage(have.imageRef, workload.image))) {
      pass.removals.push({ op: 'stop-provider', hostId: host.id, providerId: workload.id });
    } else if (have === undefined && want) {
      pass.starts.push({
        op: 'start-provider',
        hostId: host.id,
        providerId: workload.id,
        imageRef: workload.image,
        config: configNames(workload.config),
        annotations,
      });
    }
  }
  return placement;
}

/** The workloads an application places: those of a shared application are placed by it. */
function ownWorkloads(manifest: AppManifest): AppComponent[] {
  return manifest.components.filter((c) => c.shared === undefined);
}

/** Workloads the application placed that its manifest no longer has (an upgrade removed them). */
function removeLeftovers(
  manifest: AppManifest,
  observed: ObservedLattice,
  managedBy: string,
  pass: Pass,
): void {
  const wanted = new Set(manifest.components.map((c) => c.id));
  for (const { host, component, provider } of placedBy(observed, manifest.name)) {
    const placed = component ?? provider;
    if (placed === undefined || wanted.has(placed.id) || placed.annotations[MANAGED_BY] !== managedBy)
      continue;
    if (component !== undefined) {
      pass.removals.push({
        op: 'scale-component',
        hostId: host.id,
        componentId: component.id,
        imageRef: component.imageRef,
        count: 0,
        config: [],
        annotations: component.annotations,
      });
    } else {
      pass.removals.push({ op: 'stop-provider', hostId: host.id, providerId: placed.id });
    }
  }
}

function undeploy(manifest: AppManifest, observed: ObservedLattice, pass: Pass): ScalerStatus[] {
  const scalers: ScalerStatus[] = [];
  const ids = new Map(manifest.components.map((c) => [c.name, c.id]));
  for (const workload of ownWorkloads(manifest)) {
    let placed = false;
    for (const host of observed.hosts) {
      const component = componentOn(observed, host.id, workload.id);
      if (component !== undefined && workload.kind === 'component') {
        placed = true;
        pass.removals.push({
          op: 'scale-component',
          hostId: host.id,
          componentId: workload.id,
          imageRef: component.imageRef,
          count: 0,
          config: [],
          annotations: component.annotations,
        });
      }
      if (workload.kind === 'capability' && providerOn(observed, host.id, workload.id) !== undefined) {
        placed = true;
        pass.removals.push({ op: 'stop-provider', hostId: host.id, providerId: workload.id });
      }
    }
    scalers.push(
      removal(
        workload.scaler.kind === 'daemon' ? 'DaemonScaler' : 'SpreadScaler',
        manifest,
        workload.name,
        placed,
      ),
    );
  }
  for (const source of manifest.components) {
    for (const appLink of source.links) {
      const link = linkOf(source, appLink, ids);
      // Only the link the application put: one another source put since under the same key stays.
      const present = linksLike(observed, link).some((l) => l.target === link.target);
      if (present) pass.links.push(deleteLink(link));
      scalers.push(removal('LinkScaler', manifest, `${source.name} → ${appLink.target}`, present));
    }
  }
  for (const name of ownConfigs(manifest).keys()) {
    const present = observed.configs.has(name);
    if (present) pass.removals.push({ op: 'delete-config', name });
    scalers.push(removal('ConfigScaler', manifest, name, present));
  }
  return scalers;
}

function removal(
  kind: ScalerStatus['kind'],
  manifest: AppManifest,
  name: string,
  present: boolean,
): ScalerStatus {
  return {
    id: `${kind}-${manifest.name}-${name}`,
    kind,
    name,
    status: present ? { type: 'reconciling', message: `removing ${name}` } : { type: 'undeployed' },
  };
}
