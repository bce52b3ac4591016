/**
 * The application manager as every host runs it: one of them at a time is active on a lattice, the
 * holder of a lease in the `cirrus_app_manager` bucket, and serves the wadm API and runs the passes;
 * the others watch the lease and take it over when it goes stale.
 *
 * The lease needs no clock shared between hosts. Its holder rewrites it every quarter of `leaseMs`;
 * a watcher takes it over (by compare-and-swap on the revision it last saw, so one watcher wins)
 * once it has seen no new revision for `leaseMs` by its own clock, counted from when its read
 * returned that revision. The holder steps down, by a timer of its own rather than at its next tick
 * (which may be waiting on a request), when it could not rewrite the lease for three quarters of
 * `leaseMs` counted from before its last rewrite: before any watcher can have taken it over, with a
 * quarter of the lease to spare for timers that run late.
 */
import { createControlClient } from '@cirrus/control-client';
import type { LatticeConnection, KvBucket } from '@cirrus/lattice';
import { describeError } from '@cirrus/protocol';
import type { Logger } from '@cirrus/protocol';
import { createAppManager } from './manager.ts';
import type { AppManager, AppManagerLimits } from './manager.ts';
import { parseManifest } from './manifest.ts';
import type { ManifestLimits } from './manifest.ts';
import { serveWadmApi } from './wadm-api.ts';
import { STATE_BUCKET, wadmStateWriter } from './wadm-state.ts';
import type { WadmApi } from './wadm-api.ts';

export const LEASE_BUCKET = 'cirrus_app_manager';

/** How often the active manager publishes the statuses that changed. */
const STATUS_PUBLISH_MS = 1_000;

/** The share of `leaseMs` after its last rewrite at which a holder that could not rewrite it steps down. */
const HOLD_SHARE = 0.75;

export interface ApplicationServiceOptions {
  /** The connection control traffic uses. */
  connection: LatticeConnection;
  lattice: string;
  /** Who holds the lease: the host's id. */
  holderId: string;
  /** Silence after which a lease is stale (the CLI uses one and a half heartbeat intervals). */
  leaseMs: number;
  /** The manager's limits, and the host's for the manifests the wadm API is given. */
  limits: AppManagerLimits & ManifestLimits;
  /** How long a pass collects the hosts' answers to its ping (default: the control client's). */
  scatterMs?: number;
  logger: Logger;
}

export interface ApplicationService {
  /** This host holds the lease and manages the lattice's applications. */
  readonly active: boolean;
  stop(): Promise<void>;
}

interface Active {
  manager: AppManager;
  api: WadmApi;
  publisher: ReturnType<typeof setInterval>;
}

const encoder = new TextEncoder();

