/**
 * The published wasmCloud client `@wasmcloud/lattice-client-core` (0.2.3, nats.ws over the server's
 * websocket listener) drives Cirrus's application manager unchanged: `applications.put`, `deploy`,
 * `list`, `status`, `undeploy` and `delete` over the wadm API, and `hosts.list({ expand: true })`,
 * which reads the hosts from the `wadm_state` bucket the manager writes, then asks each of them.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LatticeClient } from '@wasmcloud/lattice-client-core';
import { startApplicationService } from '@cirrus/apps';
import type { ApplicationService } from '@cirrus/apps';
import { createControlClient } from '@cirrus/control-client';
import type { ControlClient } from '@cirrus/control-client';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { resolveLimits, silentLogger } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';

const GREETER = new URL('../../packages/testing/fixtures/greeter/build/greeter.wasm', import.meta.url);
const LATTICE = 'interop';
const CLIENT_MS = 10_000;
const CONVERGE_MS = 20_000;
const ZONES = ['east', 'west'];

const manifest = (version: string): string => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: greet
  annotations:
    version: ${version}
spec:
  components:
    - name: hello
      type: component
      properties:
        image: ${GREETER.href}
      traits:
        - type: spreadscaler
          properties:
            instances: 2
    - name: kv
      type: capability
      properties:
        image: wasmcloud+builtin://keyvalue
      traits:
        - type: daemonscaler
          properties: { instances: 1 }
`;

describe('@wasmcloud/lattice-client-core 0.2.3 against the application manager', () => {
  let dir: TempDir;
  let nats: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  const hosts: Host[] = [];
  let service: ApplicationService;
  let control: ControlClient;
  let client: LatticeClient;

  /** Every client call gets a deadline: the client itself retries connections without one. */
  const call = <T>(promise: Promise<T>, what: string): Promise<T> => withDeadline(promise, CLIENT_MS, what);

  const running = async (): Promise<{ components: number; providers: number }> => {
    const inventories = await Promise.all(hosts.map((host) => control.getInventory(host.id)));
    return {
      components: inventories.reduce(
        (n, i) => n + i.components.filter((c) => c.id === 'greet-hello').length,
        0,
      ),
      providers: inventories.reduce((n, i) => n + i.providers.filter((p) => p.id === 'greet-kv').length, 0),
    };
  };

  /** 0.2.3's declared type for `list` does not resolve; its reply is wadm's model list. */
  const models = async (): Promise<{ name: string; deployed_version?: string; status: string }[]> => {
    const reply = (await call(client.applications.list(), 'applications.list')) as unknown as {
      models: { name: string; deployed_version?: string; status: string }[];
    };
    return reply.models;
  };

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    const limits = resolveLimits({ appResyncIntervalMs: 1_000 });
    for (const zone of ZONES) {
      const connection = await connectNats({ servers: nats.url, name: `host-${zone}` });
      connections.push(connection);
      hosts.push(
        await createHost({
          lattice: connection,
          latticeName: LATTICE,
          cacheDir: join(dir.path, 'cache'),
          allowFileLoad: true,
          builtinProviders: BUILTIN_PROVIDERS,
          wireBindings: WIRE_BINDINGS,
          heartbeatIntervalMs: 0,
          labels: { zone },
          logger: silentLogger,
        }),
      );
    }
    const first = connections[0]!;
    service = await startApplicationService({
      connection: first,
      lattice: LATTICE,
      holderId: hosts[0]!.id,
      // One service, no failover here: a long lease keeps a slow first component load from making it step down.
      leaseMs: 30_000,
      limits,
      scatterMs: 300,
      logger: silentLogger,
    });
    control = createControlClient({ connection: first, lattice: LATTICE, scatterMs: 300 });
    client = new LatticeClient({ config: { latticeUrl: nats.wsUrl, latticeId: LATTICE, retryCount: 30 } });
  });

  after(async () => {
    // 0.2.3 opens two websocket connections and drains one; the other is closed with the server.
    await client?.instance.disconnect().catch(() => undefined);
    await service?.stop();
    for (const host of hosts) await host.stop();
    for (const connection of connections) await connection.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('hosts.list({ expand: true }) finds every host through wadm_state, before any application', async () => {
    const listed = await waitFor(
      async () => {
        const reply = await call(client.hosts.list({ expand: true }), 'hosts.list').catch(() => undefined);
        return reply?.success === true && reply.response.length === hosts.length ? reply : undefined;
      },
      CONVERGE_MS,
      'hosts.list to show both hosts',
    );
    const byId = new Map(listed.response.map((h) => [h.host_id, h]));
    for (const [i, zone] of ZONES.entries()) {
      const found = byId.get(hosts[i]!.id);
      assert.ok(found, `the ${zone} host is listed`);
      assert.equal(found.labels['zone'], zone);
    }
  });

  it('puts, deploys, lists, reports and removes an application', async () => {
    const put = await call(client.applications.put(manifest('v1')), 'applications.put');
    assert.equal(put.result, 'created');
    assert.equal(put.name, 'greet');
    const second = await call(client.applications.put(manifest('v2')), 'applications.put v2');
    assert.equal(second.result, 'newversion');

    const deploy = await call(client.applications.deploy('greet', 'v1'), 'applications.deploy');
    assert.equal(deploy.result, 'acknowledged');

    await waitFor(
      async () => {
        // The hosts load the component in this process meanwhile, which can hold the reply up past
        // the client's own 1 s request timeout: such a poll is simply made again.
        const reply = await call(client.applications.status('greet'), 'applications.status').catch(
          () => undefined,
        );
        return reply !== undefined && String(reply.status.status.type) === 'deployed' ? reply : undefined;
      },
      CONVERGE_MS,
      'the application to be deployed',
    );
    assert.deepEqual(await running(), { components: hosts.length, providers: hosts.length });

    const listed = await models();
    const model = listed.find((m) => m.name === 'greet');
    assert.ok(model, JSON.stringify(listed));
    assert.equal(model.deployed_version, 'v1');
    assert.equal(model.status, 'deployed');

    const versions = await call(client.applications.versions('greet'), 'applications.versions');
    assert.deepEqual(
      versions.versions.map((v) => [v.version, v.deployed]),
      [
        ['v1', true],
        ['v2', false],
      ],
    );

    const undeploy = await call(client.applications.undeploy('greet'), 'applications.undeploy');
    assert.equal(undeploy.result, 'acknowledged');
    await waitFor(
      async () => {
        const left = await running();
        return left.components === 0 && left.providers === 0 ? left : undefined;
      },
      CONVERGE_MS,
      'what the application placed to be removed',
    );

    const deleted = await call(
      client.applications.delete('greet', { delete_all: true }),
      'applications.delete',
    );
    assert.equal(deleted.result, 'deleted');
    assert.deepEqual(
      (await models()).map((m) => m.name),
      [],
    );
  });
});
