/**
 * The lattice as the reconciler sees it, and where a workload should run in it: a spreadscaler's
 * instances shared among its spreads by weight as wadm 0.2x shares them (rounded down, the remainder
 * one each to the first spreads), each spread's share among the hosts whose labels hold all its
 * requirements, hosts already running the workload first; a daemonscaler's on every such host.
 */
import type { Link, StringMap } from '@cirrus/protocol';
import type { AppComponent, AppSpread } from './manifest.ts';

export interface ObservedComponent {
  id: string;
  imageRef: string;
  count: number;
  annotations: StringMap;
}

export interface ObservedProvider {
  id: string;
  imageRef: string;
  annotations: StringMap;
}

export interface ObservedHost {
  id: string;
  labels: StringMap;
  components: readonly ObservedComponent[];
  providers: readonly ObservedProvider[];
}

export interface ObservedLattice {
  hosts: readonly ObservedHost[];
  links: readonly Link[];
  configs: ReadonlyMap<string, StringMap>;
  /**
   * Starts sent that no host shows yet (hosts answer a start before it is done): placement prefers
   * their hosts, so that a pass in between does not start the same replica somewhere else.
   */
  starting?: readonly { workloadId: string; hostId: string }[];
}

/** Whether a start of `workloadId` on `hostId` was sent and has not shown yet. */
export function isStarting(observed: ObservedLattice, workloadId: string, hostId: string): boolean {
  return observed.starting?.some((s) => s.workloadId === workloadId && s.hostId === hostId) ?? false;
}

/** Each spread's share of `instances`, as wadm computes it; no spreads is one spread over every host. */
export function spreadShares(instances: number, spreads: readonly AppSpread[]): number[] {
  if (spreads.length === 0) return [instances];
  const total = spreads.reduce((sum, s) => sum + s.weight, 0);
  const shares = spreads.map((s) => (total === 0 ? 0 : Math.floor((instances * s.weight) / total)));
  let left = instances - shares.reduce((sum, n) => sum + n, 0);
  for (let i = 0; left > 0 && i < shares.length; i += 1, left -= 1) shares[i] = (shares[i] as number) + 1;
  return shares;
}

const ANY_HOST: AppSpread = { name: 'default', requirements: {}, weight: 100, line: 0 };

function matches(host: ObservedHost, requirements: StringMap): boolean {
  return Object.entries(requirements).every(([key, value]) => host.labels[key] === value);
}

function describeRequirements(spread: AppSpread): string {
  const labels = Object.entries(spread.requirements).map(([k, v]) => `${k}=${v}`);
  return labels.length === 0 ? 'no host' : `no host has the labels ${labels.join(', ')}`;
}

export interface Placement {
  /** Desired instances (for a provider, 1 or nothing) per host id. */
  perHost: Map<string, number>;
  /** Why some instances have nowhere to go. */
  waiting: string[];
}

export function place(
  workload: AppComponent,
  hosts: readonly ObservedHost[],
  runningOn: (host: ObservedHost) => number,
): Placement {
  const { scaler } = workload;
  const perHost = new Map<string, number>();
  const waiting: string[] = [];
  const spreads = scaler.spread.length === 0 ? [ANY_HOST] : scaler.spread;
  const add = (hostId: string, n: number): void => {
    perHost.set(hostId, (perHost.get(hostId) ?? 0) + n);
  };
  const provider = workload.kind === 'capability';
  if (scaler.kind === 'daemon') {
    for (const host of hosts) {
      if (spreads.some((s) => matches(host, s.requirements))) add(host.id, provider ? 1 : scaler.instances);
    }
    if (perHost.size === 0 && scaler.instances > 0) {
      waiting.push(`daemon ${workload.name}: ${spreads.map(describeRequirements).join('; ')}`);
    }
    return { perHost, waiting };
  }
  const shares = spreadShares(scaler.instances, scaler.spread);
  spreads.forEach((spread, i) => {
    const share = shares[i] as number;
    if (share === 0) return;
    // Hosts already running the workload first, so that a pass moves as little as it can.
    const eligible = hosts
      .filter((h) => matches(h, spread.requirements))
      .sort((a, b) => runningOn(b) - runningOn(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (eligible.length === 0) {
      waiting.push(`spread ${spread.name}: ${describeRequirements(spread)}`);
      return;
    }
    if (provider) {
      for (const host of eligible.slice(0, share)) perHost.set(host.id, 1);
      if (share > eligible.length) {
        waiting.push(
          `spread ${spread.name}: ${share} hosts wanted, ${eligible.length} ${eligible.length === 1 ? 'has' : 'have'} the labels`,
        );
      }
      return;
    }
    const base = Math.floor(share / eligible.length);
    const extra = share % eligible.length;
    eligible.forEach((host, j) => {
      const n = base + (j < extra ? 1 : 0);
      if (n > 0) add(host.id, n);
    });
  });
  return { perHost, waiting };
}
