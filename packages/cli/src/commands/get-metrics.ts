/**
 * `cirrus get metrics [HOST]`: what hosts have counted since they started (`host.metrics`), one row
 * per component and built-in provider: invocations, failures by code, latency percentiles.
 */
import type { Command } from 'commander';
import type { ControlClient } from '@cirrus/control-client';
import { describeError, durationQuantile, errorCode, OUTCOME_OK } from '@cirrus/protocol';
import type { HostMetrics, InvocationMetrics } from '@cirrus/protocol';
import type { CommandContext } from '../context.ts';
import type { Invocation } from '../program.ts';
import {
  HOST_ARGUMENT,
  latticeCommand,
  printJson,
  printTable,
  resolveHost,
  withControlClient,
} from './lattice.ts';

export function metricsCommand(invocation: Invocation): Command {
  const { context } = invocation;
  return latticeCommand(
    'metrics',
    'show what one host, or every host, has counted: invocations, failures and latency',
    {},
    invocation,
    ({ output, common, args }) => {
      const [hostArg] = args;
      return withControlClient(common, context, async (client) => {
        const hostIds =
          hostArg === undefined
            ? (await client.pingHosts()).map((h) => h.id)
            : [await resolveHost(client, hostArg)];
        const read = await readAll(client, hostIds);
        if (output === 'json') {
          printJson(
            context,
            read.map((r) => ('metrics' in r ? r.metrics : { host_id: r.hostId, error: r.error })),
          );
          return 0;
        }
        if (read.length === 0) {
          context.print(`No hosts answered on lattice "${client.lattice}".`);
          return 0;
        }
        printMetrics(context, read);
        return 0;
      });
    },
  ).argument('[HOST]', `${HOST_ARGUMENT} (default: every host)`);
}

type Reading =
  { hostId: string; metrics: HostMetrics } | { hostId: string; error: { code: string; message: string } };

/** Every host's figures; a host that does not answer (a wasmCloud host) is reported, not fatal. */
function readAll(client: ControlClient, hostIds: readonly string[]): Promise<Reading[]> {
  return Promise.all(
    hostIds.map((hostId) =>
      client.getHostMetrics(hostId).then(
        (metrics): Reading => ({ hostId, metrics }),
        (err: unknown): Reading => ({ hostId, error: { code: errorCode(err), message: describeError(err) } }),
      ),
    ),
  );
}

function ms(seconds: number | undefined): string {
  return seconds === undefined ? '-' : (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1);
}

function row(
  host: string,
  kind: string,
  id: string,
  bounds: readonly number[],
  m: InvocationMetrics,
): string[] {
  const total = Object.values(m.invocations).reduce((a, b) => a + b, 0);
  const failures = Object.entries(m.invocations)
    .filter(([code]) => code !== OUTCOME_OK)
    .map(([code, n]) => `${code}=${n}`)
    .join(',');
  const quantile = (q: number): string => ms(durationQuantile(q, bounds, m.duration.counts));
  return [host, kind, id, String(total), failures || '-', quantile(0.5), quantile(0.99)];
}

function printMetrics(context: CommandContext, read: readonly Reading[]): void {
  const rows: string[][] = [];
  for (const reading of read) {
    if (!('metrics' in reading)) continue;
    const { metrics } = reading;
    const bounds = metrics.duration_bounds_seconds;
    for (const c of metrics.components)
      rows.push(row(metrics.host_id, 'component', c.component_id, bounds, c));
    for (const p of metrics.providers) rows.push(row(metrics.host_id, 'provider', p.provider_id, bounds, p));
  }
  if (rows.length === 0) context.print('No components or built-in providers have figures.');
  else printTable(context, ['HOST ID', 'KIND', 'ID', 'CALLS', 'FAILED', 'P50 MS', 'P99 MS'], rows);
  for (const reading of read) {
    if ('error' in reading) context.print(`Host ${reading.hostId}: no figures (${reading.error.code}).`);
  }
}
