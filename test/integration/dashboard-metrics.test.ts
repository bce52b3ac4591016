/**
 * The dashboard's request chart in a real headless Chromium, against a real host on the embedded
 * lattice: hello and probe behind the built-in HTTP server, requests sent from here.
 *
 * Proven here: while the Components tab is open, each component's rate, latency percentiles and
 * errors by code follow the requests without a reload (the server pushes them every 2 s; the page
 * polls nothing); a component with no requests says so. The screenshot of the view goes to the temp
 * dir, and with CIRRUS_UPDATE_SCREENSHOTS=1 to docs/images/dashboard-requests.png.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { startDashboard } from '@cirrus/dashboard';
import type { Dashboard } from '@cirrus/dashboard';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { freePort, httpGet, tempDir, waitFor } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { routeHttp } from '../failure/support.ts';
import { launchChromium } from './chromium.ts';

const HELLO = new URL('../../examples/hello/build/hello.wasm', import.meta.url);
const PROBE = new URL('../../packages/testing/fixtures/probe/build/probe.wasm', import.meta.url);
const DOCS_IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const WAIT_MS = 10_000;

async function get(port: number, path: string, host: string): Promise<number> {
  return (await httpGet(port, path, { host })).status;
}

describe('dashboard request chart', () => {
  let dir: TempDir;
  let shots: TempDir;
  let host: Host;
  let dashboard: Dashboard;
  let control: ControlClient;
  let browser: Browser;
  let page: Page;
  let port: number;
  let sending = false;
  let load: Promise<void> = Promise.resolve();

  const card = (id: string) => page.locator('section.card', { has: page.getByRole('heading', { name: id }) });

  before(async () => {
    dir = await tempDir();
    shots = await tempDir('cirrus-dashboard-metrics-');
    const lattice = createMemoryLattice();
    host = await createHost({
      lattice: lattice.connect(),
      friendlyName: 'metrics-host',
      cacheDir: dir.path,
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      builtinProviders: BUILTIN_PROVIDERS,
      wireBindings: WIRE_BINDINGS,
    });
    dashboard = await startDashboard({ connection: lattice.connect(), lattice: 'default', port: 0 });
    control = createControlClient({ connection: lattice.connect(), lattice: 'default' });
    port = await freePort();
    await control.startProvider({
      hostId: host.id,
      providerRef: 'wasmcloud+builtin://http-server',
      providerId: 'web',
    });
    for (const [id, ref] of [
      ['hello', HELLO],
      ['probe', PROBE],
    ] as const) {
      await control.scaleComponent(
        { hostId: host.id, componentRef: ref.href, componentId: id, count: 2 },
        { wait: true },
      );
      await routeHttp(control, { serverId: 'web', componentId: id, port, host: `${id}.test` });
    }
    await waitFor(
      async () => (await get(port, '/', 'hello.test').catch(() => 0)) === 200,
      WAIT_MS,
      'hello to serve',
    );
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(WAIT_MS);
    page = await context.newPage();
  });

  after(async () => {
    sending = false;
    await load;
    await browser?.close();
    await dashboard?.close();
    await host?.stop();
    await dir?.remove();
    await shots?.remove();
  });

  it('shows the rate, latency and errors of each component as requests come, without a reload', async () => {
    await page.goto(`${dashboard.url}#components`);
    await card('hello').waitFor();
    // No request yet: two readings give an interval with none.
    await card('probe')
      .locator('.request-latency')
      .getByText(/no requests in the last/)
      .waitFor();

    // About 20 requests a second to hello, and a failing one to probe every half second.
    sending = true;
    load = (async () => {
      let n = 0;
      while (sending) {
        await get(port, '/', 'hello.test');
        if (n++ % 10 === 0) await get(port, '/throw', 'probe.test');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const rate = card('hello').locator('.request-rate');
    await waitFor(
      async () => Number.parseFloat((await rate.textContent()) ?? '') >= 5,
      WAIT_MS,
      'the page to show hello at 5 requests a second or more',
    );
    await card('hello')
      .locator('.request-latency')
      .getByText(/^p50 [0-9.]+ ms · p95 [0-9.]+ ms · p99 [0-9.]+ ms$/)
      .waitFor();
    assert.equal(await card('hello').locator('.request-errors').textContent(), 'none');
    await card('probe')
      .locator('.request-errors')
      .getByText(/^[0-9]+: GUEST_TRAP [0-9]+$/)
      .waitFor();
    const label = await card('hello').getByRole('img').getAttribute('aria-label');
    assert.match(
      label ?? '',
      /^Requests per second of hello over the last [0-9]+ s; now [0-9.]+ per second$/,
    );
    assert.equal(
      (await page.locator('.sparkline-error').count()) > 0,
      true,
      'intervals with failures are marked',
    );

    // The picture for the docs shows a few intervals, not the first one.
    await card('hello')
      .getByRole('img', { name: /over the last (1[0-9]|[2-9][0-9]) s/ })
      .waitFor({ timeout: 20_000 });
    const file = join(shots.path, 'dashboard-requests.png');
    await page.screenshot({ path: file, fullPage: true });
    if (process.env['CIRRUS_UPDATE_SCREENSHOTS'] === '1') {
      await mkdir(DOCS_IMAGES, { recursive: true });
      await copyFile(file, join(DOCS_IMAGES, 'dashboard-requests.png'));
    }

    // Requests stop: within two readings the rate is 0 again.
    sending = false;
    await load;
    await card('hello')
      .locator('.request-rate', { hasText: /^0\.00 \/s$/ })
      .waitFor();
  });
});
