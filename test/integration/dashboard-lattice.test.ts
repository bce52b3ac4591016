/**
 * The dashboard's page in headless Chromium over a lattice of several hosts; nothing is mocked.
 *
 * Two hosts on a real nats-server, the dashboard on a NATS connection of its own (as any client's):
 * both hosts are listed with their labels; a component scaled on B through a control client (on
 * another connection) appears within 2 s of the scale resolving, without a reload; a provider started
 * on A appears under Providers; a link put through the page's Actions tab is what the control client's
 * `getLinks()` returns; a stopped host B leaves the Hosts table (its `host_stopped` event takes it out
 * of the hosts the server has heard from lately, so the next snapshot does not list it, not even as
 * stale), within a few seconds and without a reload.
 *
 * At size, on the embedded lattice: 3 hosts, 30 components (the 6.7 KB WAT hello, one instance each),
 * 200 links. A fresh page is opened three times and the first full render is measured in the page,
 * from its navigation start (the token URL) to the Hosts table listing the 3 hosts and the Links tab
 * counting 200; each must be within 1 s. `GET /api/lattice` is timed on its own too, with the bearer
 * token, to show how much of that the snapshot takes.
 *
 * Chromium comes from `node scripts/ensure-deps.ts` (Debian package `chromium`), nats-server likewise.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { startDashboard } from '@cirrus/dashboard';
import type { Dashboard, LatticeSnapshot } from '@cirrus/dashboard';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import type { Link } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { startNatsServer, tempDir, waitFor } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { buildWatHello } from '../../bench/wat-hello.ts';
import { launchChromium } from './chromium.ts';

/** Every Playwright wait has this deadline unless it names its own. */
const WAIT_MS = 5_000;
/** The first full render of the page at size: 3 hosts, 30 components, 200 links. */
const FIRST_RENDER_BUDGET_MS = 1_000;
const PAGE_LOADS = 3;
const HOSTS_AT_SIZE = 3;
const COMPONENTS_AT_SIZE = 30;
const LINKS_AT_SIZE = 200;

/** The few page globals the functions run in the page use (the project's types have no DOM lib). */
interface PageGlobals {
  document: {
    querySelector(selector: string): { textContent: string | null } | null;
    querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }>;
  };
  performance: {
    now(): number;
    getEntriesByType(type: string): { name: string; startTime: number; responseEnd: number }[];
  };
  /** Set by the test; still there after an update means the page was not reloaded. */
  notReloaded?: boolean;
}

/** Options every host of this file shares. */
function hostOptions(
  lattice: LatticeConnection,
  cacheDir: string,
  name: string,
  labels: Record<string, string>,
) {
  return {
    lattice,
    friendlyName: name,
    labels,
    cacheDir,
    allowFileLoad: true,
    heartbeatIntervalMs: 0,
    builtinProviders: BUILTIN_PROVIDERS,
    wireBindings: WIRE_BINDINGS,
  };
}

/** The names in the first column of the Hosts table, with " stale" after a stale one. */
async function hostRows(page: Page): Promise<string[]> {
  return page.locator('[role="tabpanel"] table tbody tr th').allInnerTexts();
}

let browser: Browser;
let work: TempDir;
/** The WAT hello as a file URL: 6.7 KB, so 30 of them start in no time. */
let watHello: string;

before(async () => {
  work = await tempDir();
  watHello = pathToFileURL(await buildWatHello(work.path)).href;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await work?.remove();
});

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(WAIT_MS);
  return context;
}

