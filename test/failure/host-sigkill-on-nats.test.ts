/**
 * SIGKILL of one host of a NATS lattice while the others serve: three `cirrus up --nats` processes
 * on one nats-server, each serving the hello app over HTTP on its own port (each app under its own
 * name, so they share no link or config). HTTP load runs against the two survivors while the third
 * is killed with SIGKILL, which gives it no chance to say goodbye.
 *
 * Guarantees: the survivors' listeners fail no request across the kill; the first `host.ping` sent
 * after the kill lists both survivors and not the dead host, as do the inventories (`cirrus get hosts`
 * and `cirrus get inventory`, run as the CLI), and asking the dead host for its inventory fails.
 *
 * Measured (test diagnostics): requests served and the slowest one per survivor, the duration of the
 * first ping window after the kill.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HostInfo, HostInventory } from '@cirrus/protocol';
import { startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import {
  controlOverNats,
  describeLoad,
  killAll,
  runCirrus,
  startHelloHost,
  startHttpLoad,
} from './support.ts';
import type { ControlSession, HttpLoad, ServingHost } from './support.ts';

const LATTICE = 'sigkill';
/** The ping window of this test's control client and CLI runs. */
const SCATTER_MS = 1000;
/** Load before the kill, and after it: long enough for many requests on each side of the fault. */
const LOAD_BEFORE_MS = 1500;
const LOAD_AFTER_MS = 2500;
const isHello = (body: string): boolean => body.startsWith('Hello from Cirrus!');

describe('SIGKILL of a host on a NATS lattice', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let control: ControlSession | undefined;
  const hosts: ServingHost[] = [];
  const loads: HttpLoad[] = [];

  const start = (name: string): Promise<ServingHost> =>
    startHelloHost({
      dir: join(dir.path, name),
      // One transpile cache for the three: only the first host transpiles hello.
      cacheDir: join(dir.path, 'cache'),
      appName: name,
      instances: 2,
      // Each app on its own host: the lattice's application manager would spread it over all three.
      pin: true,
      label: name,
      args: ['--nats', nats.url, '--lattice', LATTICE, '--name', name, '--log-format', 'json'],
    });

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    hosts.push(await start('web1'));
    hosts.push(...(await Promise.all([start('web2'), start('web3')])));
    control = await controlOverNats(nats.url, { lattice: LATTICE, scatterMs: SCATTER_MS });
  });

  after(async () => {
    await Promise.all(loads.map((load) => load.stop()));
    await control?.close();
    await Promise.all(hosts.map(({ host }) => host.stop()));
    killAll();
    await nats?.stop();
    await dir?.remove();
  });

  it('the survivors serve every request across the kill, and the dead host leaves host.ping and the inventories', async (t) => {
    const [web1, web2, web3] = hosts as [ServingHost, ServingHost, ServingHost];
    const client = (control as ControlSession).client;
    const ids = hosts.map(({ host }) => host.hostId());
    const [id1, id2, id3] = ids as [string, string, string];
    const pinged = (await client.pingHosts()).map((h) => h.id).sort();
    assert.deepEqual(pinged, [...ids].sort(), 'all three hosts answer before the kill');

    const survivors = [web1, web2];
    for (const { url } of survivors) loads.push(startHttpLoad(url, { concurrency: 2, checkBody: isHello }));
    await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_MS));
    const beforeKill = loads.map((load) => load.report().ok);
    assert.ok(
      beforeKill.every((ok) => ok > 0),
      `both survivors served before the kill: ${beforeKill.join(', ')}`,
    );

    web3.host.signal('SIGKILL');
    const exit = await withDeadline(web3.host.exited, 5000, 'the killed host to exit');
    assert.equal(exit.signal, 'SIGKILL');

    const pingStarted = performance.now();
    const afterKill = await client.pingHosts();
    const pingMs = Math.round(performance.now() - pingStarted);
    t.diagnostic(`first host.ping after the kill: ${pingMs} ms (window ${SCATTER_MS} ms)`);
    assert.deepEqual(afterKill.map((h: HostInfo) => h.id).sort(), [id1, id2].sort());
    await assert.rejects(client.getInventory(id3), 'the dead host answers no inventory request');
    const inventories = await Promise.all([id1, id2].map((id) => client.getInventory(id)));
    assert.deepEqual(
      inventories.map((inv: HostInventory) => inv.components.map((c) => c.id)),
      [['web1-greeter'], ['web2-greeter']],
      'each survivor still runs its component',
    );

    // The CLI, as an operator would check: the same two hosts, in the listing and the inventories.
    const cli = (args: string[]) =>
      runCirrus([...args, '--nats', nats.url, '--lattice', LATTICE, '--timeout', String(SCATTER_MS)], {
        dir: dir.path,
        env: {},
      });
    const [listed, inventoried] = await Promise.all([
      cli(['get', 'hosts', '--output', 'json']),
      cli(['get', 'inventory', '--output', 'json']),
    ]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual((JSON.parse(listed.stdout) as HostInfo[]).map((h) => h.id).sort(), [id1, id2].sort());
    assert.equal(inventoried.code, 0, inventoried.stderr);
    assert.deepEqual(
      (JSON.parse(inventoried.stdout) as HostInventory[]).map((inv) => inv.host_id).sort(),
      [id1, id2].sort(),
    );

    // Keep loading the survivors a while longer: a late effect of the kill would show here.
    const servedAfterKill = loads.map((load) => load.report().ok);
    await waitFor(
      () => loads.every((load, i) => load.report().ok > (servedAfterKill[i] ?? 0)),
      LOAD_AFTER_MS * 4,
      'requests to both survivors after the kill',
    );
    await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_MS));
    const reports = await Promise.all(loads.splice(0).map((load) => load.stop()));
    reports.forEach((report, i) => {
      t.diagnostic(`web${i + 1}: ${describeLoad(report)}`);
      assert.equal(report.failed, 0, `web${i + 1} failed requests: ${report.firstFailure}`);
    });
    for (const { host } of survivors) {
      assert.equal(host.exit, undefined, `${host.label} is still running`);
      const errors = host.records().filter((r) => r.level === 'error');
      assert.deepEqual(errors, [], `${host.label} logged no error`);
    }
  });
});
