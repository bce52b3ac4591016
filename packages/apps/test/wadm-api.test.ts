/**
 * The wadm API over a lattice, as wash and lattice-client-core send it: versions put and listed in
 * the `wadm_manifests` bucket's 1.x layout, deploy and undeploy handed to a real application manager,
 * status, delete, and the errors wadm gives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createControlClient } from '@cirrus/control-client';
import { createMemoryLattice } from '@cirrus/lattice';
import type { LatticeConnection } from '@cirrus/lattice';
import { silentLogger } from '@cirrus/protocol';
import { createAppManager, createWadmClient, MANIFEST_BUCKET, serveWadmApi } from '../src/index.ts';
import type { AppManager, WadmApi } from '../src/index.ts';

const manifest = (version: string | undefined): string => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  annotations:
    description: A small shop${version === undefined ? '' : `\n    version: ${version}`}
spec:
  components:
    - name: api
      type: component
      properties:
        image: https://example.com/api.wasm
      traits:
        - type: spreadscaler
          properties: { instances: 1 }
`;

describe('wadm API', () => {
  const lattice = createMemoryLattice();
  let conn: LatticeConnection;
  let manager: AppManager;
  let api: WadmApi;

  before(async () => {
    conn = lattice.connect();
    const control = createControlClient({ connection: conn, lattice: 'default', scatterMs: 50 });
    manager = createAppManager({
      control,
      logger: silentLogger,
      limits: {
        appResyncIntervalMs: 60_000,
        appBackoffMs: 100,
        appBackoffMaxMs: 1_000,
        controlWaitTimeoutMs: 10_000,
      },
    });
    api = await serveWadmApi({ connection: conn, lattice: 'default', manager, logger: silentLogger });
  });

  after(async () => {
    await api.stop();
    await manager.stop();
    await conn.close();
  });

  const call = async (op: string, body?: string | object): Promise<Record<string, unknown>> => {
    const data =
      body === undefined
        ? undefined
        : new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
    return (await conn.request(`wadm.api.default.${op}`, data, { timeoutMs: 5_000 })).json();
  };

  it('puts versions: created, then newversion; the same version twice is an error', async () => {
    assert.deepEqual(await call('model.put', manifest('v1')), {
      result: 'created',
      name: 'shop',
      current_version: 'v1',
      total_versions: 1,
      message: 'put version v1 of shop',
    });
    const again = await call('model.put', manifest('v1'));
    assert.equal(again['result'], 'error');
    assert.match(String(again['message']), /INVALID_ARGUMENT: version v1 of shop already exists/);
    const unnamed = await call('model.put', manifest(undefined));
    assert.equal(unnamed['result'], 'newversion');
    assert.equal(unnamed['total_versions'], 2);
    assert.match(String(unnamed['current_version']), /^[0-9A-HJKMNP-TV-Z]{26}$/);
  });

  it('refuses a manifest with its problems, and unknown or over-long requests', async () => {
    const bad = await call('model.put', 'apiVersion: core.oam.dev/v1beta1\nkind: Application\n');
    assert.equal(bad['result'], 'error');
    assert.match(String(bad['message']), /^MANIFEST_INVALID: /);
    assert.equal((await call('model.frobnicate.shop'))['result'], 'error');
    assert.equal((await call('model.get.shop.extra'))['result'], 'error');
    assert.equal((await call('model.history.shop'))['result'], 'error');
  });

  it('lists, gets and lists versions as wadm does, in the 1.x bucket layout', async () => {
    const listed = await call('model.get');
    assert.equal(listed['result'], 'success');
    const [model] = listed['models'] as Record<string, unknown>[];
    assert.equal(model?.['name'], 'shop');
    assert.equal(model?.['description'], 'A small shop');
    const got = await call('model.get.shop', { version: 'v1' });
    assert.equal(got['result'], 'success');
    assert.equal(
      (got['manifest'] as { metadata: { annotations: { version: string } } }).metadata.annotations.version,
      'v1',
    );
    assert.equal((await call('model.get.nothing'))['result'], 'notfound');
    const versions = await call('model.versions.shop');
    assert.deepEqual(
      (versions['versions'] as { version: string; deployed: boolean }[]).map((v) => [
        v.version === 'v1' ? 'v1' : 'ulid',
        v.deployed,
      ]),
      [
        ['v1', false],
        ['ulid', false],
      ],
    );
    const kv = await conn.kv(MANIFEST_BUCKET);
    assert.deepEqual((await kv.get('default'))?.json(), ['shop']);
    const stored = (await kv.get('default-shop'))?.json<{
      manifests: Record<string, unknown>;
      deployed_version: null;
    }>();
    assert.equal(Object.keys(stored?.manifests ?? {})[0], 'v1');
    assert.equal(stored?.deployed_version, null);
  });

  it('deploys a version to the manager, reports its status, and undeploys it', async () => {
    const deployed = await call('model.deploy.shop', { version: 'v1' });
    assert.deepEqual(deployed, {
      result: 'acknowledged',
      message: 'deploying version v1 of shop',
      name: 'shop',
      version: 'v1',
    });
    await manager.pass();
    const versions = await call('model.versions.shop');
    assert.ok(
      (versions['versions'] as { version: string; deployed: boolean }[]).some(
        (v) => v.version === 'v1' && v.deployed,
      ),
    );
    const status = await call('model.status.shop');
    assert.equal(status['result'], 'ok');
    const doc = status['status'] as {
      status: { type: string };
      scalers: { kind: string; status: { type: string; message: string } }[];
      version: string;
    };
    // No host runs on this lattice: the spread has nowhere to go.
    assert.equal(doc.status.type, 'waiting');
    assert.equal(doc.version, 'v1');
    assert.equal(doc.scalers[0]?.kind, 'SpreadScaler');
    assert.equal((await call('model.deploy.nothing'))['result'], 'notfound');
    const undeployed = await call('model.undeploy.shop');
    assert.equal(undeployed['result'], 'acknowledged');
    await manager.pass();
    assert.equal(manager.status('shop'), undefined);
  });

  it('deploys an application using a shared one only while that one is deployed', async () => {
    const common = (shared: boolean): string => `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: common
  annotations:
    version: ${shared ? 'v2' : 'v1'}${shared ? '\n    experimental.wasmcloud.dev/shared: "true"' : ''}
spec:
  components:
    - name: store
      type: capability
      properties:
        image: wasmcloud+builtin://keyvalue
`;
    const user = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: user
  annotations:
    version: v1
spec:
  components:
    - name: kv
      type: capability
      properties:
        application: { name: common, component: store }
`;
    assert.equal((await call('model.put', common(false)))['result'], 'created');
    assert.equal((await call('model.put', common(true)))['result'], 'newversion');
    assert.equal((await call('model.put', user))['result'], 'created');
    const refused = (version: string) => async (): Promise<void> => {
      if (version !== '')
        assert.equal((await call('model.deploy.common', { version }))['result'], 'acknowledged');
      const reply = await call('model.deploy.user');
      assert.equal(reply['result'], 'error');
      assert.match(
        String(reply['message']),
        /shared components that are not deployed .*kv \(common\/store\)/,
      );
    };
    // Not deployed, then deployed but not marked shared: refused both times.
    await refused('')();
    await refused('v1')();
    assert.equal((await call('model.deploy.common', { version: 'v2' }))['result'], 'acknowledged');
    assert.equal((await call('model.deploy.user'))['result'], 'acknowledged');
    for (const name of ['user', 'common']) await call(`model.del.${name}`);
    await manager.pass();
  });

  it('deletes one version, then every version', async () => {
    const one = await call('model.del.shop', { version: 'v1' });
    assert.deepEqual(one, { result: 'deleted', message: 'deleted version v1 of shop', undeploy: false });
    const all = await call('model.del.shop');
    assert.equal(all['result'], 'deleted');
    assert.equal((await call('model.get.shop'))['result'], 'notfound');
    assert.equal((await call('model.del.shop'))['result'], 'noop');
    assert.deepEqual((await call('model.get'))['models'], []);
  });

  it('a client with no manager on its lattice is told so, with what to start', async () => {
    const empty = createMemoryLattice().connect();
    try {
      await assert.rejects(createWadmClient(empty, 'default', 2_000).list(), {
        code: 'NO_RESPONDERS',
        message: 'no application manager answers on lattice default',
      });
    } finally {
      await empty.close();
    }
  });
});
