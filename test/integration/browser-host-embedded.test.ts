/**
 * A browser tab joins the embedded lattice of a real `cirrus up` (no NATS server): signed in to the
 * dashboard, it reaches the lattice through the host's websocket endpoint and its key-value buckets
 * through `$CIRRUS.KV`, answers the control interface, and serves HTTP that the host's HTTP server
 * routes to it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { httpGet, tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { controlOverLocalEndpoint, runCirrus, startHelloHost } from '../failure/support.ts';
import type { ControlSession, ServingHost } from '../failure/support.ts';
import { freePort, launchChromium, openTab, routeAndWait, serveComponents } from './browser-host-support.ts';
import type { Tab } from './browser-host-support.ts';

const APP = 'tabs';

describe('a browser host on the embedded lattice of cirrus up', () => {
  let dir: TempDir;
  let up: ServingHost;
  let control: ControlSession;
  let files: Awaited<ReturnType<typeof serveComponents>>;
  let browser: Browser;
  let tab: Tab;
  let dashboardUrl: URL;

  before(async () => {
    dir = await tempDir('cirrus-browser-embedded-');
    up = await startHelloHost({
      dir: dir.path,
      appName: APP,
      instances: 1,
      args: ['--log-format', 'json', '--dashboard', '127.0.0.1:0'],
    });
    const dashboard = await up.host.waitForRecord((r) => r.msg === 'dashboard', 20_000, 'the dashboard URL');
    control = await controlOverLocalEndpoint(up.host);
    files = await serveComponents();
    browser = await launchChromium();
    dashboardUrl = new URL(String(dashboard['url']));
    tab = await openTab(browser, `${dashboardUrl.href}&next=/host`);
  });

  after(async () => {
    await browser?.close();
    await files?.close();
    await control?.close();
    await up?.host.stop();
    await dir?.remove();
  });

  it('joins through the dashboard session, and both hosts answer host.ping', async () => {
    const hosts = await control.client.pingHosts({ expect: [up.host.hostId(), tab.hostId] });
    assert.deepEqual(hosts.map((h) => h.id).sort(), [up.host.hostId(), tab.hostId].sort());
    assert.equal(hosts.find((h) => h.id === tab.hostId)?.labels['hostcore.os'], 'browser');
  });

  it('is listed by `cirrus get hosts` and in the dashboard’s lattice', async () => {
    const listed = await runCirrus(['get', 'hosts', '--output', 'json'], { dir: dir.path });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(tab.hostId));
    const response = await fetch(new URL('/api/lattice', dashboardUrl), {
      headers: { authorization: `Bearer ${dashboardUrl.searchParams.get('token') ?? ''}` },
      signal: AbortSignal.timeout(10_000),
    });
    const snapshot = (await response.json()) as { hosts: { info: { id: string } }[] };
    assert.ok(
      snapshot.hosts.some((h) => h.info.id === tab.hostId),
      `the dashboard lists ${snapshot.hosts.map((h) => h.info.id).join(', ')}`,
    );
  });

  it('runs a component scaled onto the tab, reached from the host’s HTTP server', async () => {
    await control.client.scaleComponent(
      { hostId: tab.hostId, componentId: 'tab-hello', componentRef: files.url('hello.wasm'), count: 1 },
      { wait: true },
    );
    const port = await freePort();
    await routeAndWait(control.client, { serverId: `${APP}-httpserver`, componentId: 'tab-hello', port });
    const answer = await httpGet(port, '/from-the-tab', { timeoutMs: 20_000 });
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /from-the-tab/);
  });

  it('announces host_stopped when the tab closes', async () => {
    const stopped = control.client.waitForEvent(
      (event) => event.type === 'com.wasmcloud.lattice.host_stopped' && event.source === tab.hostId,
      10_000,
    );
    // The subscription reaches the endpoint before the tab goes.
    await control.connection.flush();
    await tab.page.close({ runBeforeUnload: true });
    assert.equal((await stopped).source, tab.hostId);
  });
});
