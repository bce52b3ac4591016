/**
 * How the application manager's timing follows the lattice's heartbeat interval, for the manager
 * every `cirrus up` runs and for `cirrus app manager` alike.
 */
import type { ApplicationServiceOptions } from '@cirrus/apps';
import { UsageError } from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';

/** wasmCloud 1.x's heartbeat interval. */
export const DEFAULT_HEARTBEAT_SECONDS = 30;

/** `--heartbeat-interval S`: whole seconds from 1 to 86400, or undefined when not given. */
export function heartbeatSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = /^[0-9]{1,6}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds >= 1 && seconds <= 86_400)) {
    throw new UsageError(
      `--heartbeat-interval must be whole seconds from 1 to 86400, got ${JSON.stringify(value)}`,
      {
        hint: 'the 1.x default is 30; wadm forgets a host after 70 s without one',
      },
    );
  }
  return seconds;
}

export function managerTiming(
  heartbeatSecondsGiven: number | undefined,
  limits: Limits,
): Pick<ApplicationServiceOptions, 'leaseMs' | 'limits' | 'scatterMs'> {
  const heartbeatMs = (heartbeatSecondsGiven ?? DEFAULT_HEARTBEAT_SECONDS) * 1000;
  return {
    // Stale after one and a half heartbeats: a dead holder is replaced within two.
    leaseMs: 1.5 * heartbeatMs,
    // A host killed outright sends no event; the lattice is read again at least every heartbeat.
    limits: { ...limits, appResyncIntervalMs: Math.min(limits.appResyncIntervalMs, heartbeatMs) },
    // Hosts answer a ping within a heartbeat: a pass waits no longer than half of one for them.
    scatterMs: Math.min(limits.controlScatterWindowMs, heartbeatMs / 2),
  };
}
