/**
 * What the browser host tests share: a Node host with the built-in providers that serves `/host`
 * on its dashboard address, a CORS file server for the components a tab fetches, and the tab itself.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { browserHostPages } from '@cirrus/browser-host';
import type { BrowserHostServing } from '@cirrus/browser-host';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { startDashboard } from '@cirrus/dashboard';
import type { Dashboard } from '@cirrus/dashboard';
import { createHost } from '@cirrus/host';
import type { Host, SignedInvocationOptions } from '@cirrus/host';
import type { LatticeConnection } from '@cirrus/lattice';
import { resolveLimits, silentLogger } from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { createBrowserTranspiler } from '@cirrus/runtime';
import { connectNats } from '@cirrus/lattice-nats';
import { freePort, httpGet, startNatsServer, tempDir, waitFor } from '@cirrus/testing';
import type { NatsServer } from '@cirrus/testing';
import { routeHttp } from '../failure/support.ts';
import { launchChromium } from './chromium.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The components a tab is given, by the name the file server serves them under. */
export const COMPONENT_FILES: Record<string, string> = {
  'hello.wasm': join(ROOT, 'examples/hello/build/hello.wasm'),
  'counter.wasm': join(ROOT, 'examples/counter/build/counter.wasm'),
  'greeter.wasm': join(ROOT, 'packages/testing/fixtures/greeter/build/greeter.wasm'),
  'greet-client.wasm': join(ROOT, 'packages/testing/fixtures/greet-client/build/greet-client.wasm'),
  'probe.wasm': join(ROOT, 'packages/testing/fixtures/probe/build/probe.wasm'),
};

/** Short enough that a runaway call ends within a test, long enough for a first call on a slow machine. */
export const TAB_LIMITS: Limits = resolveLimits({ invocationTimeoutMs: 4_000 });

/** Serves the components with the CORS header a cross-origin-isolated page needs to fetch them. */
export async function serveComponents(): Promise<{ url(name: string): string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    const file = COMPONENT_FILES[name];
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (bytes) => {
        res.writeHead(200, { 'content-type': 'application/wasm', 'access-control-allow-origin': '*' });
        res.end(bytes);
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ServingHost {
  host: Host;
  dashboard: Dashboard;
  control: ControlClient;
  close(): Promise<void>;
}

/** A Node host on `connection`, serving `/host` (with the embedded lattice when `embedded` is given). */
export async function startServingHost(
  connection: LatticeConnection,
  cacheDir: string,
  signing: { host?: SignedInvocationOptions; tabs?: BrowserHostServing['signedInvocations'] } = {},
): Promise<ServingHost> {
  const host = await createHost({
    lattice: connection,
    builtinProviders: BUILTIN_PROVIDERS,
    wireBindings: WIRE_BINDINGS,
    cacheDir,
    friendlyName: 'node-host',
    ...(signing.host === undefined ? {} : { signedInvocations: signing.host }),
  });
  const dashboard = await startDashboard({
    connection,
    lattice: 'default',
    port: 0,
    mounts: [
      browserHostPages({
        lattice: 'default',
        transpiler: createBrowserTranspiler({ cacheDir }),
        limits: TAB_LIMITS,
        ...(signing.tabs === undefined ? {} : { signedInvocations: signing.tabs }),
        logger: silentLogger,
      }),
    ],
  });
  const control = createControlClient({ connection, lattice: 'default' });
  return {
    host,
    dashboard,
    control,
    async close() {
      await dashboard.close();
      await host.stop();
    },
  };
}

/** The page globals the tests read (the project's types have no DOM lib). */
interface TabGlobals {
  document: { body: { dataset: Record<string, string | undefined> } };
  crossOriginIsolated: boolean;
}

export interface Tab {
  page: Page;
  hostId: string;
  crossOriginIsolated: boolean;
}

/** Opens `url` in a new tab and waits until its host runs; the page's log is printed when it fails. */
export async function openTab(browser: Browser, url: string): Promise<Tab> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.waitForSelector('#status[data-state="running"]', { timeout: 30_000 });
  } catch (err) {
    const log = await page
      .locator('#log')
      .innerText()
      .catch(() => '');
    throw new Error(`the browser host did not start: ${String(err)}\npage log:\n${log}`, { cause: err });
  }
  const facts = await page.evaluate(() => {
    const g = globalThis as unknown as TabGlobals;
    return { hostId: g.document.body.dataset['hostId'] ?? '', isolated: g.crossOriginIsolated };
  });
  return { page, hostId: facts.hostId, crossOriginIsolated: facts.isolated };
}

/** A nats-server, a Node host serving `/host` with an HTTP server provider `web`, components to fetch, Chromium. */
export interface NatsScene {
  nats: NatsServer;
  /** The Node host's connection, which its control client uses too. */
  connection: LatticeConnection;
  node: ServingHost;
  files: Awaited<ReturnType<typeof serveComponents>>;
  browser: Browser;
  /** A free port for the HTTP server to listen on. */
  port: number;
  close(): Promise<void>;
}

export async function startNatsScene(
  signing: Parameters<typeof startServingHost>[2] = {},
): Promise<NatsScene> {
  const opened: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const step of opened.reverse()) await step();
  };
  try {
    const nats = await startNatsServer();
    opened.push(() => nats.stop());
    const connection = await connectNats({ servers: nats.url });
    opened.push(() => connection.close());
    const dir = await tempDir('cirrus-browser-host-');
    opened.push(() => dir.remove());
    const node = await startServingHost(connection, dir.path, signing);
    opened.push(() => node.close());
    const files = await serveComponents();
    opened.push(() => files.close());
    const browser = await launchChromium();
    opened.push(() => browser.close());
    await node.control.startProvider(
      { hostId: node.host.id, providerId: 'web', providerRef: 'wasmcloud+builtin://http-server' },
      { wait: true },
    );
    return { nats, connection, node, files, browser, port: await freePort(), close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Routes `port` (and `host`, when given) to the component, then waits until the HTTP server serves
 * the route: its listener starts, and the link reaches it, a moment after the link is stored.
 */
export async function routeAndWait(
  control: ControlClient,
  route: { serverId: string; componentId: string; port: number; host?: string },
): Promise<void> {
  await routeHttp(control, route);
  await waitFor(
    async () => {
      const answer = await httpGet(route.port, '/ready', {
        ...(route.host === undefined ? {} : { host: route.host }),
        timeoutMs: 20_000,
      }).catch(() => undefined);
      return answer !== undefined && !(answer.status === 404 && /no route/.test(answer.body))
        ? true
        : undefined;
    },
    20_000,
    `the route to ${route.componentId} on port ${route.port}`,
  );
}

export { freePort, launchChromium };
