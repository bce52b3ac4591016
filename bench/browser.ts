/**
 * Part L: a call through a host in a browser tab, against the same call through a Node host.
 *
 * One nats-server (with its websocket listener), host A and host B as `cirrus up --nats` processes of
 * their own, and a tab of headless Chromium joined as a third host through A's `/host` page. The
 * counter component runs twice, on B and in the tab, each linked to the key-value provider on A and
 * routed from A's HTTP server on a port of its own. One request at a time, over a keep-alive
 * connection, latency of every request:
 *   (1) Node → Node → Node      HTTP on A → counter on B → key-value on A, over wRPC both ways
 *   (2) Node → browser → Node   HTTP on A → counter in the tab → key-value on A
 * Both cross the lattice twice, so the ratio (2)/(1) is what the tab costs: its websocket, the
 * browser's event loop, and its workers.
 */
import { readFile } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { startNatsServer, waitFor } from '@cirrus/testing';
import type { NatsServer } from '@cirrus/testing';
import { COUNTER_WASM, fmt, freePort, HarnessError, log, makeTempDir, removeTempDir } from './lib.ts';
import type { ChildServer, Settings } from './lib.ts';
import { hostIds, startHost } from './lattice-hosts.ts';
import { latencyTable, medianOfRounds, mode, runModes } from './sequential.ts';

const LATTICE = 'bench-browser';
const TIMEOUT_MS = 10_000;

function get(agent: Agent, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/bench', agent, timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200
          ? resolve()
          : reject(new HarnessError(`port ${port} answered ${res.statusCode}`)),
      );
    });
    req.on('timeout', () => req.destroy(new HarnessError(`port ${port} did not answer in ${TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Serves counter.wasm with the CORS header the cross-origin-isolated tab needs to fetch it. */
async function serveCounter(): Promise<{ server: Server; url: string }> {
  const bytes = await readFile(COUNTER_WASM).catch(() => {
    throw new HarnessError(`${COUNTER_WASM} is missing: build it with \`npm run build:examples\``);
  });
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/wasm', 'access-control-allow-origin': '*' });
    res.end(bytes);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/counter.wasm` };
}

/** Runs `componentId` on `hostId`, linked to the key-value provider `kv` on A, routed from A's `web`. */
async function placeCounter(
  control: ControlClient,
  hostId: string,
  componentId: string,
  ref: string,
  port: number,
  settings: Settings,
): Promise<void> {
  await control.scaleComponent(
    { hostId, componentRef: ref, componentId, count: 1 },
    { wait: true, waitTimeoutMs: settings.startTimeout * 1000 },
  );
  await control.putLink({
    source_id: componentId,
    target: 'kv',
    name: 'default',
    wit_namespace: 'wasi',
    wit_package: 'keyvalue',
    interfaces: ['store', 'atomics'],
    source_config: [],
    target_config: [],
  });
  await control.putConfig(`listen-${port}`, { address: `127.0.0.1:${port}` });
  await control.putLink({
    source_id: 'web',
    target: componentId,
    name: componentId,
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
    source_config: [`listen-${port}`],
    target_config: [],
  });
}

export async function runBrowser(settings: Settings): Promise<void> {
  const dir = await makeTempDir();
  const servers: ChildServer[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  let nats: NatsServer | undefined;
  let lattice: NatsLatticeConnection | undefined;
  let browser: Browser | undefined;
  let files: Server | undefined;
  const calls = Math.max(1, Math.floor(settings.calls / 5));
  try {
    log(
      `\n## L. A call through a browser tab: ${settings.rounds} rounds × ${calls} requests, one at a time\n`,
    );
    nats = await startNatsServer();
    const dashboardPort = await freePort();
    servers.push(
      startHost(dir, nats.url, LATTICE, 'bench-a', ['--dashboard', `127.0.0.1:${dashboardPort}`]),
      startHost(dir, nats.url, LATTICE, 'bench-b'),
    );
    lattice = await connectNats({ servers: nats.url, name: 'bench-control' });
    const control = createControlClient({ connection: lattice, lattice: LATTICE });
    const [a, b] = (await hostIds(control, ['bench-a', 'bench-b'], servers)) as [string, string];
    const counter = await serveCounter();
    files = counter.server;

    browser = await chromium.launch({ executablePath: process.env['CHROMIUM'] ?? '/usr/bin/chromium' });
    const page = await browser.newPage();
    await page.goto(
      `http://127.0.0.1:${dashboardPort}/host?nats=${encodeURIComponent(nats.wsUrl)}&lattice=${LATTICE}`,
    );
    await page.waitForSelector('#status[data-state="running"]', { timeout: settings.startTimeout * 1000 });
    const before = new Set([a, b]);
    const tab = await waitFor(
      async () => (await control.pingHosts()).find((h) => !before.has(h.id))?.id,
      20_000,
      'the tab to answer a ping',
    );

    await control.startProvider(
      { hostId: a, providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' },
      { wait: true },
    );
    await control.startProvider(
      { hostId: a, providerRef: 'wasmcloud+builtin://keyvalue', providerId: 'kv' },
      { wait: true },
    );
    const [portNode, portTab] = [await freePort(), await freePort()];
    await placeCounter(control, b, 'counter-node', counter.url, portNode, settings);
    await placeCounter(control, tab, 'counter-tab', counter.url, portTab, settings);
    for (const port of [portNode, portTab]) {
      await waitFor(
        () =>
          get(agent, port).then(
            () => true,
            () => false,
          ),
        settings.startTimeout * 1000,
        `port ${port} to answer`,
      );
    }

    const modes = [
      mode('(1) Node → Node → Node: HTTP on A, counter on B, key-value on A', () => get(agent, portNode)),
      mode('(2) Node → browser → Node: HTTP on A, counter in the tab, key-value on A', () =>
        get(agent, portTab),
      ),
    ];
    await runModes(modes, settings, calls, true);
    log('\nMedians over rounds; p50/p99 over every request:\n');
    log(latencyTable(modes, 'request'));
    const [node, inTab] = modes.map((m) => medianOfRounds(m)) as [number, number];
    log(`\n  through the tab: ${fmt(inTab / node, 2)}× the same call through a Node host`);
  } finally {
    agent.destroy();
    await browser?.close();
    await lattice?.close();
    for (const server of servers) await server.stop();
    await new Promise<void>((resolve) => (files === undefined ? resolve() : files.close(() => resolve())));
    await nats?.stop();
    await removeTempDir(dir);
  }
}
