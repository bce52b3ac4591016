/**
 * The observed lattice indexed for the reconciler, once per observed lattice object (`reconcile`
 * indexes a copy of its own, so that a caller's later changes are never hidden by a stale index):
 * workloads by host and id, by the application annotated on them, and links by key.
 */
import type { Link } from '@cirrus/protocol';
import { APP_SPEC } from './plan.ts';
import type { ObservedComponent, ObservedHost, ObservedLattice, ObservedProvider } from './placement.ts';

/**
 * The observed lattice by host and workload id, by the application annotated on what runs, and its
 * links by key: built once per observed lattice, so that a pass costs what the applications hold,
 * not applications × lattice.
 */
interface LatticeIndex {
  components: Map<string, Map<string, ObservedComponent>>;
  providers: Map<string, Map<string, ObservedProvider>>;
  byApp: Map<string, { host: ObservedHost; component?: ObservedComponent; provider?: ObservedProvider }[]>;
  links: Map<string, Link[]>;
}

const indexes = new WeakMap<ObservedLattice, LatticeIndex>();

const linkKey = (l: Link): string =>
  `${l.source_id}\u0000${l.wit_namespace}\u0000${l.wit_package}\u0000${l.name}`;

function indexOf(observed: ObservedLattice): LatticeIndex {
  const known = indexes.get(observed);
  if (known !== undefined) return known;
  const index: LatticeIndex = {
    components: new Map(),
    providers: new Map(),
    byApp: new Map(),
    links: new Map(),
  };
  const placed = (
    app: string | undefined,
  ): { host: ObservedHost; component?: ObservedComponent; provider?: ObservedProvider }[] => {
    const key = app ?? '';
    let list = index.byApp.get(key);
    if (list === undefined) index.byApp.set(key, (list = []));
    return list;
  };
  for (const host of observed.hosts) {
    index.components.set(host.id, new Map(host.components.map((c) => [c.id, c])));
    index.providers.set(host.id, new Map(host.providers.map((p) => [p.id, p])));
    for (const component of host.components)
      placed(component.annotations[APP_SPEC]).push({ host, component });
    for (const provider of host.providers) placed(provider.annotations[APP_SPEC]).push({ host, provider });
  }
  for (const link of observed.links) {
    const key = linkKey(link);
    index.links.set(key, [...(index.links.get(key) ?? []), link]);
  }
  indexes.set(observed, index);
  return index;
}

export const componentOn = (
  observed: ObservedLattice,
  hostId: string,
  id: string,
): ObservedComponent | undefined => indexOf(observed).components.get(hostId)?.get(id);

export const providerOn = (
  observed: ObservedLattice,
  hostId: string,
  id: string,
): ObservedProvider | undefined => indexOf(observed).providers.get(hostId)?.get(id);

/** The observed links under the same key as `link` (source, namespace, package and name). */
export const linksLike = (observed: ObservedLattice, link: Link): readonly Link[] =>
  indexOf(observed).links.get(linkKey(link)) ?? [];

/** What runs annotated as placed by application `app`, with the host it runs on. */
export const placedBy = (
  observed: ObservedLattice,
  app: string,
): readonly { host: ObservedHost; component?: ObservedComponent; provider?: ObservedProvider }[] =>
  indexOf(observed).byApp.get(app) ?? [];