export async function startApplicationService(
  options: ApplicationServiceOptions,
): Promise<ApplicationService> {
  const { connection, lattice, holderId, leaseMs, logger } = options;
  const kv: KvBucket = await connection.kv(LEASE_BUCKET);
  const claim = encoder.encode(JSON.stringify({ holder: holderId }));
  let active: Active | undefined;
  let starting: Promise<void> | undefined;
  let stopped = false;
  let seenRevision = -1;
  let seenAt = performance.now();
  let renewedAt = -Infinity;
  let expiry: ReturnType<typeof setTimeout> | undefined;
  let retiring: Promise<void> = Promise.resolve();

  const activate = async (): Promise<void> => {
    const control = createControlClient({
      connection,
      lattice,
      ...(options.scatterMs === undefined ? {} : { scatterMs: options.scatterMs }),
    });
    const state = await connection.kv(STATE_BUCKET);
    const manager = createAppManager({
      control,
      logger,
      limits: options.limits,
      // A holder that is not a host (a manager of its own) costs the first pass its whole window.
      knownHosts: [holderId],
      onObserved: wadmStateWriter(state, lattice),
    });
    let api: WadmApi;
    try {
      api = await serveWadmApi({
        connection,
        lattice,
        manager,
        logger,
        parse: (text) => parseManifest(text, { limits: options.limits }),
      });
    } catch (err) {
      await manager.stop();
      throw err;
    }
    const publisher = setInterval(() => {
      // A connection closed under an active manager must not throw out of a timer.
      try {
        api.publishStatus();
      } catch (err) {
        logger.debug('application statuses not published', { error: describeError(err) });
      }
    }, STATUS_PUBLISH_MS);
    active = { manager, api, publisher };
    logger.info('application manager active', { lattice });
    try {
      await api.restore();
    } catch (err) {
      // Standing by, so that the next tick activates it again and restores what is deployed.
      active = undefined;
      await retire({ manager, api, publisher });
      throw err;
    }
    // wadm_state describes the lattice from the start, not only once an application is deployed.
    void manager.pass();
  };

  const deactivate = async (why: string): Promise<void> => {
    await starting;
    const was = active;
    active = undefined;
    if (was !== undefined) {
      logger.info('application manager standing by', { lattice, reason: why });
      retiring = retire(was);
    }
    // One that the lease's timer began is waited for too (a stop returns once it is done).
    await retiring;
  };

  const retire = async ({ manager, api, publisher }: Active): Promise<void> => {
    clearInterval(publisher);
    await api.stop();
    await manager.stop();
  };

  const tick = async (): Promise<void> => {
    const now = performance.now();
    try {
      const entry = await kv.get(lattice);
      if (entry !== null && entry.revision !== seenRevision) {
        seenRevision = entry.revision;
        // After the read, not before: the holder wrote this revision before the read returned it.
        seenAt = performance.now();
      }
      const holder =
        entry === null || entry.value.length === 0 ? undefined : entry.json<{ holder?: string }>().holder;
      const mine = holder === holderId;
      if (mine || holder === undefined || now - seenAt >= leaseMs) {
        const revision = await kv.update(lattice, claim, entry?.revision ?? 0);
        if (revision !== null) {
          seenRevision = revision;
          seenAt = performance.now();
          // From before the read, so no watcher can have seen this revision earlier.
          renewedAt = now;
          clearTimeout(expiry);
          expiry = setTimeout(
            () =>
              void deactivate('the lease could not be renewed').catch((err: unknown) =>
                logger.warn('application manager not stopped', { error: describeError(err) }),
              ),
            renewedAt + HOLD_SHARE * leaseMs - performance.now(),
          );
          if (active === undefined && starting === undefined && !stopped) {
            // Not activated this time (the lattice failed it): the next tick tries again.
            starting = activate()
              .catch((err: unknown) =>
                logger.warn('application manager not started', { lattice, error: describeError(err) }),
              )
              .finally(() => (starting = undefined));
          }
          return;
        }
      }
      if (active !== undefined && !mine) await deactivate(`the lease is held by ${holder ?? 'another host'}`);
    } catch (err) {
      logger.debug('application manager lease not renewed', { error: describeError(err) });
    }
    if (active !== undefined && performance.now() - renewedAt >= HOLD_SHARE * leaseMs) {
      await deactivate('the lease could not be renewed');
    }
  };

  let ticking: Promise<void> = tick();
  const timer = setInterval(() => {
    ticking = ticking.then(tick);
  }, leaseMs / 4);
  await ticking;
  // A host that took the lease serves the wadm API before it says it is up.
  await starting;

  return {
    get active() {
      return active !== undefined;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      clearTimeout(expiry);
      await ticking;
      const was = active !== undefined;
      await deactivate('the host is stopping');
      // Handed back at once, so that another host need not wait for the lease to go stale.
      if (was) {
        const entry = await kv.get(lattice).catch(() => null);
        if (
          entry !== null &&
          entry.value.length > 0 &&
          entry.json<{ holder?: string }>().holder === holderId
        ) {
          await kv.delete(lattice).catch(() => undefined);
        }
      }
    },
  };
}
