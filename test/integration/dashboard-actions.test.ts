/**
 * The dashboard page's actions, taken in a real headless Chromium (playwright-core driving the
 * system's chromium) against one real host on the embedded lattice, an application manager serving
 * the wadm API there, and the real dashboard server; nothing is mocked. Each action goes through the
 * page only (an Actions form or a per-row button, confirmed in the dialog), and the lattice is then
 * read with a control client and a wadm client of the test's own.
 *
 * Proven here: a component scaled to 1 from the form is in the host's inventory, and gone after its
 * row's Stop on the Components tab; a provider started from the form is in the inventory, and gone
 * after its row's Stop on the Providers tab; a link put from the form is what `getLinks()` returns,
 * and `getLinks()` is empty after the Links tab's Delete; an application put as pasted YAML is listed
 * undeployed, its card's Deploy sets the deployed version (the tab then shows it deployed, with its
 * scaler) and its Undeploy clears it, `list()` and `status()` agreeing at each step. The error paths
 * change nothing: the deploy of an unknown application shows APP_NOT_FOUND and its hint; the start of
 * an unknown builtin provider shows UNKNOWN_PROVIDER (the host acknowledges the start first, as
 * wasmCloud does, and refuses it in a provider_start_failed event, which the dashboard waits for); the
 * delete of a link that does not exist is no error to the host (wasmCloud's answer, shown as "Done.").
 *
 * Chromium comes from `node scripts/ensure-deps.ts` (Debian package `chromium`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createAppManager, createWadmClient, serveWadmApi } from '@cirrus/apps';
import type { AppManager, WadmApi, WadmClient } from '@cirrus/apps';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { startDashboard } from '@cirrus/dashboard';
import type { Dashboard } from '@cirrus/dashboard';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection } from '@cirrus/lattice';
import type { HostInventory } from '@cirrus/protocol';
import { resolveLimits, silentLogger } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { tempDir, waitFor } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { launchChromium } from './chromium.ts';

const HELLO = new URL('../../examples/hello/build/hello.wasm', import.meta.url);
const KEYVALUE = 'wasmcloud+builtin://keyvalue';
const HOST_NAME = 'actions-host';
/** Every Playwright wait and every wait on the lattice has this deadline unless it names its own. */
const WAIT_MS = 5_000;
const APP = 'ui-app';
const MANIFEST = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ${APP}
  annotations:
    version: v1
    description: put from the dashboard page
spec:
  components:
    - name: greeter
      type: component
      properties:
        image: ${HELLO.href}
      traits:
        - type: spreadscaler
          properties:
            instances: 1
