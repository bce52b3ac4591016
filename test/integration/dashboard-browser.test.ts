/**
 * The dashboard's page in a real headless Chromium (playwright-core driving the system's chromium),
 * against a real host and the real dashboard server on the embedded lattice; nothing is mocked.
 *
 * Proven here: each tab shows its part of the lattice (a host with labels, a component, a provider, a
 * link, a named config, the live events, and that no application manager runs); a scale done through
 * the control interface appears within 2 s without a reload; put-config and delete-config through
 * the Actions dialog change the lattice, and refused actions show their error code; hostile strings
 * from the lattice are shown as text (no script runs, no element is made of them); a browser without
 * the session gets the "no session" notice and 401s; a page of another origin cannot take an action
 * with the session's cookie, by form or by fetch. The first full render is measured and printed.
 *
 * Hostile strings: a host label `<img src=x onerror=alert(1)>`. The host refuses `</script>` as a
 * component id and as a link name (INVALID_ID, checked below), so `</script>` goes in a config value,
 * a host label, and a component id sent from the Actions form, whose refusal echoes it back.
 *
 * Screenshots of the views go to a temp dir (kept when a test fails, its path printed); with
 * CIRRUS_UPDATE_SCREENSHOTS=1 they are copied to docs/images/dashboard-<view>.png as well.
 * Chromium comes from `node scripts/ensure-deps.ts` (Debian package `chromium`).
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { startDashboard } from '@cirrus/dashboard';
import type { ApiError, Dashboard } from '@cirrus/dashboard';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { tempDir, waitFor } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { launchChromium } from './chromium.ts';

const HELLO = new URL('../../examples/hello/build/hello.wasm', import.meta.url);
const DOCS_IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));
const HOSTILE_LABEL = '<img src=x onerror=alert(1)>';
const SCRIPT_END = '</script>';
const HOST_NAME = 'browser-host';
/** Every Playwright wait has this deadline unless it names its own. */
const WAIT_MS = 5_000;

/** The few page globals the functions run in the page use (the project's types have no DOM lib). */
interface PageGlobals {
  document: { querySelectorAll(selector: string): ArrayLike<{ textContent: string | null }> };
  performance: { now(): number; getEntriesByType(type: string): { toJSON(): Record<string, number> }[] };
  /** Set by the test; still there after an update means the page was not reloaded. */
  notReloaded?: boolean;
}

/** The attacker's page: a form POST and a no-cors fetch to the dashboard's actions, both carrying cookies. */
function attackPage(actionsUrl: string, configName: string): string {
  const body = JSON.stringify({ kind: 'put-config', name: configName, values: { by: 'fetch' } });
  // enctype=text/plain sends `name=value`: split so the body is the JSON of a put-config.
  const formName = `{"kind":"put-config","name":"${configName}","values":{"by":"`;
  const attr = (text: string): string => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  return `<!doctype html>
<html><head><title>attacker</title></head><body>
<form id="attack" method="POST" action="${attr(actionsUrl)}" enctype="text/plain">
  <input type="hidden" name="${attr(formName)}" value="${attr('form"}}')}">
</form>
<script>
  fetch(${JSON.stringify(actionsUrl)}, {
    method: 'POST',
    credentials: 'include',
    mode: 'no-cors',
    body: ${JSON.stringify(body)},
  })
    .catch(() => undefined)
    .finally(() => document.getElementById('attack').submit());
</script>
</body></html>`;
}

