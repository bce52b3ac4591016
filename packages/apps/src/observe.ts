/**
 * The lattice as the reconciler sees it, read over the 1.x control interface: every host that
 * answers a ping with its inventory, the links, and the named config the applications refer to.
 */
import type { ControlClient } from '@cirrus/control-client';
import type { HostInventory, StringMap } from '@cirrus/protocol';
import type { ObservedHost, ObservedLattice } from './placement.ts';

/** One host's inventory in the reconciler's terms. */
export function observedHost(inventory: HostInventory): ObservedHost {
  return {
    id: inventory.host_id,
    labels: inventory.labels,
    components: inventory.components.map((c) => ({
      id: c.id,
      imageRef: c.image_ref,
      count: c.max_instances,
      annotations: c.annotations,
    })),
    providers: inventory.providers.map((p) => ({
      id: p.id,
      imageRef: p.image_ref ?? '',
      annotations: p.annotations ?? {},
    })),
  };
}

/**
 * Reads the lattice now. A host that stops answering between its ping and its inventory is left
 * out, as it would be a moment later. Once every one of `knownHosts` has answered the ping, the
 * rest of the scatter window is not waited for: a host the caller did not know of yet is seen by a
 * later pass (its host_started event asks for one).
 */
export async function observeLattice(
  control: ControlClient,
  configNames: Iterable<string>,
  knownHosts: Iterable<string> = [],
): Promise<{ observed: ObservedLattice; inventories: HostInventory[] }> {
  const pinged = await control.pingHosts({ expect: knownHosts });
  // Links and config are served by hosts: with none on the lattice there is nobody to ask.
  if (pinged.length === 0) return { observed: { hosts: [], links: [], configs: new Map() }, inventories: [] };
  const [answered, links, configs] = await Promise.all([
    Promise.all(pinged.map((h) => control.getInventory(h.id).catch(() => undefined))),
    control.getLinks(),
    Promise.all(
      [...new Set(configNames)].map(async (name) => [name, await control.getConfig(name)] as const),
    ),
  ]);
  const inventories = answered
    .filter((h) => h !== undefined)
    .sort((a, b) => (a.host_id < b.host_id ? -1 : 1));
  return {
    observed: {
      hosts: inventories.map(observedHost),
      links,
      configs: new Map(
        configs.filter((entry): entry is readonly [string, StringMap] => entry[1] !== undefined),
      ),
    },
    inventories,
  };
}
