/**
 * Part F: HTTP to a component on another host.
 *
 * One nats-server and two hosts, each a `cirrus up --nats` process of its own. hello runs on host B
 * only, and each host's HTTP server routes a port to it. One request at a time, over a keep-alive
 * connection from this process, latency of every request:
 *   (1) same host      the HTTP server on B, hello on B: the local call path
 *   (2) across hosts   the HTTP server on A, hello on B: wrpc:http/incoming-handler over NATS
 *   (3) raw NATS       a nats.js request from this process to a nats.js responder in a process of its
 *                      own, with the request and response sizes of (1): one hop of the same size
 * The target: p50 of (2) ≤ p50 of (1) + 1.5 × p50 of (3).
 */
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { createControlClient } from '@cirrus/control-client';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { startNatsServer, waitFor } from '@cirrus/testing';
import type { NatsServer } from '@cirrus/testing';
import {
  ChildServer,
  fmt,
  freePort,
  HarnessError,
  log,
  makeTempDir,
  removeTempDir,
  requireHelloWasm,
  ROOT,
  table,
  waitUntilReady,
} from './lib.ts';
import type { Settings } from './lib.ts';
import { latencyTable, mode, percentile, runModes } from './sequential.ts';
import { hostIds, routeHello, startHost } from './lattice-hosts.ts';

const LATTICE = 'bench-remote';
const TIMEOUT_MS = 5000;
const RAW_SUBJECT = 'bench.raw.http';

interface Exchange {
  /** Bytes of the request and of the response on the HTTP connection. */
  requestBytes: number;
  responseBytes: number;
}

/** GET / on a keep-alive connection; resolves with the bytes that crossed it. */
function get(agent: Agent, port: number): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent, timeout: TIMEOUT_MS }, (res) => {
      let body = 0;
      res.on('data', (chunk: Buffer) => (body += chunk.length));
      res.on('end', () => {
        if (res.statusCode !== 200 || body === 0) {
          reject(new HarnessError(`port ${port} answered ${res.statusCode} with ${body} bytes`));
          return;
        }
        // The status line, each header line and the blank line; the request as Node writes it.
        const head = 'HTTP/1.1 200 OK\r\n'.length + res.rawHeaders.reduce((n, h) => n + h.length + 2, 0) + 2;
        const sent = `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n\r\n`;
        resolve({ requestBytes: sent.length, responseBytes: head + body });
      });
    });
    req.on('timeout', () => req.destroy(new HarnessError(`port ${port} did not answer in ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function runRemote(settings: Settings): Promise<void> {
  const hello = requireHelloWasm();
  const dir = await makeTempDir();
  const servers: ChildServer[] = [];
  let lattice: NatsLatticeConnection | undefined;
  let requester: NatsConnection | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let nats: NatsServer | undefined;
  const calls = Math.max(1, Math.floor(settings.calls / 5));
  try {
    log(`\n## F. HTTP across hosts: ${settings.rounds} rounds × ${calls} requests, one at a time\n`);
    nats = await startNatsServer();
    servers.push(startHost(dir, nats.url, LATTICE, 'bench-a'), startHost(dir, nats.url, LATTICE, 'bench-b'));
    lattice = await connectNats({ servers: nats.url, name: 'bench-control' });
    const control = createControlClient({ connection: lattice, lattice: LATTICE });
    const [a, b] = (await hostIds(control, ['bench-a', 'bench-b'], servers)) as [string, string];
    await control.scaleComponent(
      { hostId: b, componentRef: hello, componentId: 'hello', count: 1 },
      { wait: true, waitTimeoutMs: settings.startTimeout * 1000 },
    );
    const [portA, portB] = [await freePort(), await freePort()];
    await routeHello(control, b, portB);
    await routeHello(control, a, portA);
    for (const [port, server] of [
      [portB, servers[1]],
      [portA, servers[0]],
    ] as const) {
      await waitUntilReady(`http://127.0.0.1:${port}/`, server as ChildServer, settings.startTimeout * 1000);
    }
    const sample = await get(agent, portB);

    const responder = ChildServer.startNode('raw responder', [
      join(ROOT, 'bench', 'servers', 'nats-responder.ts'),
      '--servers',
      nats.url,
      '--subject',
      RAW_SUBJECT,
      '--bytes',
      String(sample.responseBytes),
    ]);
    servers.push(responder);
    requester = await connect({ servers: nats.url, name: 'bench-raw-requester' });
    const question = new Uint8Array(sample.requestBytes);
    const nc = requester;
    await waitFor(
      () =>
        nc.request(RAW_SUBJECT, question, { timeout: 1000 }).then(
          () => true,
          () =>
            responder.exitCode === undefined
              ? false
              : Promise.reject(new HarnessError(responder.outputTail())),
        ),
      20_000,
      'the raw NATS responder',
    );

    const modes = [
      mode('(1) same host: HTTP server and hello on B', async () => void (await get(agent, portB))),
      mode('(2) across hosts: HTTP server on A, hello on B', async () => void (await get(agent, portA))),
      mode(`(3) raw NATS request/reply, ${sample.requestBytes} B → ${sample.responseBytes} B`, async () => {
        await nc.request(RAW_SUBJECT, question, { timeout: TIMEOUT_MS });
      }),
    ];
    await runModes(modes, settings, calls, true);
    // CPU is steadier than latency on a shared machine: what each request costs the hosts.
    const cpu = new Map<string, { a: number; b: number }>();
    for (const m of modes.slice(0, 2)) {
      const [a0, b0] = [servers[0]?.cpuSeconds() ?? 0, servers[1]?.cpuSeconds() ?? 0];
      for (let i = 0; i < calls; i++) await m.call();
      const [a1, b1] = [servers[0]?.cpuSeconds() ?? 0, servers[1]?.cpuSeconds() ?? 0];
      cpu.set(m.label, { a: ((a1 - a0) * 1e6) / calls, b: ((b1 - b0) * 1e6) / calls });
    }
    log('\nMedians over rounds; p50/p99 over every request:\n');
    log(latencyTable(modes, 'request'));
    log('\nHost CPU per request (user + system, every thread), one more pass of each:\n');
    log(
      table(
        ['mode', 'host A µs', 'host B µs', 'both µs'],
        [...cpu].map(([label, c]) => [label, fmt(c.a, 0), fmt(c.b, 0), fmt(c.a + c.b, 0)]),
      ),
    );
    const [local, remote, raw] = modes.map((m) => percentile(m.samples, 50)) as [number, number, number];
    const bound = local + 1.5 * raw;
    log('');
    log(
      `  across hosts p50 ${fmt(remote, 1)} µs vs same host + 1.5 × raw NATS = ${fmt(local, 1)} + 1.5 × ${fmt(raw, 1)} = ${fmt(bound, 1)} µs: ` +
        `${remote <= bound ? 'within' : 'over'} the target (the hop adds ${fmt(remote - local, 1)} µs, ${fmt((remote - local) / raw, 2)} raw round trips)`,
    );
  } finally {
    agent.destroy();
    await requester?.close();
    await lattice?.close();
    for (const server of servers) await server.stop();
    await nats?.stop();
    await removeTempDir(dir);
  }
}
