/**
 * `cirrus up` takes part in managing applications: on a NATS lattice one host at a time is active,
 * serves the wadm API and places what is deployed across the hosts; when it stops, another takes
 * over and keeps the application where it should be. `--no-app-manager` opts a host out.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { harness, ownDirs } from './support.ts';
import type { Harness } from './support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HELLO = pathToFileURL(join(ROOT, 'examples/hello/build/hello.wasm')).href;
const LATTICE = 'apps';

const MANIFEST = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: greet
  annotations:
    version: v1
spec:
  components:
    - name: hello
      type: component
      properties:
        image: ${HELLO}
      traits:
        - type: spreadscaler
          properties:
            instances: 2
`;

interface Running {
  name: string;
  h: Harness;
  exit: Promise<number>;
}

describe('cirrus up runs the application manager', { timeout: 120_000 }, () => {
  let nats: NatsServer;
  let dir: TempDir;
  let client: NatsLatticeConnection;
  const hosts: Running[] = [];

  before(async () => {
    nats = await startNatsServer();
    dir = await tempDir();
    client = await connectNats({ servers: nats.url, name: 'test' });
  });

  after(async () => {
    for (const running of hosts) running.h.signals.emit('SIGTERM', 'SIGTERM');
    await Promise.all(hosts.map((r) => withDeadline(r.exit, 20_000, `${r.name} to exit`)));
    await client.close();
    await nats.stop();
    await dir.remove();
  });

  const start = async (name: string, ...extra: string[]): Promise<Running> => {
    const h = harness(ownDirs(join(dir.path, name)));
    const exit = main(
      ['up', '--nats', nats.url, '--lattice', LATTICE, '--name', name, '--heartbeat-interval', '1', ...extra],
      h.context,
    );
    await waitFor(() => h.out.some((l) => l.includes('is up on lattice')), 30_000, `${name} up`);
    const running = { name, h, exit };
    hosts.push(running);
    return running;
  };

  const isActive = (r: Running): boolean =>
    r.h.err.filter((l) => l.includes('application manager active')).length >
    r.h.err.filter((l) => l.includes('application manager standing by')).length;

  /** The status type, or undefined while no manager answers (a lease changing hands). */
  const statusType = async (): Promise<string | undefined> => {
    try {
      return ((await api('model.status.greet'))['status'] as { status: { type: string } }).status.type;
    } catch {
      return undefined;
    }
  };

  const api = async (op: string, body?: string | object): Promise<Record<string, unknown>> => {
    const data =
      body === undefined
        ? undefined
        : new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body));
    return (await client.request(`wadm.api.${LATTICE}.${op}`, data, { timeoutMs: 10_000 })).json();
  };

  const instances = async (): Promise<number[]> => {
    const out: number[] = [];
    const replies = client.requestMany(`wasmbus.ctl.v1.${LATTICE}.host.ping`, undefined, {
      maxWaitMs: 1_000,
    });
    for await (const reply of replies) {
      const id = reply.json<{ response: { id: string } }>().response.id;
      const inventory = (
        await client.request(`wasmbus.ctl.v1.${LATTICE}.host.get.${id}`, undefined, { timeoutMs: 5_000 })
      ).json<{ response: { components: { id: string; max_instances: number }[] } }>().response;
      out.push(inventory.components.find((c) => c.id === 'greet-hello')?.max_instances ?? 0);
    }
    return out.sort();
  };

  it('one host of two is active and serves the wadm API, which deploys across both', async () => {
    const a = await start('a');
    const b = await start('b');
    await start('c', '--no-app-manager');
    await waitFor(() => ([a, b].filter(isActive).length === 1 ? true : undefined), 10_000, 'one active');
    assert.equal((await api('model.put', MANIFEST))['result'], 'created');
    assert.equal((await api('model.deploy.greet'))['result'], 'acknowledged');
    await waitFor(
      async () => ((await statusType()) === 'deployed' ? true : undefined),
      60_000,
      'the application deployed',
    );
    // Two instances over three hosts: one each on two of them. The hosts share this process, where a
    // host's first load of a component can stall the others' lease renewals past the lease: a
    // manager then stands by and the other one, not knowing the starts under way, may start a third
    // replica, which the next pass removes.
    await waitFor(
      async () => ((await instances()).join() === '0,1,1' ? true : undefined),
      30_000,
      'one instance on each of two hosts',
    );
    // What the manager saw, where wasmCloud's dashboard and lattice-client-core read it.
    const state = await (await client.kv('wadm_state')).get(`host_${LATTICE}`);
    const hostsSeen = Object.values(
      state?.json<Record<string, { friendly_name: string; components: Record<string, number> }>>() ?? {},
    );
    assert.deepEqual(hostsSeen.map((h) => h.friendly_name).sort(), ['a', 'b', 'c']);
    assert.equal(
      hostsSeen.reduce((n, h) => n + (h.components['greet-hello'] ?? 0), 0),
      2,
    );
  });

  it('when the active host stops, the other takes over and keeps the application deployed', async () => {
    const [a, b] = hosts as [Running, Running];
    const active = isActive(a) ? a : b;
    const standby = active === a ? b : a;
    const stoppedAt = performance.now();
    active.h.signals.emit('SIGTERM', 'SIGTERM');
    assert.equal(await withDeadline(active.exit, 20_000, 'the active host to exit'), 0);
    hosts.splice(hosts.indexOf(active), 1);
    await waitFor(() => (isActive(standby) ? true : undefined), 10_000, 'the standby takes over');
    assert.ok(performance.now() - stoppedAt < 20_000);
    // The stopped host's instance is placed again on a host that remains.
    await waitFor(
      async () => ((await instances()).join() === '1,1' ? true : undefined),
      60_000,
      'two instances again, on the two hosts left',
    );
    await waitFor(
      async () => ((await statusType()) === 'deployed' ? true : undefined),
      30_000,
      'the status deployed again',
    );
  });

  it('cirrus app manager runs the manager as a process of its own, for hosts that opt out', async () => {
    const lattice = 'standalone';
    const env = ownDirs(join(dir.path, 'standalone'));
    const refused = harness(env);
    assert.equal(await main(['app', 'manager'], refused.context), 2);
    assert.match(refused.err.join('\n'), /USAGE_ERROR.*runs on a NATS lattice: give --nats URL/);

    const worker = harness(ownDirs(join(dir.path, 'worker')));
    const workerExit = main(
      ['up', '--nats', nats.url, '--lattice', lattice, '--name', 'worker', '--no-app-manager'],
      worker.context,
    );
    // Up first: a host starting in this same process can hold up its event loop for longer than the
    // manager's 1.5 s lease, which would make the manager step down (as it should) meanwhile.
    await waitFor(
      () => (worker.out.some((l) => l.includes('is up on lattice')) ? true : undefined),
      30_000,
      'worker up',
    );
    const manager = harness(env);
    const managerExit = main(
      ['app', 'manager', '--nats', nats.url, '--lattice', lattice, '--heartbeat-interval', '1'],
      manager.context,
    );
    try {
      await waitFor(
        () => (manager.err.some((l) => l.includes('application manager active')) ? true : undefined),
        10_000,
        'the standalone manager active',
      );
      const file = join(dir.path, 'standalone.yaml');
      await writeFile(file, MANIFEST);
      const cli = async (...args: string[]): Promise<string> => {
        const h = harness(env);
        const code = await withDeadline(
          main(['app', ...args, '--nats', nats.url, '--lattice', lattice], h.context),
          30_000,
          `cirrus app ${args[0] ?? ''}`,
        );
        assert.equal(code, 0, `${h.err.join('\n')}\n--- manager ---\n${manager.err.join('\n')}`);
        return h.out.join('\n');
      };
      await cli('put', file);
      await cli('deploy', 'greet');
      await waitFor(
        async () => ((await cli('status', 'greet')).startsWith('greet v1  deployed') ? true : undefined),
        60_000,
        'greet deployed by the standalone manager',
      );
    } finally {
      manager.signals.emit('SIGTERM', 'SIGTERM');
      assert.equal(await withDeadline(managerExit, 20_000, 'the manager to exit'), 0);
      worker.signals.emit('SIGTERM', 'SIGTERM');
      assert.equal(await withDeadline(workerExit, 20_000, 'the worker to exit'), 0);
    }
  });

  it('cirrus app drives the manager of a host on the embedded lattice, and validate checks files', async () => {
    const env = ownDirs(join(dir.path, 'embedded'));
    const host = harness(env);
    const exit = main(['up', '--name', 'solo', '--heartbeat-interval', '1'], host.context);
    try {
      await waitFor(() => host.out.some((l) => l.includes('is up on lattice')), 30_000, 'solo up');
      await waitFor(
        () => (host.err.some((l) => l.includes('application manager active')) ? true : undefined),
        10_000,
        'the manager active',
      );
      const file = join(dir.path, 'greet.yaml');
      // A relative image: put resolves it against the manifest's directory before it is sent.
      await writeFile(
        file,
        MANIFEST.replace(HELLO, relative(dir.path, join(ROOT, 'examples/hello/build/hello.wasm'))),
      );
      const cli = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
        const h = harness(env);
        const code = await withDeadline(
          main(['app', ...args], h.context),
          30_000,
          `cirrus app ${args[0] ?? ''}`,
        );
        return { code, out: h.out.join('\n'), err: h.err.join('\n') };
      };
      assert.match((await cli('validate', file)).out, /greet v1 is valid \(1 component\)/);
      assert.match((await cli('put', file)).out, /^Created greet v1 \(1 version\)\.$/);
      const again = await cli('put', file);
      assert.equal(again.code, 1);
      assert.match(again.err, /APP_REQUEST_FAILED.*version v1 of greet already exists/);
      // Followed from before the deploy: each status the manager publishes, until Ctrl+C.
      const watcher = harness(env);
      const watching = main(['app', 'status', 'greet', '--watch'], watcher.context);
      await waitFor(() => (watcher.out.length > 0 ? true : undefined), 10_000, 'the first status');
      assert.match((await cli('deploy', 'greet')).out, /Deploying greet v1/);
      await waitFor(
        async () => ((await cli('status', 'greet')).out.startsWith('greet v1  deployed') ? true : undefined),
        60_000,
        'greet deployed',
      );
      await waitFor(
        () => (watcher.out.some((l) => l.startsWith('greet v1  deployed')) ? true : undefined),
        10_000,
        'the watch to show it deployed',
      );
      watcher.signals.emit('SIGINT', 'SIGINT');
      assert.equal(await withDeadline(watching, 10_000, 'the watch to end on SIGINT'), 0);
      const heads = watcher.out.filter((l) => l.startsWith('greet '));
      assert.match(heads[0] ?? '', /^greet v1 {2}undeployed/);
      assert.ok(heads.length >= 2, heads.join('\n'));
      const status = await cli('status', 'greet');
      assert.match(status.out, /SpreadScaler +hello +deployed/);
      assert.match((await cli('list')).out, /greet +v1 +v1 +deployed/);
      assert.match((await cli('versions', 'greet')).out, /v1 +yes/);
      assert.match((await cli('get', 'greet')).out, /"image": "file:\/\/\//);
      const missing = await cli('status', 'nothing');
      assert.equal(missing.code, 1);
      assert.match(missing.err, /APP_NOT_FOUND/);
      assert.match((await cli('delete', 'greet')).out, /deleted every version of greet \(undeploying it\)/);
      await waitFor(
        async () => ((await cli('list')).out.split('\n').length === 1 ? true : undefined),
        10_000,
        'no application left',
      );
    } finally {
      host.signals.emit('SIGTERM', 'SIGTERM');
      assert.equal(await withDeadline(exit, 20_000, 'solo to exit'), 0);
    }
  });
});
