/**
 * The lattice as wadm 0.2x records it in the `wadm_state` bucket, which wasmCloud's dashboard and
 * `@wasmcloud/lattice-client-core`'s `hosts.list` read: keys `host_<lattice>`, `component_<lattice>`
 * and `provider_<lattice>`, each a JSON object keyed by id. The active manager writes them from what
 * each pass observed, and only when something other than the hosts' uptime changed.
 */
import type { KvBucket } from '@cirrus/lattice';
import type { HostInventory } from '@cirrus/protocol';

export const STATE_BUCKET = 'wadm_state';

/** The three documents, from the hosts' inventories. `now` stamps the hosts' `last_seen`. */
export function wadmStateDocuments(
  inventories: readonly HostInventory[],
  now: Date,
): { host: Record<string, unknown>; component: Record<string, unknown>; provider: Record<string, unknown> } {
  const host: Record<string, unknown> = {};
  const component: Record<
    string,
    {
      id: string;
      name: string;
      issuer: string;
      reference: string;
      instances: Record<string, { annotations: Record<string, string>; count: number }[]>;
    }
  > = {};
  const provider: Record<
    string,
    { id: string; name: string; issuer: string; reference: string; hosts: Record<string, string> }
  > = {};
  for (const inventory of inventories) {
    host[inventory.host_id] = {
      components: Object.fromEntries(inventory.components.map((c) => [c.id, c.max_instances])),
      friendly_name: inventory.friendly_name,
      labels: inventory.labels,
      providers: inventory.providers.map((p) => ({
        provider_id: p.id,
        provider_ref: p.image_ref ?? '',
        annotations: p.annotations ?? {},
      })),
      uptime_seconds: inventory.uptime_seconds,
      version: inventory.version,
      id: inventory.host_id,
      last_seen: now.toISOString(),
    };
    for (const c of inventory.components) {
      const entry = (component[c.id] ??= {
        id: c.id,
        name: c.name ?? c.id,
        issuer: '',
        reference: c.image_ref,
        instances: {},
      });
      entry.instances[inventory.host_id] = [{ annotations: c.annotations, count: c.max_instances }];
    }
    for (const p of inventory.providers) {
      const entry = (provider[p.id] ??= {
        id: p.id,
        name: p.name ?? p.id,
        issuer: '',
        reference: p.image_ref ?? '',
        hosts: {},
      });
      entry.hosts[inventory.host_id] = 'Running';
    }
  }
  return { host, component, provider };
}

const encoder = new TextEncoder();

/** Writes the documents that changed since the last call; returns how to call it again. */
export function wadmStateWriter(
  kv: KvBucket,
  lattice: string,
): (inventories: readonly HostInventory[]) => Promise<void> {
  const written = new Map<string, string>();
  // Uptime and last_seen change on every pass: compared without them, they are refreshed when
  // anything else changes, or once a minute.
  const REFRESH_MS = 60_000;
  let refreshedAt = 0;
  return async (inventories) => {
    const now = Date.now();
    const documents = wadmStateDocuments(inventories, new Date(now));
    const refresh = now - refreshedAt >= REFRESH_MS;
    for (const [kind, document] of Object.entries(documents)) {
      const key = `${kind}_${lattice}`;
      const comparable = JSON.stringify(document, (k, v: unknown) =>
        k === 'uptime_seconds' || k === 'last_seen' ? undefined : v,
      );
      if (!refresh && written.get(key) === comparable) continue;
      await kv.put(key, encoder.encode(JSON.stringify(document)));
      written.set(key, comparable);
    }
    if (refresh) refreshedAt = now;
  };
}
