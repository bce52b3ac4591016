/**
 * A host in a browser tab (headless Chromium) joins a lattice beside a Node host, over a real
 * nats-server's websocket listener: it runs components scaled onto it through the control interface,
 * answers calls from the Node host over wRPC, reaches the Node host's providers through links, stops
 * a runaway call at its deadline, and announces `host_stopped` when the tab closes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { LatticeClient } from '@wasmcloud/lattice-client-core';
import { issueHostCredential } from '@cirrus/host';
import { Nkey } from '@cirrus/protocol';
import { httpGet, withDeadline } from '@cirrus/testing';
import type { NatsServer } from '@cirrus/testing';
import { openTab, routeAndWait, startNatsScene, TAB_LIMITS } from './browser-host-support.ts';
import type { NatsScene, ServingHost, Tab } from './browser-host-support.ts';

describe('a browser host on a NATS lattice', () => {
  let scene: NatsScene;
  let nats: NatsServer;
  let node: ServingHost;
  let files: NatsScene['files'];
  let browser: Browser;
  let tab: Tab;
  let port: number;

  before(async () => {
    scene = await startNatsScene();
    ({ nats, node, files, browser, port } = scene);
    tab = await openTab(
      browser,
      `${node.dashboard.origin}/host?nats=${encodeURIComponent(nats.wsUrl)}&label=zone=tab`,
    );
  });

  after(() => scene?.close());

  it('joins the lattice as a host of its own, cross-origin isolated, labelled as a browser', async () => {
    assert.equal(tab.crossOriginIsolated, true);
    const hosts = await node.control.pingHosts({ expect: [node.host.id, tab.hostId] });
    const inTab = hosts.find((h) => h.id === tab.hostId);
    assert.ok(inTab !== undefined, `the tab's host ${tab.hostId} did not answer host.ping`);
    assert.equal(inTab.labels['hostcore.os'], 'browser');
    assert.equal(inTab.labels['zone'], 'tab');
  });

  it('is a host to @wasmcloud/lattice-client-core too', async () => {
    const client = new LatticeClient({
      config: { latticeUrl: nats.wsUrl, latticeId: 'default', retryCount: 30 },
    });
    try {
      const reply = await withDeadline(client.hosts.get(tab.hostId), 10_000, 'hosts.get of the tab');
      assert.equal(reply.success, true);
      const inventory = reply.response as unknown as { host_id: string; labels: Record<string, string> };
      assert.equal(inventory.host_id, tab.hostId);
      assert.equal(inventory.labels['hostcore.os'], 'browser');
    } finally {
      await client.instance.disconnect().catch(() => undefined);
    }
  });

  it('runs a component scaled onto it, and answers the Node host over wRPC', async () => {
    await node.control.scaleComponent(
      { hostId: tab.hostId, componentId: 'greeter', componentRef: files.url('greeter.wasm'), count: 1 },
      { wait: true },
    );
    await node.control.scaleComponent(
      {
        hostId: node.host.id,
        componentId: 'greet-client',
        componentRef: files.url('greet-client.wasm'),
        count: 1,
      },
      { wait: true },
    );
    await node.control.putLink({
      source_id: 'greet-client',
      target: 'greeter',
      name: 'default',
      wit_namespace: 'example',
      wit_package: 'greeter',
      interfaces: ['greet'],
      source_config: [],
      target_config: [],
    });
    await routeAndWait(node.control, {
      serverId: 'web',
      componentId: 'greet-client',
      port,
      host: 'greet.test',
    });
    const inventory = await node.control.getInventory(tab.hostId);
    assert.deepEqual(
      inventory.components.map((c) => c.id),
      ['greeter'],
    );
    const answer = await httpGet(port, '/Ada', { host: 'greet.test', timeoutMs: 20_000 });
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /Ada/);
  });

  it('serves HTTP from the Node host with a component that runs only in the tab and counts in the Node host’s key-value store', async () => {
    await node.control.startProvider(
      { hostId: node.host.id, providerId: 'kv', providerRef: 'wasmcloud+builtin://keyvalue' },
      { wait: true },
    );
    await node.control.scaleComponent(
      { hostId: tab.hostId, componentId: 'counter', componentRef: files.url('counter.wasm'), count: 1 },
      { wait: true },
    );
    await node.control.putLink({
      source_id: 'counter',
      target: 'kv',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
      source_config: [],
      target_config: [],
    });
    await routeAndWait(node.control, { serverId: 'web', componentId: 'counter', port, host: 'counter.test' });
    const first = await httpGet(port, '/visits', { host: 'counter.test', timeoutMs: 20_000 });
    const second = await httpGet(port, '/visits', { host: 'counter.test', timeoutMs: 20_000 });
    assert.equal(first.status, 200, first.body);
    assert.match(first.body, /visited 1 time/);
    assert.match(second.body, /visited 2 time/);
    assert.equal(
      (await node.control.getInventory(node.host.id)).components.some((c) => c.id === 'counter'),
      false,
    );
  });

  it('stops a runaway call at its deadline, and the tab stays responsive', async () => {
    await node.control.scaleComponent(
      { hostId: tab.hostId, componentId: 'probe', componentRef: files.url('probe.wasm'), count: 1 },
      { wait: true },
    );
    await routeAndWait(node.control, { serverId: 'web', componentId: 'probe', port, host: 'probe.test' });
    const started = Date.now();
    const runaway = await httpGet(port, '/loop', { host: 'probe.test', timeoutMs: 30_000 });
    const tookMs = Date.now() - started;
    assert.ok(runaway.status >= 500, `status ${runaway.status}: ${runaway.body}`);
    assert.match(runaway.body, /DEADLINE_EXCEEDED/);
    assert.ok(tookMs < TAB_LIMITS.invocationTimeoutMs + 5_000, `the runaway call took ${tookMs} ms`);
    // The page answers at once while and after its worker was stopped, and the component runs again.
    const pageMs = await withDeadline(
      tab.page.evaluate(() => {
        const t0 = performance.now();
        return performance.now() - t0;
      }),
      2_000,
      'the tab to answer',
    );
    assert.ok(pageMs < 1_000);
    const after = await httpGet(port, '/sleep?ms=1', { host: 'probe.test', timeoutMs: 20_000 });
    assert.ok(after.status < 500, `after the runaway: ${after.status} ${after.body}`);
  });

  it('refuses an unsigned component in a tab opened with require-signed', async () => {
    const strict = await openTab(
      browser,
      `${node.dashboard.origin}/host?nats=${encodeURIComponent(nats.wsUrl)}&require-signed=true`,
    );
    try {
      await assert.rejects(
        node.control.scaleComponent(
          { hostId: strict.hostId, componentId: 'unsigned', componentRef: files.url('hello.wasm'), count: 1 },
          { wait: true },
        ),
        /CLAIMS_REQUIRED/,
      );
    } finally {
      await strict.page.close();
    }
  });

  it('announces host_stopped when the tab closes', async () => {
    const stopped = node.control.waitForEvent(
      (event) => event.type === 'com.wasmcloud.lattice.host_stopped' && event.source === tab.hostId,
      10_000,
    );
    // The subscription reaches the server before the tab goes.
    await scene.connection.flush();
    await tab.page.close({ runBeforeUnload: true });
    const event = await stopped;
    assert.equal(event.source, tab.hostId);
  });
});

describe('a browser host among hosts that sign and require signed invocations', () => {
  let scene: NatsScene;
  let tab: Tab;

  before(async () => {
    const cluster = Nkey.create('cluster');
    scene = await startNatsScene({
      host: { sign: true, require: true, clusterSeed: cluster },
      tabs: {
        require: true,
        clusterIssuers: [cluster.publicKey],
        issue: (hostId) => issueHostCredential(cluster, hostId, TAB_LIMITS.hostCredentialLifetimeMs),
      },
    });
    // Signed in first: only a dashboard session's tab is issued a credential.
    const next = encodeURIComponent(`/host?nats=${scene.nats.wsUrl}`);
    tab = await openTab(scene.browser, `${scene.node.dashboard.url}&next=${next}`);
    await scene.node.control.startProvider(
      { hostId: scene.node.host.id, providerId: 'kv', providerRef: 'wasmcloud+builtin://keyvalue' },
      { wait: true },
    );
  });

  after(() => scene?.close());

  it('signs the calls it makes and checks those it serves, with a credential its serving host issued', async () => {
    await scene.node.control.scaleComponent(
      { hostId: tab.hostId, componentId: 'counter', componentRef: scene.files.url('counter.wasm'), count: 1 },
      { wait: true },
    );
    await scene.node.control.putLink({
      source_id: 'counter',
      target: 'kv',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'keyvalue',
      interfaces: ['store', 'atomics'],
      source_config: [],
      target_config: [],
    });
    await routeAndWait(scene.node.control, { serverId: 'web', componentId: 'counter', port: scene.port });
    // The Node host's call into the tab is verified there; the tab's key-value calls are verified on
    // the Node host, which refuses any unsigned invocation.
    const answer = await httpGet(scene.port, '/signed', { timeoutMs: 20_000 });
    assert.equal(answer.status, 200, answer.body);
    assert.match(answer.body, /visited 1 time/);
  });
});
