/**
 * The control client against two real Cirrus hosts on the in-memory lattice. It lives with the cli's
 * tests because the cli is where the two packages meet: the control client's own tests may not import
 * the host (the layering in eslint.config.js), and use a fake host instead.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createControlClient } from '@cirrus/control-client';
import { createHost } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import type { Link } from '@cirrus/protocol';
import { tempDir, withDeadline } from '@cirrus/testing';

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

describe('control client: real hosts', () => {
  it('drives two Cirrus hosts: ping, scale and wait, inventory, config, links, labels, stop', async () => {
    const dir = await tempDir();
    const lattice = createMemoryLattice();
    const hello = pathToFileURL(
      join(fileURLToPath(new URL('../../../', import.meta.url)), 'examples/hello/build/hello.wasm'),
    ).href;
    const alpha = await createHost({
      lattice: lattice.connect(),
      friendlyName: 'alpha',
      allowFileLoad: true,
      cacheDir: join(dir.path, 'cache'),
    });
    const beta = await createHost({
      lattice: lattice.connect(),
      friendlyName: 'beta',
      labels: { zone: 'eu' },
    });
    const client = createControlClient({ connection: lattice.connect(), scatterMs: 300 });
    try {
      const hosts = await client.pingHosts();
      assert.deepEqual(hosts.map((h) => h.friendly_name).sort(), ['alpha', 'beta']);

      const scaled = await client.scaleComponent(
        { hostId: alpha.id, componentRef: hello, componentId: 'hello', count: 2, annotations: { a: 'b' } },
        { wait: true, waitTimeoutMs: 30_000 },
      );
      assert.equal(scaled.event?.data.image_ref, hello);
      assert.equal(scaled.event?.data.max_instances, 2);
      const inventory = await client.getInventory(alpha.id);
      assert.deepEqual(
        inventory.components.map((c) => [c.id, c.max_instances, c.annotations]),
        [['hello', 2, { a: 'b' }]],
      );

      await assert.rejects(
        client.scaleComponent(
          { hostId: beta.id, componentRef: 'file:///nowhere.wasm', componentId: 'x', count: 1 },
          { wait: true },
        ),
        (err: unknown) =>
          codeOf(err) === 'COMPONENT_SCALE_FAILED' && /FILE_LOAD_DENIED/.test((err as Error).message),
      );

      await client.putConfig('greeting', { lang: 'en' });
      assert.deepEqual(await client.getConfig('greeting'), { lang: 'en' });
      await client.deleteConfig('greeting');
      assert.equal(await client.getConfig('greeting'), undefined);

      const link: Link = {
        source_id: 'hello',
        target: 'kv',
        name: 'default',
        wit_namespace: 'wasi',
        wit_package: 'keyvalue',
        interfaces: ['store'],
        source_config: [],
        target_config: [],
      };
      const linked = client.waitForEvent((e) => e.data.source_id === 'hello', 5000, {
        types: ['linkdef_set'],
      });
      await client.putLink(link);
      await linked;
      assert.deepEqual(await client.getLinks(), [link]);

      await client.putLabel(beta.id, 'tier', 'gold');
      assert.equal(beta.labels().tier, 'gold');
      assert.deepEqual(
        await client.componentAuction({
          componentRef: hello,
          componentId: 'hello',
          constraints: { tier: 'gold' },
        }),
        [{ component_ref: hello, component_id: 'hello', constraints: { tier: 'gold' }, host_id: beta.id }],
      );

      await client.stopHost(beta.id);
      await withDeadline(beta.stopped, 10_000, 'beta to stop');
      assert.deepEqual(
        (await client.pingHosts()).map((h) => h.id),
        [alpha.id],
      );
    } finally {
      await Promise.all([alpha.stop(), beta.stop()]);
      await lattice.close();
      await dir.remove();
    }
  });
});
