/**
 * Component → component over a custom interface on one host: the client's import of
 * example:greeter/greet is served in-process by the greeter component's export, the error case of a
 * result crosses the link, and nothing goes out on the lattice.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice, Msg } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import { freePort, tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import { httpGet as get, serveOverHttp, WITH_BUILTINS } from './support.ts';
import type { Host } from '../src/index.ts';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../testing/fixtures/${name}/build/${name}.wasm`, import.meta.url));

describe('component → component links on one host', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;
  let port: number;

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      limits: resolveLimits({ maxInstances: 10 }),
    });
    port = await freePort();
    await host.scaleComponent({ componentRef: fixture('greeter'), componentId: 'greeter', count: 1 });
    await host.scaleComponent({ componentRef: fixture('greet-client'), componentId: 'client', count: 2 });
    await host.putLink({
      source_id: 'client',
      target: 'greeter',
      wit_namespace: 'example',
      wit_package: 'greeter',
      interfaces: ['greet'],
    });
    await serveOverHttp(host, 'client', port);
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  it("serves the client's import with the greeter's export, in-process", async () => {
    const spy = lattice.connect();
    const seen: Msg[] = [];
    const sub = spy.subscribe('>', { callback: (msg) => seen.push(msg) });
    await spy.flush();
    try {
      const first = await get(port, '/World');
      const second = await get(port, '/Ann');
      assert.deepEqual([first.status, first.body], [200, 'Hello, World! (call 1)\n']);
      assert.deepEqual([second.status, second.body], [200, 'Hello, Ann! (call 2)\n']);
      assert.deepEqual(
        seen.map((m) => m.subject),
        [],
        'no message on the lattice for a same-host call',
      );
    } finally {
      sub.unsubscribe();
    }
  });

  it('carries both cases of a result across the link', async () => {
    assert.deepEqual(await get(port, '/checked/Bo'), { status: 200, body: 'Hello, Bo!\n' });
    assert.deepEqual(await get(port, '/checked/'), { status: 422, body: 'refused: a name is required\n' });
  });

  it('follows link changes for the next call: without the link the import fails with LINK_NOT_FOUND', async () => {
    await host.deleteLink({ source_id: 'client', wit_namespace: 'example', wit_package: 'greeter' });
    const reply = await get(port, '/Nobody');
    assert.equal(reply.status, 500);
    assert.match(reply.body, /LINK_NOT_FOUND/);
    await host.putLink({
      source_id: 'client',
      target: 'greeter',
      wit_namespace: 'example',
      wit_package: 'greeter',
      interfaces: ['greet'],
    });
    assert.equal((await get(port, '/Back')).status, 200);
  });

  it('fails a call at once when the linked component runs nowhere, even on the embedded lattice', async () => {
    await host.scaleComponent({ componentRef: fixture('greeter'), componentId: 'greeter', count: 0 });
    const started = performance.now();
    const refused = await get(port, '/checked/Ada');
    assert.equal(refused.status, 422);
    assert.match(refused.body, /^refused: NO_RESPONDERS: nothing serves default\.greeter\.wrpc/);
    assert.equal((await get(port, '/Ada')).status, 500);
    assert.ok(performance.now() - started < 2000, 'known at once, not at the invocation deadline');
    await host.scaleComponent({ componentRef: fixture('greeter'), componentId: 'greeter', count: 1 });
    assert.equal((await get(port, '/Back')).status, 200);
  });
});