describe('dashboard over two hosts on a real nats-server', { timeout: 60_000 }, () => {
  let nats: NatsServer;
  const hosts: { host: Host; connection: NatsLatticeConnection }[] = [];
  let hostA: Host;
  let hostB: Host;
  let dashboardConnection: NatsLatticeConnection;
  let dashboard: Dashboard;
  let clientConnection: NatsLatticeConnection;
  let control: ControlClient;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  const openTab = async (name: string): Promise<void> => {
    await page.getByRole('tab', { name: new RegExp(`^${name}`) }).click();
    await page.getByRole('heading', { level: 2, name, exact: true }).waitFor();
  };

  before(async () => {
    nats = await startNatsServer();
    for (const [name, labels] of [
      ['host-a', { zone: 'east', role: 'edge' }],
      ['host-b', { zone: 'west', role: 'worker' }],
    ] as const) {
      const connection = await connectNats({ servers: nats.url, name });
      hosts.push({ host: await createHost(hostOptions(connection, work.path, name, labels)), connection });
    }
    [hostA, hostB] = hosts.map((h) => h.host) as [Host, Host];
    dashboardConnection = await connectNats({ servers: nats.url, name: 'dashboard' });
    dashboard = await startDashboard({ connection: dashboardConnection, lattice: 'default', port: 0 });
    clientConnection = await connectNats({ servers: nats.url, name: 'client' });
    control = createControlClient({ connection: clientConnection, lattice: 'default' });
    context = await newContext();
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    await context?.close();
    await dashboard?.close();
    await dashboardConnection?.close();
    await clientConnection?.close();
    for (const { host, connection } of hosts) {
      await host.stop();
      await connection.close();
    }
    await nats?.stop();
  });

  it('lists both hosts with their labels', async () => {
    await page.goto(dashboard.url);
    // The first snapshot after start may wait the whole 2 s ping window: no host is known yet.
    await waitFor(
      async () => (await hostRows(page)).length === 2,
      10_000,
      'the Hosts table to list two hosts',
    );
    for (const [host, name, labels] of [
      [hostA, 'host-a', { zone: 'east', role: 'edge' }],
      [hostB, 'host-b', { zone: 'west', role: 'worker' }],
    ] as const) {
      const row = page.getByRole('row', { name: new RegExp(`^${name}\\b`) });
      await row.waitFor();
      assert.equal(await row.locator('code.id').getAttribute('title'), host.id);
      for (const [key, value] of Object.entries(labels)) {
        const chip = row.locator('li.chip', {
          has: page.locator('.chip-key', { hasText: new RegExp(`^${key}$`) }),
        });
        assert.equal(await chip.locator('.chip-value').textContent(), value, `${name}: label ${key}`);
      }
      assert.match(await row.innerText(), /0 component\(s\), 0 provider\(s\)/);
    }
    assert.match(await page.getByRole('tab', { name: /^Hosts/ }).innerText(), /\(2\)/);
    await page.getByText('Events: live').waitFor();
  });

  it('shows a component scaled on host B through a control client within 2 s, without a reload', async (t) => {
    await openTab('Components');
    await page.evaluate(() => {
      (globalThis as unknown as PageGlobals).notReloaded = true;
    });
    const card = page.locator('section.card', { has: page.locator('h3 code', { hasText: /^hello-b$/ }) });
    assert.equal(await card.count(), 0);
    await control.scaleComponent(
      { hostId: hostB.id, componentRef: watHello, componentId: 'hello-b', count: 1 },
      { wait: true },
    );
    const scaledAt = performance.now();
    await card.getByRole('row', { name: /host-b/ }).waitFor({ timeout: 2_000 });
    const shownMs = Math.round(performance.now() - scaledAt);
    t.diagnostic(`scale on host B shown after ${shownMs} ms`);
    assert.ok(shownMs <= 2_000, `shown after ${shownMs} ms`);
    await card.getByText('1 in all').waitFor();
    assert.equal(await card.getByRole('row', { name: /host-a/ }).count(), 0, 'not placed on host A');
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as PageGlobals).notReloaded),
      true,
      'the page was not reloaded',
    );
  });

  it('shows a provider started on host A under Providers', async () => {
    await control.startProvider({
      hostId: hostA.id,
      providerRef: 'wasmcloud+builtin://keyvalue',
      providerId: 'kv-a',
    });
    await openTab('Providers');
    const cardA = page.locator('section.card', { has: page.locator('h3', { hasText: /^host-a\b/ }) });
    const row = cardA.getByRole('row', { name: /^kv-a\b/ });
    await row.waitFor();
    assert.match(await row.innerText(), /wasmcloud\+builtin:\/\/keyvalue/);
    const cardB = page.locator('section.card', { has: page.locator('h3', { hasText: /^host-b\b/ }) });
    await cardB.getByText('No providers on this host.').waitFor();
  });

  it('puts a link through the Actions tab that the control client then reads', async () => {
    await openTab('Actions');
    const form = page.locator('form.action-form', {
      has: page.getByRole('heading', { name: 'Put a link', exact: true }),
    });
    await form.getByLabel('Source id').fill('hello-b');
    await form.getByLabel('Target id').fill('kv-a');
    await form.getByLabel('WIT namespace').fill('wasi');
    await form.getByLabel('WIT package').fill('keyvalue');
    await form.getByLabel('Interfaces').fill('store, atomics');
    await form.getByLabel('Link name').fill('default');
    await form.getByRole('button', { name: 'Put link…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Confirm action' }).waitFor();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.getByRole('heading', { name: 'Result' }).waitFor({ timeout: 10_000 });
    await dialog.getByText('Done.').waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });

    const expected: Link = {
      source_id: 'hello-b',
      target: 'kv-a',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
      source_config: [],
      target_config: [],
    };
    const links = await waitFor(
      async () => {
        const all = await control.getLinks();
        return all.length > 0 && all;
      },
      WAIT_MS,
      'the link put from the page to reach the control client',
    );
    assert.equal(links.length, 1);
    const [link] = links;
    assert.ok(link !== undefined);
    assert.deepEqual(
      {
        source_id: link.source_id,
        target: link.target,
        name: link.name,
        wit_namespace: link.wit_namespace,
        wit_package: link.wit_package,
        interfaces: link.interfaces,
        source_config: link.source_config,
        target_config: link.target_config,
      },
      expected,
    );
    await openTab('Links');
    const row = page.getByRole('row', { name: /^hello-b\b/ });
    await row.waitFor();
    assert.deepEqual((await row.locator('th, td').allInnerTexts()).slice(0, 4), [
      'hello-b',
      'kv-a',
      'wasi:keyvalue/store,atomics',
      'default',
    ]);
  });

  it('drops host B from the Hosts table once it stops, without a reload', async (t) => {
    await openTab('Hosts');
    await page.evaluate(() => {
      (globalThis as unknown as PageGlobals).notReloaded = true;
    });
    // What the table showed on the way: a stale host B would show here as "host-b stale".
    const seen = new Set<string>();
    const stoppedAt = performance.now();
    await hostB.stop();
    const goneAfterMs = await waitFor(
      async () => {
        const rows = await hostRows(page);
        for (const row of rows) seen.add(row.trim());
        return (
          rows.length === 1 && rows.every((r) => r.startsWith('host-a')) && performance.now() - stoppedAt
        );
      },
      WAIT_MS,
      'host B to leave the Hosts table',
      50,
    );
    t.diagnostic(
      `host B gone from the page ${Math.round(goneAfterMs)} ms after stop() was called ` +
        `(rows seen meanwhile: ${[...seen].map((s) => JSON.stringify(s)).join(', ')})`,
    );
    assert.ok(
      ![...seen].some((row) => /^host-b\b.*stale/.test(row)),
      'host B went without being shown as stale',
    );
    assert.match(await page.getByRole('tab', { name: /^Hosts/ }).innerText(), /\(1\)/);
    assert.doesNotMatch(await page.getByRole('tab', { name: /^Hosts/ }).innerText(), /stale/);
    // The server's own answer agrees: no host B, not even as stale.
    const response = await fetch(`${dashboard.origin}/api/lattice`, {
      headers: { authorization: `Bearer ${dashboard.token}` },
      signal: AbortSignal.timeout(WAIT_MS),
    });
    const snapshot = (await response.json()) as LatticeSnapshot;
    assert.deepEqual(
      snapshot.hosts.map((h) => [h.info.id, h.stale]),
      [[hostA.id, false]],
    );
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as PageGlobals).notReloaded),
      true,
      'the page was not reloaded',
    );
    // The link stays: it is a definition, not a running thing.
    assert.equal((await control.getLinks()).length, 1);
    assert.deepEqual(pageErrors, [], 'no uncaught error in the page');
  });
});

