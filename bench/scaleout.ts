/**
 * Part P6: scale-out. One nats-server and four `cirrus up --nats` hosts: A runs the HTTP server
 * provider, hello runs on 1, 2 or 3 of the others (B; B and C; B, C and D), `--instances` instances
 * each, and A's calls spread over them through the component's queue group. The same autocannon
 * load (`--connections`, `--duration`) in every mode, rounds interleaved:
 *   (1) one host serving     (2) two hosts serving     (3) three hosts serving
 * Reported: req/s, p50 and p99, and the CPU of all the hosts per request. Everything shares the
 * machine, so on 2 cores this shows what spreading costs, not a speed-up.
 */
import autocannon from 'autocannon';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { startNatsServer } from '@cirrus/testing';
import type { NatsServer } from '@cirrus/testing';
import { hostIds, routeHello, startHost } from './lattice-hosts.ts';
import {
  fmt,
  freePort,
  log,
  makeTempDir,
  median,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  Samples,
  table,
  waitUntilReady,
} from './lib.ts';
import type { ChildServer, Settings } from './lib.ts';

const LATTICE = 'bench-scaleout';
const NAMES = ['bench-a', 'bench-b', 'bench-c', 'bench-d'];

interface Round {
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerRequest: number;
}

async function serveOn(
  control: ControlClient,
  hello: string,
  ids: readonly string[],
  serving: number,
  instances: number,
  startTimeoutMs: number,
): Promise<void> {
  for (const [at, hostId] of ids.entries()) {
    await control.scaleComponent(
      { hostId, componentRef: hello, componentId: 'hello', count: at < serving ? instances : 0 },
      { wait: true, waitTimeoutMs: startTimeoutMs },
    );
  }
}

async function measure(url: string, hosts: readonly ChildServer[], settings: Settings): Promise<Round> {
  const cpu = (): number => hosts.reduce((n, h) => n + (h.cpuSeconds() ?? 0), 0);
  const before = cpu();
  const latencies = new Samples();
  const run = autocannon({ url, connections: settings.connections, duration: settings.duration });
  run.on('response', (_client, _status, _bytes, ms) => latencies.add(ms));
  const result = await run;
  const total = result.requests.total;
  const [p50, p99] = latencies.percentiles(50, 99) as [number, number];
  const failures = result.errors + result.timeouts + result.non2xx;
  if (failures > 0) progress(`warning: ${failures} requests failed in this round`);
  return {
    rps: total / result.duration,
    p50,
    p99,
    cpuUsPerRequest: ((cpu() - before) * 1e6) / Math.max(1, total),
  };
}

export async function runScaleOut(settings: Settings): Promise<void> {
  const hello = requireHelloWasm();
  const dir = await makeTempDir();
  const hosts: ChildServer[] = [];
  let lattice: NatsLatticeConnection | undefined;
  let nats: NatsServer | undefined;
  try {
    log(
      `\n## P6. Scale-out: hello on 1, 2 and 3 hosts behind one host's HTTP server, ${settings.connections} ` +
        `connections, ${settings.rounds} × ${settings.duration} s rounds, ${settings.instances} instances per host\n`,
    );
    nats = await startNatsServer();
    for (const name of NAMES) hosts.push(startHost(dir, nats.url, LATTICE, name));
    lattice = await connectNats({ servers: nats.url, name: 'bench-control' });
    const control = createControlClient({ connection: lattice, lattice: LATTICE });
    const [a, ...serving] = await hostIds(control, NAMES, hosts);
    const startTimeoutMs = settings.startTimeout * 1000;
    await serveOn(control, hello, serving, 1, settings.instances, startTimeoutMs);
    const port = await freePort();
    await routeHello(control, a as string, port);
    const url = `http://127.0.0.1:${port}/`;
    await waitUntilReady(url, hosts[0] as ChildServer, startTimeoutMs);
    const rounds: Round[][] = [[], [], []];
    for (let round = 1; round <= settings.rounds; round++) {
      for (const [at, results] of rounds.entries()) {
        await serveOn(control, hello, serving, at + 1, settings.instances, startTimeoutMs);
        await measure(url, hosts, { ...settings, duration: settings.warmup });
        const result = await measure(url, hosts, settings);
        results.push(result);
        progress(`round ${round}/${settings.rounds}, ${at + 1} host(s): ${fmt(result.rps, 0)} req/s`);
      }
    }
    const rows = rounds.map((results, at) => [
      `(${at + 1}) ${at + 1} host${at === 0 ? '' : 's'} serving`,
      fmt(median(results.map((r) => r.rps)), 0),
      fmt(median(results.map((r) => r.p50)), 2),
      fmt(median(results.map((r) => r.p99)), 2),
      fmt(median(results.map((r) => r.cpuUsPerRequest)), 0),
      results.map((r) => fmt(r.rps, 0)).join(' / '),
    ]);
    log(table(['mode', 'req/s', 'p50 ms', 'p99 ms', 'hosts CPU µs/req', 'req/s per round'], rows));
    const rps = rounds.map((results) => median(results.map((r) => r.rps)));
    log(
      `\n  P6  req/s with 2 and 3 hosts serving against 1: ${ratio(rps[1] as number, rps[0] as number)}, ` +
        `${ratio(rps[2] as number, rps[0] as number)} (on 2 cores: what spreading costs, not a speed-up)`,
    );
  } finally {
    await lattice?.close();
    for (const host of hosts) await host.stop();
    await nats?.stop();
    await removeTempDir(dir);
  }
}
