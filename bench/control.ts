/**
 * Part C: what a control round trip costs against the floor of NATS request/reply on the same
 * server, all in this process, one request at a time.
 *
 *   (1) Cirrus host.get   a Cirrus client (NATS adapter) asks a Cirrus host (running hello) for its
 *                         inventory: adapter, control server, JSON encode/decode of the inventory
 *   (2) raw NATS          nats.js request to a nats.js responder that answers with the same bytes,
 *                         precomputed: the server hop and the client library, nothing else
 *   (3) adapter → raw     the Cirrus adapter as requester, the raw responder: separates the adapter's
 *                         share of (1) − (2) from the host's
 *
 * Rounds are interleaved; medians over rounds are reported.
 */
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { encodeJson } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { ctlPrefix, DEFAULT_LATTICE } from '@cirrus/protocol';
import { startNatsServer } from '@cirrus/testing';
import type { NatsServer } from '@cirrus/testing';
import {
  fmt,
  HarnessError,
  log,
  makeTempDir,
  median,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  table,
} from './lib.ts';
import type { Settings } from './lib.ts';

const RAW_SUBJECT = 'bench.raw.inventory';
const TIMEOUT_MS = 5000;

type Call = () => Promise<void>;

interface Mode {
  label: string;
  call: Call;
  results: { wallUs: number; cpuUs: number }[];
}

async function measure(call: Call, calls: number): Promise<{ wallUs: number; cpuUs: number }> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < calls; i++) await call();
  const wallUs = ((performance.now() - started) * 1000) / calls;
  const used = process.cpuUsage(cpu);
  return { wallUs, cpuUs: (used.user + used.system) / calls };
}

export async function runControl(settings: Settings): Promise<void> {
  const wasm = requireHelloWasm();
  const dir = await makeTempDir();
  let nats: NatsServer | undefined;
  let host: Host | undefined;
  const lattices: NatsLatticeConnection[] = [];
  const raws: NatsConnection[] = [];
  try {
    const calls = settings.calls;
    log(
      `\n## C. Control round trip over NATS: ${settings.rounds} rounds × ${calls} requests, one at a time\n`,
    );
    nats = await startNatsServer();
    const hostConnection = await connectNats({ servers: nats.url, name: 'bench-host' });
    const client = await connectNats({ servers: nats.url, name: 'bench-client' });
    lattices.push(hostConnection, client);
    host = await createHost({
      lattice: hostConnection,
      cacheDir: join(dir, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
    });
    await host.scaleComponent({ componentRef: wasm, componentId: 'hello', count: 1 });

    const subject = `${ctlPrefix(DEFAULT_LATTICE)}.host.get.${host.id}`;
    const sample = await client.request(subject, undefined, { timeoutMs: TIMEOUT_MS });
    const inventoryBytes = sample.data.byteLength;
    // The raw responder answers with an inventory of the same size, encoded once up front.
    const canned = encodeJson(sample.json());

    const responder = await connect({ servers: nats.url, name: 'bench-raw-responder' });
    const requester = await connect({ servers: nats.url, name: 'bench-raw-requester' });
    raws.push(responder, requester);
    responder.subscribe(RAW_SUBJECT, {
      callback: (_err, msg) => {
        msg.respond(canned);
      },
    });
    await responder.flush();

    const check = (bytes: number, what: string): void => {
      if (bytes !== inventoryBytes) throw new HarnessError(`${what} answered ${bytes} bytes`);
    };
    const modes: Mode[] = [
      {
        label: '(1) Cirrus host.get',
        call: async () => {
          const msg = await client.request(subject, undefined, { timeoutMs: TIMEOUT_MS });
          if (msg.data.byteLength === 0) throw new HarnessError('host.get answered nothing');
        },
        results: [],
      },
      {
        label: '(2) raw NATS request/reply',
        call: async () => {
          const msg = await requester.request(RAW_SUBJECT, undefined, { timeout: TIMEOUT_MS });
          check(msg.data.byteLength, 'the raw responder');
        },
        results: [],
      },
      {
        label: '(3) Cirrus adapter → raw responder',
        call: async () => {
          const msg = await client.request(RAW_SUBJECT, undefined, { timeoutMs: TIMEOUT_MS });
          check(msg.data.byteLength, 'the raw responder');
        },
        results: [],
      },
    ];

    const warmCalls = Math.min(calls, 2000);
    progress(`inventory reply: ${inventoryBytes} bytes; warming up: ${warmCalls} requests per mode`);
    for (const mode of modes) await measure(mode.call, warmCalls);
    for (let r = 0; r < settings.rounds; r++) {
      for (const mode of modes) {
        const measured = await measure(mode.call, calls);
        mode.results.push(measured);
        progress(
          `round ${r + 1}/${settings.rounds} ${mode.label}: ${fmt(measured.wallUs, 1)} µs, ` +
            `${fmt(measured.cpuUs, 1)} µs CPU`,
        );
      }
    }

    const wall = (m: Mode): number => median(m.results.map((x) => x.wallUs));
    const cpu = (m: Mode): number => median(m.results.map((x) => x.cpuUs));
    log('\nMedians over rounds (CPU counts every thread of this process: host, clients, responder):\n');
    log(
      table(
        ['mode', 'µs/round trip', 'round trips/s', 'CPU µs', 'µs per round'],
        modes.map((m) => [
          m.label,
          fmt(wall(m), 1),
          fmt(1e6 / wall(m)),
          fmt(cpu(m), 1),
          m.results.map((x) => fmt(x.wallUs, 1)).join(' / '),
        ]),
      ),
    );
    const [cirrus, raw, adapter] = modes.map(wall) as [number, number, number];
    log('');
    log(`  (1) / (2)  Cirrus control round trip vs raw NATS:  ${ratio(cirrus, raw)}`);
    log(`  (3) / (2)  Cirrus adapter vs nats.js, same reply:   ${ratio(adapter, raw)}`);
    log(`  (1) − (3)  the host's share (control server, inventory): ${fmt(cirrus - adapter, 1)} µs`);
  } finally {
    await host?.stop();
    await Promise.all(lattices.map((c) => c.close()));
    await Promise.all(raws.map((c) => c.close()));
    await nats?.stop();
    await removeTempDir(dir);
  }
}