describe('dashboard page load at size: 3 hosts, 30 components, 200 links', { timeout: 60_000 }, () => {
  const hosts: Host[] = [];
  const connections: LatticeConnection[] = [];
  let dashboard: Dashboard;
  let control: ControlClient;

  before(async () => {
    const lattice = createMemoryLattice();
    const connect = (): LatticeConnection => {
      const connection = lattice.connect();
      connections.push(connection);
      return connection;
    };
    for (let i = 0; i < HOSTS_AT_SIZE; i++) {
      hosts.push(await createHost(hostOptions(connect(), work.path, `size-${i}`, { index: String(i) })));
    }
    // Started before the lattice is filled: it hears of every host through their events.
    dashboard = await startDashboard({ connection: connect(), lattice: 'default', port: 0 });
    control = createControlClient({ connection: connect(), lattice: 'default' });

    const ids = Array.from({ length: COMPONENTS_AT_SIZE }, (_, i) => `sized-${String(i).padStart(2, '0')}`);
    await Promise.all(
      hosts.map(async (host, h) => {
        for (const [i, componentId] of ids.entries()) {
          if (i % HOSTS_AT_SIZE !== h) continue;
          await control.scaleComponent(
            { hostId: host.id, componentRef: watHello, componentId, count: 1 },
            { wait: true },
          );
        }
      }),
    );
    // Link i: from component i mod 30, in package p<i div 30>: each (source, package) pair once.
    for (let i = 0; i < LINKS_AT_SIZE; i++) {
      await control.putLink({
        source_id: ids[i % COMPONENTS_AT_SIZE] ?? '',
        target: `target-${i}`,
        name: 'default',
        wit_namespace: 'cirrus-size',
        wit_package: `p${Math.floor(i / COMPONENTS_AT_SIZE)}`,
        interfaces: ['api'],
        source_config: [],
        target_config: [],
      });
    }
    await waitFor(
      async () => {
        const inventories = await Promise.all(hosts.map((host) => control.getInventory(host.id)));
        const running = new Set(inventories.flatMap((inv) => inv.components.map((c) => c.id)));
        return ids.every((id) => running.has(id));
      },
      10_000,
      `all ${COMPONENTS_AT_SIZE} components in the hosts' inventories`,
      50,
    );
    assert.equal((await control.getLinks()).length, LINKS_AT_SIZE);
  });

  after(async () => {
    await dashboard?.close();
    for (const host of hosts) await host.stop();
    for (const connection of connections) await connection.close();
  });

  it(`renders the whole lattice within ${FIRST_RENDER_BUDGET_MS} ms of navigation start`, async (t) => {
    // The snapshot on its own, as the page's first request asks for it.
    const apiMs: number[] = [];
    for (let i = 0; i < PAGE_LOADS; i++) {
      const started = performance.now();
      const response = await fetch(`${dashboard.origin}/api/lattice`, {
        headers: { authorization: `Bearer ${dashboard.token}` },
        signal: AbortSignal.timeout(WAIT_MS),
      });
      const snapshot = (await response.json()) as LatticeSnapshot;
      apiMs.push(Math.round(performance.now() - started));
      assert.equal(snapshot.hosts.length, HOSTS_AT_SIZE);
      assert.ok(Array.isArray(snapshot.links) && snapshot.links.length === LINKS_AT_SIZE);
    }
    t.diagnostic(`GET /api/lattice: ${apiMs.join(', ')} ms`);

    const renders: number[] = [];
    /** In each page: when its GET /api/lattice started and ended, from navigation start. */
    const fetches: string[] = [];
    for (let i = 0; i < PAGE_LOADS; i++) {
      // A fresh context each time: no session, no cache, the token URL as a first visit opens it.
      const context = await newContext();
      try {
        const page = await context.newPage();
        const errors: string[] = [];
        page.on('pageerror', (error) => errors.push(error.message));
        await page.goto(dashboard.url);
        const rendered = await page.waitForFunction(
          ({ hosts: wanted, links }) => {
            const { document, performance } = globalThis as unknown as PageGlobals;
            const rows = document.querySelectorAll('[role="tabpanel"] table tbody tr th');
            const linksTab = document.querySelector('#tab-links')?.textContent ?? '';
            return rows.length === wanted && linksTab.includes(`(${links})`) ? performance.now() : false;
          },
          { hosts: HOSTS_AT_SIZE, links: LINKS_AT_SIZE },
          { polling: 'raf', timeout: 10_000 },
        );
        renders.push(Math.round(Number(await rendered.jsonValue())));
        const request = await page.evaluate(() => {
          const { performance } = globalThis as unknown as PageGlobals;
          const entry = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/api/lattice'));
          return entry && [Math.round(entry.startTime), Math.round(entry.responseEnd)];
        });
        fetches.push(request === undefined ? '?' : `${request[0]}→${request[1]}`);
        const names = (await hostRows(page)).map((row) => row.trim()).sort();
        assert.deepEqual(names, ['size-0', 'size-1', 'size-2']);
        assert.match(
          await page.getByRole('tab', { name: /^Components/ }).innerText(),
          new RegExp(`\\(${COMPONENTS_AT_SIZE}\\)`),
        );
        assert.deepEqual(errors, [], 'no uncaught error in the page');
      } finally {
        await context.close();
      }
    }
    t.diagnostic(
      `first full render (navigation start → 3 hosts and 200 links shown): ${renders.join(', ')} ms; ` +
        `the page's GET /api/lattice ran ${fetches.join(', ')} ms`,
    );
    for (const ms of renders) {
      assert.ok(
        ms <= FIRST_RENDER_BUDGET_MS,
        `first full render took ${ms} ms (budget ${FIRST_RENDER_BUDGET_MS})`,
      );
    }
  });
});
