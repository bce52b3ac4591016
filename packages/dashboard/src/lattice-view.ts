/**
 * What the dashboard knows of the lattice: a snapshot read through the control interface and the
 * wadm API on demand, plus what only the event stream tells (when each host was last heard from,
 * providers' health, the config names set). Each part of a snapshot that cannot be read is reported
 * in its place, so one silent host or a missing application manager never empties the page.
 */
import type { WadmClient } from '@cirrus/apps';
import type { ControlClient, EventStream } from '@cirrus/control-client';
import { toErrorJSON } from '@cirrus/protocol';
import type { CloudEvent, HostInfo, Logger } from '@cirrus/protocol';
import type { HostView, LatticeSnapshot, ProviderHealth, Unavailable } from './api-types.ts';

export interface LatticeViewOptions {
  lattice: string;
  control: ControlClient;
  /** For the snapshot's list of applications: a short deadline, as no manager may run at all. */
  wadm: WadmClient;
  /** The same without waiting for a manager to take over: asked while none has answered. */
  wadmOnce: WadmClient;
  /** A host unheard of for this long is shown as stale (three default heartbeat intervals). */
  staleAfterMs: number;
  now: () => number;
  logger: Logger;
}

function unavailable(err: unknown): Unavailable {
  const { code, message } = toErrorJSON(err, 'CONTROL_REQUEST_FAILED');
  return { unavailable: { code, message } };
}

async function settle<T>(work: Promise<T>): Promise<T | Unavailable> {
  try {
    return await work;
  } catch (err) {
    return unavailable(err);
  }
}

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export class LatticeView {
  readonly #options: LatticeViewOptions;
  readonly #lastSeen = new Map<string, number>();
  readonly #health = new Map<string, ProviderHealth>();
  readonly #configs = new Set<string>();
  /**
   * Whether the last list of applications found no manager: then the next asks once instead of
   * waiting out the deadline (500 ms) for one to take over, which every snapshot would pay.
   */
  #noManager = false;
  readonly #listeners = new Set<(event: CloudEvent) => void>();
  readonly #events: EventStream;
  readonly #pumped: Promise<void>;

  constructor(options: LatticeViewOptions) {
    this.#options = options;
    this.#events = options.control.events();
    this.#pumped = this.#pump();
    // Learns the hosts in the background, so that a snapshot waits only for hosts it knows of.
    void options.control.pingHosts().then(
      (infos) => {
        for (const info of infos)
          if (!this.#lastSeen.has(info.id)) this.#lastSeen.set(info.id, options.now());
      },
      () => undefined,
    );
  }

  /** Calls `listener` with every lattice event from now on; returns the unsubscriber. */
  listen(listener: (event: CloudEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #pump(): Promise<void> {
    try {
      for await (const event of this.#events) {
        this.#learn(event);
        for (const listener of this.#listeners) listener(event);
      }
    } catch (err) {
      this.#options.logger.warn('dashboard event stream ended', { error: String(err) });
    }
  }

  #learn(event: CloudEvent): void {
    const data = event.data;
    const hostId = text(data['host_id']) ?? text(data['id']) ?? event.source;
    const kind = event.type.replace(/^com\.wasmcloud\.lattice\./, '');
    if (kind === 'host_stopped') {
      this.#lastSeen.delete(hostId);
      return;
    }
    this.#lastSeen.set(hostId, this.#options.now());
    if (kind === 'config_set') {
      const name = text(data['config_name']);
      if (name !== undefined) this.#configs.add(name);
    } else if (kind === 'config_deleted') {
      const name = text(data['config_name']);
      if (name !== undefined) this.#configs.delete(name);
    } else if (kind.startsWith('health_check_')) {
      const providerId = text(data['provider_id']);
      if (providerId === undefined) return;
      const key = `${hostId}\0${providerId}`;
      // health_check_status reports an unchanged state: passed and failed report the changes.
      const healthy =
        kind === 'health_check_status'
          ? (this.#health.get(key)?.healthy ?? true)
          : kind === 'health_check_passed';
      this.#health.set(key, {
        hostId,
        providerId,
        healthy,
        atMs: this.#options.now(),
      });
    }
  }

  /** The hosts heard from within the stale window. */
  recentHosts(): string[] {
    const { now, staleAfterMs } = this.#options;
    return [...this.#lastSeen].filter(([, at]) => now() - at <= staleAfterMs).map(([id]) => id);
  }

  async snapshot(): Promise<LatticeSnapshot> {
    const { control, wadm, lattice, now, staleAfterMs } = this.#options;
    // A ping collects answers for the whole scatter window (2 s) unless every host it expects has
    // answered: those heard from lately are expected; a new host announces itself with events.
    const recent = this.recentHosts();
    const [hosts, links, claims, apps] = await Promise.all([
      settle(control.pingHosts({ expect: recent })),
      settle(control.getLinks()),
      settle(control.getClaims()),
      settle((this.#noManager ? this.#options.wadmOnce : wadm).list()),
    ]);
    this.#noManager = 'unavailable' in apps && apps.unavailable.code === 'NO_RESPONDERS';
    const takenAtMs = now();
    const infos: HostInfo[] = 'unavailable' in hosts ? [] : hosts;
    for (const info of infos) this.#lastSeen.set(info.id, takenAtMs);
    const views: HostView[] = await Promise.all(
      infos.map(async (info) => {
        const lastSeenMs = this.#lastSeen.get(info.id) ?? takenAtMs;
        return {
          info,
          lastSeenMs,
          stale: takenAtMs - lastSeenMs > staleAfterMs,
          inventory: await settle(control.getInventory(info.id)),
        };
      }),
    );
    // Hosts heard from lately that did not answer this ping are still shown, as stale.
    const answered = new Set(infos.map((info) => info.id));
    for (const [id, lastSeenMs] of this.#lastSeen) {
      if (answered.has(id) || takenAtMs - lastSeenMs > 10 * staleAfterMs) continue;
      views.push({
        info: {
          id,
          friendly_name: id,
          labels: {},
          lattice,
          uptime_seconds: 0,
          uptime_human: '',
          version: '',
        },
        lastSeenMs,
        stale: true,
        inventory: unavailable(new Error('the host did not answer the ping')),
      });
    }
    const configs = new Set(this.#configs);
    if (!('unavailable' in links)) {
      for (const link of links) {
        for (const name of [...link.source_config, ...link.target_config]) configs.add(name);
      }
    }
    return {
      lattice,
      takenAtMs,
      hosts: views,
      links,
      claims,
      configs: [...configs].sort(),
      providerHealth: [...this.#health.values()],
      apps,
    };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    this.#events.stop();
    await this.#pumped;
  }
}