describe('dashboard in a browser', () => {
  let dir: TempDir;
  let shots: TempDir;
  let host: Host;
  let dashboard: Dashboard;
  let control: ControlClient;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let attacker: Server;
  let attackerPort: number;
  let failed = false;
  /** alert/confirm/prompt opened by any page: there must be none. */
  const dialogs: string[] = [];
  const pageErrors: string[] = [];

  const watch = (p: Page): void => {
    p.on('dialog', (dialog) => {
      dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss().catch(() => undefined);
    });
    p.on('pageerror', (error) => pageErrors.push(error.message));
  };

  /** The whole page, or only the viewport when a modal dialog is what matters. */
  const screenshot = async (p: Page, view: string, fullPage = true): Promise<void> => {
    const file = join(shots.path, `dashboard-${view}.png`);
    await p.screenshot({ path: file, fullPage });
    if (process.env['CIRRUS_UPDATE_SCREENSHOTS'] === '1') {
      await mkdir(DOCS_IMAGES, { recursive: true });
      await copyFile(file, join(DOCS_IMAGES, `dashboard-${view}.png`));
    }
  };

  const openTab = async (name: string): Promise<void> => {
    const tab = page.getByRole('tab', { name: new RegExp(`^${name}`) });
    await tab.click();
    await page.getByRole('heading', { level: 2, name, exact: true }).waitFor();
    assert.equal(await tab.getAttribute('aria-selected'), 'true');
  };

  /** Nothing from the lattice became markup: no dialog, no injected img, the page's one script only. */
  const assertNothingInjected = async (p: Page): Promise<void> => {
    assert.deepEqual(dialogs, [], 'no alert/confirm/prompt opened');
    assert.equal(await p.locator('img[src="x"]').count(), 0, 'no <img src=x> element');
    assert.equal(await p.locator('script').count(), 1, 'only the page’s own script element');
  };

  const actionForm = (title: string) =>
    page.locator('form.action-form', { has: page.getByRole('heading', { name: title, exact: true }) });

  /** Confirms the open action dialog and waits for its result. */
  const confirmAction = async (): Promise<void> => {
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('heading', { name: 'Confirm action' }).waitFor();
    await dialog.getByRole('button', { name: 'Confirm' }).click();
    await dialog.getByRole('heading', { name: 'Result' }).waitFor({ timeout: 10_000 });
  };

  const closeAction = async (): Promise<void> => {
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'hidden' });
  };

  before(async () => {
    dir = await tempDir();
    shots = await tempDir('cirrus-dashboard-screenshots-');
    const lattice = createMemoryLattice();
    host = await createHost({
      lattice: lattice.connect(),
      friendlyName: HOST_NAME,
      labels: { zone: HOSTILE_LABEL, note: SCRIPT_END },
      cacheDir: dir.path,
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      builtinProviders: BUILTIN_PROVIDERS,
      wireBindings: WIRE_BINDINGS,
    });
    // Started before the lattice is filled: it learns config names from the config_set events.
    dashboard = await startDashboard({ connection: lattice.connect(), lattice: 'default', port: 0 });
    control = createControlClient({ connection: lattice.connect(), lattice: 'default' });

    await control.scaleComponent(
      { hostId: host.id, componentRef: HELLO.href, componentId: 'hello', count: 1 },
      { wait: true },
    );
    await control.startProvider({
      hostId: host.id,
      providerRef: 'wasmcloud+builtin://keyvalue',
      providerId: 'kv',
    });
    await control.putConfig('greeting', { text: SCRIPT_END });
    await control.putLink({
      source_id: 'hello',
      target: 'kv',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
      source_config: [],
      target_config: ['greeting'],
    });

    attacker = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://attacker');
      const name = url.searchParams.get('name') ?? 'attack';
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(attackPage(`${dashboard.origin}/api/actions`, name));
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerPort = (attacker.address() as AddressInfo).port;

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(WAIT_MS);
    page = await context.newPage();
    watch(page);
  });

  afterEach((t) => {
    // TestContext.passed (Node >= 21.7) is not in @types/node yet.
    if ('passed' in t && t.passed === false) failed = true;
  });

  after(async () => {
    await browser?.close();
    attacker?.closeAllConnections();
    await new Promise<void>((resolve) =>
      attacker === undefined ? resolve() : attacker.close(() => resolve()),
    );
    await dashboard?.close();
    await host?.stop();
    await dir?.remove();
    if (failed) process.stdout.write(`# dashboard screenshots kept in ${shots?.path}\n`);
    else await shots?.remove();
  });

  it('opens with the token and renders the Hosts table with the host', async (t) => {
    const started = Date.now();
    await page.goto(dashboard.url);
    // The token traded for the cookie, the address bar has the bare page.
    assert.equal(page.url(), `${dashboard.origin}/`);
    // Measured in the page, from its navigation start (the token URL, before the redirect).
    const rendered = await page.waitForFunction(
      (name) => {
        const { document, performance } = globalThis as unknown as PageGlobals;
        const heads = Array.from(document.querySelectorAll('[role="tabpanel"] table tbody tr th'));
        return heads.some((th) => th.textContent?.includes(name) === true) ? performance.now() : false;
      },
      HOST_NAME,
      { polling: 'raf', timeout: 10_000 },
    );
    const firstRenderMs = Math.round(Number(await rendered.jsonValue()));
    const wallMs = Date.now() - started;
    const nav = await page.evaluate(() => {
      const { performance } = globalThis as unknown as PageGlobals;
      const entry = performance.getEntriesByType('navigation')[0]?.toJSON() ?? {};
      return {
        redirectEnd: entry['redirectEnd'] ?? 0,
        domContentLoaded: entry['domContentLoadedEventEnd'] ?? 0,
      };
    });
    t.diagnostic(
      `page load to first full render: ${firstRenderMs} ms (redirect done ${Math.round(nav.redirectEnd)} ms, ` +
        `DOMContentLoaded ${Math.round(nav.domContentLoaded)} ms; ${wallMs} ms as seen by the test)`,
    );
    assert.ok(firstRenderMs < 10_000, `first render took ${firstRenderMs} ms`);

    const row = page.getByRole('row', { name: new RegExp(HOST_NAME) });
    await row.waitFor();
    assert.match(await row.innerText(), /1 component\(s\), 1 provider\(s\)/);
    assert.equal(await row.locator('code.id').getAttribute('title'), host.id);
    assert.match(await page.getByRole('tab', { name: /^Hosts/ }).innerText(), /\(1\)/);
    await page.getByText('Events: live').waitFor();
    await screenshot(page, 'hosts');
  });

  it('shows hostile label values as text: no script runs, no element is made of them', async () => {
    const chips = page.locator('li.chip');
    const zone = chips.filter({ has: page.locator('.chip-key', { hasText: /^zone$/ }) });
    assert.equal(await zone.locator('.chip-value').textContent(), HOSTILE_LABEL);
    await page.getByText(HOSTILE_LABEL, { exact: true }).waitFor({ state: 'visible' });
    const note = chips.filter({ has: page.locator('.chip-key', { hasText: /^note$/ }) });
    assert.equal(await note.locator('.chip-value').textContent(), SCRIPT_END);
    await assertNothingInjected(page);
  });

  it('shows each part of the lattice on its tab', async () => {
    await openTab('Components');
    const card = page.locator('section.card', { has: page.locator('h3 code', { hasText: /^hello$/ }) });
    await card.waitFor();
    assert.ok((await card.innerText()).includes(HELLO.href), 'the image reference');
    await card.getByText('1 in all').waitFor();
    await card.getByRole('row', { name: new RegExp(HOST_NAME) }).waitFor();
    await screenshot(page, 'components');

    await openTab('Providers');
    const provider = page.getByRole('row', { name: /^kv\b/ });
    await provider.waitFor();
    assert.match(await provider.innerText(), /Key-Value[\s\S]*wasmcloud\+builtin:\/\/keyvalue/);
    await provider.getByRole('button', { name: /^Stop/ }).waitFor();
    await screenshot(page, 'providers');

    await openTab('Links');
    const link = page.getByRole('row', { name: /^hello\b/ });
    await link.waitFor();
    const cells = await link.locator('th, td').allInnerTexts();
    assert.deepEqual(cells.slice(0, 6), [
      'hello',
      'kv',
      'wasi:keyvalue/store,atomics',
      'default',
      'none',
      'greeting',
    ]);
    // The graph: both ends as nodes, one edge.
    await page.locator('svg .node-component').waitFor();
    await page.locator('svg .node-provider').waitFor();
    assert.equal(await page.locator('svg g.edge').count(), 1);
    await screenshot(page, 'links');

    await openTab('Config');
    const entry = page.locator('li.config-entry', {
      has: page.locator('.config-name', { hasText: /^greeting$/ }),
    });
    await entry.waitFor();
    assert.equal(await entry.locator('code.value').count(), 0, 'values hidden until asked for');
    await entry.getByRole('button', { name: /^Show values/ }).click();
    const value = entry.locator('code.value');
    await value.waitFor();
    assert.equal(await value.textContent(), SCRIPT_END);
    await screenshot(page, 'config');
    await assertNothingInjected(page);

    await openTab('Applications');
    await page.getByText('The application manager is not answering.').waitFor();
    assert.match(await page.getByRole('tab', { name: /^Applications/ }).innerText(), /\(unavailable\)/);
    await screenshot(page, 'apps');

    await openTab('Actions');
    for (const title of [
      'Scale a component',
      'Start a provider',
      'Put a link',
      'Put a config',
      'Put an application',
    ]) {
      await actionForm(title).waitFor();
    }
    await openTab('Hosts');
    await assertNothingInjected(page);
  });

  it('shows a scale done through the control client within 2 s, without a reload, and its events', async (t) => {
    await openTab('Components');
    await page.evaluate(() => {
      (globalThis as unknown as PageGlobals).notReloaded = true;
    });
    const card = page.locator('section.card', { has: page.locator('h3 code', { hasText: /^hello-live$/ }) });
    assert.equal(await card.count(), 0);
    await control.scaleComponent(
      { hostId: host.id, componentRef: HELLO.href, componentId: 'hello-live', count: 2 },
      { wait: true },
    );
    const scaledAt = performance.now();
    await card.getByText('2 in all').waitFor({ timeout: 2_000 });
    const shownMs = Math.round(performance.now() - scaledAt);
    t.diagnostic(`scale through the control client shown after ${shownMs} ms`);
    assert.ok(shownMs < 2_000);
    assert.equal(
      await page.evaluate(() => (globalThis as unknown as PageGlobals).notReloaded),
      true,
      'the page was not reloaded',
    );

    await openTab('Events');
    const scaled = page
      .locator('ol.events li', { hasText: 'component_scaled' })
      .filter({ hasText: 'hello-live' });
    await scaled.first().waitFor();
    assert.match(await page.getByRole('tab', { name: /^Events/ }).innerText(), /\([1-9]\d*\)/);
    // The details open on a click, with the whole event.
    await scaled.first().locator('summary').click();
    await scaled.first().getByText('com.wasmcloud.lattice.component_scaled', { exact: true }).waitFor();
    await screenshot(page, 'events');
  });

  it('puts and deletes a config through the Actions dialog', async () => {
    await openTab('Actions');
    const put = actionForm('Put a config');
    await put.getByLabel('Config name').fill('ui-made');
    await put.getByLabel('Values').fill('url=https://example.com\nfilter=a=b');
    await put.getByRole('button', { name: 'Put config…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Put config ui-made with 2 key(s).').waitFor();
    await confirmAction();
    await dialog.getByText('Done.').waitFor();
    await screenshot(page, 'action-result', false);
    await closeAction();
    assert.deepEqual(await control.getConfig('ui-made'), { url: 'https://example.com', filter: 'a=b' });
    await page.locator('ol.outcomes li.outcome-ok', { hasText: 'Put config ui-made' }).waitFor();

    const remove = actionForm('Delete a config');
    await remove.getByLabel('Config name').fill('ui-made');
    await remove.getByRole('button', { name: 'Delete config…' }).click();
    await dialog.getByText('Delete config ui-made.').waitFor();
    await confirmAction();
    await dialog.getByText('Done.').waitFor();
    await closeAction();
    assert.equal(await control.getConfig('ui-made'), undefined);

    // The Config tab follows: the name came with config_set and left with config_deleted.
    await openTab('Config');
    await page.locator('.config-name', { hasText: /^greeting$/ }).waitFor();
    await waitFor(
      async () => (await page.locator('.config-name', { hasText: /^ui-made$/ }).count()) === 0,
      WAIT_MS,
      'ui-made to leave the Config tab',
    );
  });

  it('shows the error code of a refused action, and a refused id as text', async () => {
    await openTab('Actions');
    const putApp = actionForm('Put an application');
    await putApp.locator('textarea').fill('apiVersion: core.oam.dev/v1beta1\nkind: Application\n');
    await putApp.getByRole('button', { name: 'Put application…' }).click();
    await confirmAction();
    const dialog = page.getByRole('dialog');
    const failure = dialog.locator('.notice-error');
    await failure.getByText('The action failed').waitFor();
    assert.equal(await failure.locator('code').first().textContent(), 'MANIFEST_INVALID');
    await screenshot(page, 'action-error', false);
    await closeAction();
    await page.locator('ol.outcomes .badge-error', { hasText: 'MANIFEST_INVALID' }).waitFor();

    // The host refuses `</script>` as a component id and as a link name, through the control client
    // as through the page; the page shows the refusal, with the id in it, as text.
    await assert.rejects(
      control.scaleComponent({
        hostId: host.id,
        componentRef: HELLO.href,
        componentId: SCRIPT_END,
        count: 1,
      }),
      (err: Error & { code?: string }) =>
        err.code === 'CONTROL_REQUEST_FAILED' && /INVALID_ID/.test(err.message),
    );
    await assert.rejects(
      control.putLink({
        source_id: 'hello',
        target: 'kv',
        name: SCRIPT_END,
        wit_namespace: 'wasi',
        wit_package: 'keyvalue',
        interfaces: ['store'],
        source_config: [],
        target_config: [],
      }),
      (err: Error & { code?: string }) =>
        err.code === 'CONTROL_REQUEST_FAILED' && /INVALID_ID/.test(err.message),
    );
    const scale = actionForm('Scale a component');
    await scale.getByLabel('Component reference').fill(HELLO.href);
    await scale.getByLabel('Component id').fill(SCRIPT_END);
    await scale.getByRole('button', { name: 'Scale…' }).click();
    await confirmAction();
    await failure.getByText('The action failed').waitFor();
    assert.equal(await failure.locator('code').first().textContent(), 'CONTROL_REQUEST_FAILED');
    assert.match((await failure.locator('pre.message').textContent()) ?? '', /INVALID_ID: .*"<\/script>"/);
    await closeAction();
    await assertNothingInjected(page);
  });

  it('refuses a browser without the session: the page says so and the API answers 401', async () => {
    const stranger = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    stranger.setDefaultTimeout(WAIT_MS);
    try {
      const bare = await stranger.newPage();
      watch(bare);
      await bare.goto(`${dashboard.origin}/`);
      await bare.getByRole('heading', { name: 'No session' }).waitFor();
      await bare.getByText('DASHBOARD_UNAUTHORIZED').waitFor();
      const status = await bare.evaluate(async () => (await fetch('/api/lattice')).status);
      assert.equal(status, 401);
      assert.equal(await bare.getByRole('table').count(), 0, 'no lattice shown');
      await screenshot(bare, 'no-session');
    } finally {
      await stranger.close();
    }
  });

  it('refuses actions posted by another origin’s page, by form and by fetch, cookie or not', async () => {
    const actionsUrl = `${dashboard.origin}/api/actions`;
    const attempts = [
      // Another port of the same address is another origin but the same site: the cookie goes along,
      // and the server's Origin and Sec-Fetch-Site checks refuse the action.
      {
        origin: `http://127.0.0.1:${attackerPort}`,
        name: 'csrf-same-site',
        cookieSent: true,
        status: 403,
        code: 'DASHBOARD_FORBIDDEN',
      },
      // Another site: SameSite=Strict keeps the cookie home, so the request has no session at all.
      {
        origin: `http://localhost:${attackerPort}`,
        name: 'csrf-cross-site',
        cookieSent: false,
        status: 401,
        code: 'DASHBOARD_UNAUTHORIZED',
      },
    ];
    for (const attempt of attempts) {
      const evil = await context.newPage();
      watch(evil);
      // The browser hides the no-cors answer from the attacker (and from Playwright's events: the
      // dashboard's Cross-Origin-Resource-Policy blocks it), so the network layer is asked directly.
      const cdp = await context.newCDPSession(evil);
      await cdp.send('Network.enable');
      interface Post {
        url?: string;
        type?: string;
        headers?: Record<string, string>;
        cookieBlocked?: string[];
        status?: number;
      }
      const posts = new Map<string, Post>();
      const post = (id: string): Post => posts.get(id) ?? (posts.set(id, {}).get(id) as Post);
      cdp.on('Network.requestWillBeSent', (e) => {
        if (e.request.method !== 'POST') return;
        Object.assign(post(e.requestId), { url: e.request.url, type: e.type });
      });
      cdp.on('Network.requestWillBeSentExtraInfo', (e) => {
        const headers = Object.fromEntries(
          Object.entries(e.headers).map(([k, v]) => [k.toLowerCase(), String(v)]),
        );
        const blocked = e.associatedCookies.filter((c) => c.blockedReasons.length > 0);
        Object.assign(post(e.requestId), {
          headers,
          cookieBlocked: blocked.flatMap((c) => c.blockedReasons),
        });
      });
      cdp.on('Network.responseReceivedExtraInfo', (e) => {
        post(e.requestId).status = e.statusCode;
      });
      const formAnswer = evil.waitForResponse(
        (response) => response.url() === actionsUrl && response.request().resourceType() === 'document',
      );
      // Awaited below; this keeps its rejection from escaping when an assertion fails first.
      formAnswer.catch(() => undefined);
      try {
        await evil.goto(`${attempt.origin}/?name=${attempt.name}`);
        const answered = await waitFor(
          () => {
            const done = [...posts.values()].filter((p) => p.url === actionsUrl && p.status !== undefined);
            return done.length >= 2 && done.every((p) => p.headers !== undefined) && done;
          },
          WAIT_MS,
          `both posts from ${attempt.origin} to be answered`,
        );
        assert.deepEqual(answered.map((p) => p.type).sort(), ['Document', 'Fetch']);
        for (const sent of answered) {
          assert.equal(sent.headers?.['origin'], attempt.origin);
          assert.equal('cookie' in (sent.headers ?? {}), attempt.cookieSent, `${sent.type}: cookie sent?`);
          if (!attempt.cookieSent) {
            // The session cookie was there to send, and SameSite=Strict held it back.
            assert.ok(
              sent.cookieBlocked?.some((r) => /SameSiteStrict/.test(r)),
              String(sent.cookieBlocked),
            );
          }
          assert.equal(sent.status, attempt.status, `${sent.type} answered`);
        }
        // The form's answer has a deadline of its own (the context's default, WAIT_MS).
        const body = JSON.parse(await (await formAnswer).text()) as ApiError;
        assert.equal(body.error.code, attempt.code);
      } finally {
        await cdp.detach().catch(() => undefined);
        await evil.close();
      }
      assert.equal(await control.getConfig(attempt.name), undefined, `no config ${attempt.name}`);
    }
    // The page's own session still works, and its Config tab lists no config of the attacks.
    assert.equal(await page.evaluate(async () => (await fetch('/api/lattice')).status), 200);
    await openTab('Config');
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('.config-name', { hasText: /^greeting$/ }).waitFor();
    assert.equal(await page.locator('.config-name', { hasText: /^csrf-/ }).count(), 0);
    assert.deepEqual(pageErrors, [], 'no uncaught error in any page');
    assert.deepEqual(dialogs, []);
  });
});
