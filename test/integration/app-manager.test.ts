/**
 * The application manager against three hosts on a real nats-server: placement by labels and
 * weights, a daemon provider, a link and its config, a manual change undone, a spread that loses
 * its only host waiting with the reason, and an undeploy that leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAppManager, parseManifest } from '@cirrus/apps';
import type { AppManager, AppStatus } from '@cirrus/apps';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { resolveLimits, silentLogger } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { shopManifest, startNatsServer, tempDir, waitFor } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';

const GREETER = new URL('../../packages/testing/fixtures/greeter/build/greeter.wasm', import.meta.url);

const MANIFEST = shopManifest(GREETER.href);

interface Node {
  name: string;
  host: Host;
  connection: NatsLatticeConnection;
}

describe('application manager across three hosts on NATS', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let cache: TempDir;
  const nodes: Node[] = [];
  let clientConnection: NatsLatticeConnection;
  let control: ControlClient;
  let manager: AppManager;

  before(async () => {
    nats = await startNatsServer();
    cache = await tempDir();
    for (const [name, zone] of [
      ['east', 'east'],
      ['west-1', 'west'],
      ['west-2', 'west'],
    ] as const) {
      const connection = await connectNats({ servers: nats.url, name });
      const host = await createHost({
        builtinProviders: BUILTIN_PROVIDERS,
        wireBindings: WIRE_BINDINGS,
        lattice: connection,
        friendlyName: name,
        labels: { zone },
        cacheDir: cache.path,
        allowFileLoad: true,
        heartbeatIntervalMs: 0,
        limits: resolveLimits({ maxInstances: 10 }),
      });
      nodes.push({ name, host, connection });
    }
    clientConnection = await connectNats({ servers: nats.url, name: 'manager' });
    control = createControlClient({ connection: clientConnection, lattice: 'default' });
    manager = createAppManager({
      control,
      logger: silentLogger,
      limits: {
        appResyncIntervalMs: 300,
        appBackoffMs: 100,
        appBackoffMaxMs: 1_000,
        controlWaitTimeoutMs: 10_000,
      },
    });
  });

  after(async () => {
    await manager.stop();
    await clientConnection.close();
    for (const { host, connection } of nodes) {
      await host.stop();
      await connection.close();
    }
    await nats.stop();
    await cache.remove();
  });

  const idOf = (name: string): string => {
    const node = nodes.find((n) => n.name === name);
    assert.ok(node !== undefined);
    return node.host.id;
  };

  const counts = async (componentId: string): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const { name, host } of nodes) {
      if (!(await control.pingHosts()).some((h) => h.id === host.id)) continue;
      const c = (await control.getInventory(host.id)).components.find((x) => x.id === componentId);
      if (c !== undefined) out[name] = c.max_instances;
    }
    return out;
  };

  const settled = (want: AppStatus['status']['type']): Promise<AppStatus> =>
    waitFor(
      async () => {
        await manager.pass();
        const status = manager.status('shop');
        return status?.status.type === want ? status : undefined;
      },
      30_000,
      `application status ${want}`,
    );

  it('places a 2:1 spread by labels, a provider on every host, the link and its config', async () => {
    await manager.deploy(parseManifest(MANIFEST));
    const status = await settled('deployed');
    assert.deepEqual(
      status.scalers.map((s) => [s.kind, s.status.type]),
      [
        ['ConfigScaler', 'deployed'],
        ['SpreadScaler', 'deployed'],
        ['DaemonScaler', 'deployed'],
        ['LinkScaler', 'deployed'],
      ],
    );
    const placed = await counts('shop-api');
    assert.equal(placed['east'], 2);
    assert.equal((placed['west-1'] ?? 0) + (placed['west-2'] ?? 0), 1);
    for (const { host } of nodes) {
      const inventory = await control.getInventory(host.id);
      const kv = inventory.providers.find((p) => p.id === 'shop-kv');
      assert.ok(kv !== undefined, `kv on ${host.id}`);
      assert.equal(kv.annotations?.['wasmcloud.dev/appspec'], 'shop');
    }
    const links = await control.getLinks();
    assert.deepEqual(
      links.map((l) => [l.source_id, l.target, l.target_config]),
      [['shop-api', 'shop-kv', ['shop-bucket']]],
    );
    assert.deepEqual(await control.getConfig('shop-bucket'), { bucket: 'shop' });
  });

  it('puts back what is changed by hand', async () => {
    const scaled: number[] = [];
    const events = control.events({ types: ['component_scaled'] });
    const watching = (async () => {
      for await (const event of events) {
        const data = event.data as { component_id?: string; host_id?: string; max_instances?: number };
        if (data.component_id === 'shop-api' && data.host_id === idOf('east')) {
          scaled.push(data.max_instances ?? -1);
        }
      }
    })();
    try {
      await control.scaleComponent({
        hostId: idOf('east'),
        componentRef: GREETER.href,
        componentId: 'shop-api',
        count: 5,
      });
      await waitFor(
        () => (scaled.indexOf(5) !== -1 && scaled.lastIndexOf(2) > scaled.indexOf(5) ? true : undefined),
        20_000,
        'east scaled to 5 by hand, then back to 2 by the manager',
      );
      assert.equal((await counts('shop-api'))['east'], 2);
    } finally {
      events.stop();
      await watching;
    }
  });

  it('reports a spread whose only host is gone as waiting, naming the requirement', async () => {
    const east = nodes.find((n) => n.name === 'east') as Node;
    await east.host.stop();
    await east.connection.close();
    nodes.splice(nodes.indexOf(east), 1);
    const status = await settled('waiting');
    const spread = status.scalers.find((s) => s.kind === 'SpreadScaler');
    assert.match(spread?.status.message ?? '', /spread east: no host has the labels zone=east/);
    const placed = await counts('shop-api');
    assert.equal((placed['west-1'] ?? 0) + (placed['west-2'] ?? 0), 1);
  });

  it('undeploys exactly what it placed', async () => {
    await manager.undeploy('shop');
    await waitFor(
      async () => {
        await manager.pass();
        return manager.status('shop') === undefined ? true : undefined;
      },
      30_000,
      'the application is forgotten once removed',
    );
    for (const { host } of nodes) {
      const inventory = await control.getInventory(host.id);
      assert.deepEqual(inventory.components, []);
      assert.deepEqual(inventory.providers, []);
    }
    assert.deepEqual(await control.getLinks(), []);
    assert.equal(await control.getConfig('shop-bucket'), undefined);
  });
});