`;

describe('dashboard actions through the page', { timeout: 60_000 }, () => {
  let dir: TempDir;
  let host: Host;
  const connections: LatticeConnection[] = [];
  let manager: AppManager;
  let wadmApi: WadmApi;
  let dashboard: Dashboard;
  let control: ControlClient;
  let wadm: WadmClient;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const openTab = async (name: string): Promise<void> => {
    await page.getByRole('tab', { name: new RegExp(`^${name}`) }).click();
    await page.getByRole('heading', { level: 2, name, exact: true }).waitFor();
  };

  const actionForm = (title: string) =>
    page.locator('form.action-form', { has: page.getByRole('heading', { name: title, exact: true }) });

  /** Checks what the open dialog says it will do, confirms it, and waits for the result. */
  const confirmAction = async (summary: string): Promise<void> => {
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Confirm action' }).waitFor();
    assert.equal(await dialog.locator('.action-summary').textContent(), summary);
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.getByRole('heading', { name: 'Result' }).waitFor({ timeout: 10_000 });
  };

  const closeAction = async (): Promise<void> => {
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
    await page.getByRole('dialog').waitFor({ state: 'hidden' });
  };

  /** Confirms the open dialog and expects "Done."; returns the server's message. */
  const expectDone = async (summary: string): Promise<string> => {
    await confirmAction(summary);
    const dialog = page.getByRole('dialog');
    const ok = dialog.locator('.notice-ok');
    await ok.getByText('Done.').waitFor();
    const message = (await ok.locator('pre.message').textContent()) ?? '';
    await closeAction();
    return message;
  };

  /** Confirms the open dialog and expects a failure; returns its code, message and hint as shown. */
  const expectFailure = async (
    summary: string,
  ): Promise<{ code: string; message: string; hint: string | undefined }> => {
    await confirmAction(summary);
    const failure = page.getByRole('dialog').locator('.notice-error');
    await failure.getByText('The action failed').waitFor();
    const code = (await failure.locator('code').first().textContent()) ?? '';
    const message = (await failure.locator('pre.message').textContent()) ?? '';
    const hints = await failure.locator('p.hint').allTextContents();
    await closeAction();
    return { code, message, hint: hints[0]?.replace(/^Hint: /, '') };
  };

  const inventory = (): Promise<HostInventory> => control.getInventory(host.id);

  /** Waits until the host's inventory satisfies `check`. */
  const inventoryWhere = (check: (inv: HostInventory) => boolean, what: string): Promise<HostInventory> =>
    waitFor(async () => ((inv) => check(inv) && inv)(await inventory()), WAIT_MS, what, 50);

  before(async () => {
    dir = await tempDir();
    const lattice = createMemoryLattice();
    const connect = (): LatticeConnection => {
      const connection = lattice.connect();
      connections.push(connection);
      return connection;
    };
    host = await createHost({
      lattice: connect(),
      friendlyName: HOST_NAME,
      cacheDir: dir.path,
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      builtinProviders: BUILTIN_PROVIDERS,
      wireBindings: WIRE_BINDINGS,
    });
    const managerConnection = connect();
    manager = createAppManager({
      control: createControlClient({ connection: managerConnection, lattice: 'default' }),
      logger: silentLogger,
      limits: resolveLimits({ appResyncIntervalMs: 500, appBackoffMs: 100, appBackoffMaxMs: 1_000 }),
      knownHosts: [host.id],
    });
    wadmApi = await serveWadmApi({
      connection: managerConnection,
      lattice: 'default',
      manager,
      logger: silentLogger,
    });
    dashboard = await startDashboard({ connection: connect(), lattice: 'default', port: 0 });
    const clientConnection = connect();
    control = createControlClient({ connection: clientConnection, lattice: 'default' });
    wadm = createWadmClient(clientConnection, 'default', WAIT_MS);

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(WAIT_MS);
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // An alert/confirm/prompt would be a page bug: every action confirms in the page's own dialog.
    page.on('dialog', (dialog) => {
      pageErrors.push(`unexpected ${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss().catch(() => undefined);
    });
    await page.goto(dashboard.url);
    await page.getByRole('row', { name: new RegExp(HOST_NAME) }).waitFor({ timeout: 10_000 });
    await page.getByText('Events: live').waitFor();
  });

  after(async () => {
    await browser?.close();
    await dashboard?.close();
    await wadmApi?.stop();
    await manager?.stop();
    await host?.stop();
    for (const connection of connections) await connection.close();
    await dir?.remove();
  });

  it('scales a component up from the form, then stops it with its row’s Stop button', async () => {
    await openTab('Actions');
    const form = actionForm('Scale a component');
    await form.getByLabel('Component reference').fill(HELLO.href);
    await form.getByLabel('Component id').fill('ui-hello');
    await form.getByLabel('Count').fill('1');
    await form.getByRole('button', { name: 'Scale…' }).click();
    await expectDone(`Scale component ui-hello (${HELLO.href}) on host ${host.id} to 1 instance(s).`);
    const up = await inventoryWhere(
      (inv) => inv.components.some((c) => c.id === 'ui-hello'),
      'ui-hello in the inventory',
    );
    assert.deepEqual(
      up.components.map((c) => [c.id, c.image_ref, c.max_instances]),
      [['ui-hello', HELLO.href, 1]],
    );

    await openTab('Components');
    const card = page.locator('section.card', { has: page.locator('h3 code', { hasText: /^ui-hello$/ }) });
    await card.getByText('1 in all').waitFor();
    await card
      .getByRole('row', { name: new RegExp(HOST_NAME) })
      .getByRole('button', { name: 'Stop', exact: true })
      .click();
    await expectDone(`Stop component ui-hello on host ${host.id}.`);
    await inventoryWhere((inv) => inv.components.length === 0, 'ui-hello to leave the inventory');
    await openTab('Components');
    await page.getByText('No components are running.').waitFor();
  });

  it('starts a provider from the form, then stops it with its row’s Stop button', async () => {
    await openTab('Actions');
    const form = actionForm('Start a provider');
    await form.getByLabel('Provider reference').fill(KEYVALUE);
    await form.getByLabel('Provider id').fill('ui-kv');
    await form.getByRole('button', { name: 'Start…' }).click();
    await expectDone(`Start provider ui-kv (${KEYVALUE}) on host ${host.id}.`);
    const started = await inventoryWhere(
      (inv) => inv.providers.some((p) => p.id === 'ui-kv'),
      'ui-kv in the inventory',
    );
    assert.deepEqual(
      started.providers.map((p) => [p.id, p.image_ref]),
      [['ui-kv', KEYVALUE]],
    );

    await openTab('Providers');
    const row = page.getByRole('row', { name: /^ui-kv\b/ });
    await row.getByRole('button', { name: /^Stop/ }).click();
    await expectDone(`Stop provider ui-kv on host ${host.id}.`);
    await inventoryWhere((inv) => inv.providers.length === 0, 'ui-kv to leave the inventory');
    await page.getByText('No providers on this host.').waitFor();
  });

  it('puts a link from the form, then deletes it with the Links tab’s Delete button', async () => {
    await openTab('Actions');
    const form = actionForm('Put a link');
    await form.getByLabel('Source id').fill('ui-hello');
    await form.getByLabel('Target id').fill('ui-kv');
    await form.getByLabel('WIT namespace').fill('wasi');
    await form.getByLabel('WIT package').fill('keyvalue');
    await form.getByLabel('Interfaces').fill('store, atomics');
    await form.getByRole('button', { name: 'Put link…' }).click();
    await expectDone('Put link ui-hello → ui-kv (wasi:keyvalue/store,atomics, name default).');
    const links = (await control.getLinks()).map((l) => [
      ...[l.source_id, l.target, l.name, l.wit_namespace, l.wit_package],
      ...[l.interfaces, l.source_config, l.target_config],
    ]);
    assert.deepEqual(links, [
      ['ui-hello', 'ui-kv', 'default', 'wasi', 'keyvalue', ['store', 'atomics'], [], []],
    ]);

    await openTab('Links');
    const row = page.getByRole('row', { name: /^ui-hello\b/ });
    await row.getByRole('button', { name: /^Delete/ }).click();
    await expectDone('Delete link from ui-hello on wasi:keyvalue (name default).');
    assert.deepEqual(await control.getLinks(), []);
    await openTab('Links');
    await page.getByText('No links are defined.').waitFor();
  });

  it('puts an application from pasted YAML, deploys it and undeploys it from its card', async () => {
    assert.deepEqual(await wadm.list(), []);
    await openTab('Applications');
    await page.getByText('No applications have been put.').waitFor();

    await openTab('Actions');
    const form = actionForm('Put an application');
    await form.locator('textarea').fill(MANIFEST);
    await form.getByRole('button', { name: 'Put application…' }).click();
    await expectDone(`Put an application manifest (${MANIFEST.length} characters).`);
    const put = await wadm.list();
    assert.deepEqual(
      put.map((m) => [m.name, m.version, m.deployed_version]),
      [[APP, 'v1', undefined]],
    );
    assert.equal((await wadm.status(APP)).status.type, 'undeployed');

    await openTab('Applications');
    const card = page.locator('section.card', {
      has: page.locator('h3', { hasText: new RegExp(`^${APP}\\b`) }),
    });
    const fact = (term: string) => card.locator(`dt:text-is("${term}") + dd`);
    await fact('Deployed version').getByText('not deployed').waitFor();
    await card.getByRole('button', { name: `Deploy v1 of ${APP}` }).click();
    await expectDone(`Deploy application ${APP} version v1.`);
    const deployed = await waitFor(
      async () => {
        const [model] = await wadm.list();
        const status = await wadm.status(APP);
        return model?.deployed_version === 'v1' && status.status.type === 'deployed' && { model, status };
      },
      10_000,
      `${APP} v1 deployed, as the wadm client sees it`,
      100,
    );
    assert.equal(deployed.model.status, 'deployed');
    assert.deepEqual(
      deployed.status.scalers?.map((s) => [s.kind, s.status.type]),
      [['SpreadScaler', 'deployed']],
    );
    const running = await inventory();
    assert.deepEqual(
      running.components.map((c) => [c.image_ref, c.max_instances, c.annotations?.['wasmcloud.dev/appspec']]),
      [[HELLO.href, 1, APP]],
    );

    await openTab('Applications');
    // A deploy raises lattice events (the component scaled), which refresh the snapshot.
    await fact('Deployed version').getByText('v1', { exact: true }).waitFor();
    await fact('Status')
      .locator('.badge-ok', { hasText: /^deployed$/ })
      .waitFor({ timeout: 10_000 });
    await card
      .getByRole('row', { name: /SpreadScaler/ })
      .locator('.badge', { hasText: 'deployed' })
      .waitFor();

    await card.getByRole('button', { name: `Undeploy ${APP}` }).click();
    await expectDone(`Undeploy application ${APP}.`);
    await waitFor(
      async () => {
        const [model] = await wadm.list();
        const status = await wadm.status(APP);
        return model?.deployed_version === undefined && status.status.type === 'undeployed';
      },
      WAIT_MS,
      `${APP} undeployed, as the wadm client sees it`,
      100,
    );
    assert.deepEqual(
      (await wadm.list()).map((m) => [m.name, m.version, m.deployed_version]),
      [[APP, 'v1', undefined]],
    );
    await inventoryWhere((inv) => inv.components.length === 0, `${APP}'s component to be removed`);
    await openTab('Applications');
    await fact('Deployed version').getByText('not deployed').waitFor();
  });

  it('shows what each refused action answers, and the lattice does not change', async () => {
    const was = { inventory: await inventory(), links: await control.getLinks(), apps: await wadm.list() };
    const unchanged = async (): Promise<void> => {
      const now = await inventory();
      assert.deepEqual([now.components, now.providers], [was.inventory.components, was.inventory.providers]);
      assert.deepEqual(await control.getLinks(), was.links);
      assert.deepEqual(
        (await wadm.list()).map((m) => [m.name, m.version, m.deployed_version]),
        was.apps.map((m) => [m.name, m.version, m.deployed_version]),
      );
    };
    await openTab('Actions');

    // The host acks a provider start before it tries it (as wasmCloud does); the dashboard waits for
    // the outcome, so the dialog shows the refusal with the host's code, as the event carries it.
    const bad = 'wasmcloud+builtin://no-such-provider';
    const start = actionForm('Start a provider');
    await start.getByLabel('Provider reference').fill(bad);
    await start.getByLabel('Provider id').fill('ui-nothing');
    await start.getByRole('button', { name: 'Start…' }).click();
    const startRefused = await expectFailure(`Start provider ui-nothing (${bad}) on host ${host.id}.`);
    assert.equal(startRefused.code, 'UNKNOWN_PROVIDER');
    assert.match(startRefused.message, /there is no built-in provider named "no-such-provider"/);
    await openTab('Events');
    const failed = page
      .locator('ol.events li', { hasText: 'provider_start_failed' })
      .filter({ hasText: 'ui-nothing' });
    await failed.locator('summary').click();
    assert.match(
      (await failed.locator('pre.json').textContent()) ?? '',
      /"error": "UNKNOWN_PROVIDER: there is no built-in provider named \\"no-such-provider\\"/,
    );
    await unchanged();
    await openTab('Providers');
    await page.getByText('No providers on this host.').waitFor();

    await openTab('Actions');
    const deploy = actionForm('Deploy an application');
    await deploy.getByLabel('Application name').fill('no-such-app');
    await deploy.getByRole('button', { name: 'Deploy…' }).click();
    const deployFailed = await expectFailure('Deploy application no-such-app (latest version).');
    assert.deepEqual(deployFailed, {
      code: 'APP_NOT_FOUND',
      message: 'no application no-such-app',
      hint: 'cirrus app list shows the applications of this lattice',
    });
    await unchanged();

    // Deleting a link that is not there is no error to the host (wasmCloud answers the same).
    const remove = actionForm('Delete a link');
    await remove.getByLabel('Source id').fill('no-such-source');
    await remove.getByLabel('WIT namespace').fill('wasi');
    await remove.getByLabel('WIT package').fill('keyvalue');
    await remove.getByRole('button', { name: 'Delete link…' }).click();
    assert.equal(
      await expectDone('Delete link from no-such-source on wasi:keyvalue (name default).'),
      "successfully deleted link (spec doesn't exist)",
    );
    await unchanged();

    // Recent results lists the 12 actions of this page, newest first, the two refusals with their codes.
    const outcomes = page.locator('ol.outcomes li');
    assert.equal(await outcomes.count(), 12);
    assert.match(await outcomes.first().innerText(), /\bDelete link from no-such-source\b/);
    assert.match(await outcomes.last().innerText(), /\bScale component ui-hello\b/);
    const refused = page.locator('ol.outcomes li.outcome-error');
    assert.deepEqual(await refused.locator('.badge-error').allTextContents(), [
      'APP_NOT_FOUND',
      'UNKNOWN_PROVIDER',
    ]);
    assert.equal(
      await refused.first().locator('p.hint').textContent(),
      'Hint: cirrus app list shows the applications of this lattice',
    );
    assert.deepEqual(pageErrors, [], 'no uncaught error and no alert in the page');
  });
});
