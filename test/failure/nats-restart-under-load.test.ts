/**
 * A restart of the NATS server under load: one `cirrus up --nats` process serves the hello app over
 * HTTP with requests running continuously while its nats-server is stopped and started again
 * (`restart()`: SIGTERM, then the same ports and JetStream store).
 *
 * Guarantees: HTTP requests, which never leave the host, fail none across the restart; afterwards
 * the host answers the control interface again: it is listed by `host.ping` (and by `cirrus get
 * hosts`, run as the CLI), heartbeats resume, a config put is stored and read back, and a link put
 * reaches the host, which then serves the app on a second port.
 *
 * Measured (test diagnostics): the server's downtime, the time from the restart to the first
 * answered `host.ping`, the requests served and the slowest one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { HostInfo } from '@cirrus/protocol';
import { freePort, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
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

const LATTICE = 'natsrestart';
const APP = 'web';
const SCATTER_MS = 500;
/** Load before the restart, and after the control interface is back. */
const LOAD_BEFORE_MS = 1500;
const LOAD_AFTER_MS = 2000;
/** A host retries every natsReconnectWaitMs (1 s); a few attempts on a busy machine fit in this. */
const RECOVERY_MS = 15_000;
const isHello = (body: string): boolean => body.startsWith('Hello from Cirrus!');

describe('a NATS server restart under load', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let web: ServingHost;
  let control: ControlSession | undefined;
  let load: HttpLoad | undefined;

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    web = await startHelloHost({
      dir: dir.path,
      appName: APP,
      label: APP,
      args: ['--nats', nats.url, '--lattice', LATTICE, '--heartbeat-interval', '1', '--log-format', 'json'],
    });
    control = await controlOverNats(nats.url, { lattice: LATTICE, scatterMs: SCATTER_MS });
  });

  after(async () => {
    await load?.stop();
    await control?.close();
    await web?.host.stop();
    killAll();
    await nats?.stop();
    await dir?.remove();
  });

  it('serves every HTTP request across the restart, and answers the control interface afterwards', async (t) => {
    const { client, connection } = control as ControlSession;
    const hostId = web.host.hostId();
    assert.deepEqual(
      (await client.pingHosts()).map((h) => h.id),
      [hostId],
    );

    load = startHttpLoad(web.url, { concurrency: 2, checkBody: isHello });
    await new Promise((resolve) => setTimeout(resolve, LOAD_BEFORE_MS));
    assert.ok(load.report().ok > 0, 'requests are served before the restart');

    const oldPid = nats.pid;
    const restartStarted = performance.now();
    await nats.restart();
    const restarted = performance.now();
    assert.notEqual(nats.pid, oldPid, 'a new nats-server process runs');
    t.diagnostic(`nats-server down and back in ${Math.round(restarted - restartStarted)} ms`);

    // Both the host and this test's client reconnect on their own; a ping answered proves both did.
    await waitFor(
      async () => (await client.pingHosts().catch(() => [])).some((h) => h.id === hostId),
      RECOVERY_MS,
      'the host to answer host.ping after the restart',
      100,
    );
    t.diagnostic(`host.ping answered ${Math.round(performance.now() - restarted)} ms after the restart`);

    const heartbeat = connection.subscribe(`wasmbus.evt.${LATTICE}.host_heartbeat`, { max: 1 });
    await withDeadline(heartbeat.closed, 5000, 'a heartbeat after the restart');

    await client.putConfig('after-restart', { marker: 'stored' });
    assert.deepEqual(await client.getConfig('after-restart'), { marker: 'stored' });

    // A second route to the app: the link must travel through the restarted JetStream to the host.
    const secondPort = await freePort();
    await client.putConfig('second-listen', { address: `127.0.0.1:${secondPort}` });
    await client.putLink({
      source_id: `${APP}-httpserver`,
      target: `${APP}-greeter`,
      name: 'second',
      wit_namespace: 'wasi',
      wit_package: 'http',
      interfaces: ['incoming-handler'],
      source_config: ['second-listen'],
      target_config: [],
    });
    await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${secondPort}/`).catch(() => undefined);
        return response !== undefined && response.status === 200 && isHello(await response.text());
      },
      10_000,
      'the app on the port of the link put after the restart',
      100,
    );

    const listed = await runCirrus(
      ['get', 'hosts', '--output', 'json', '--nats', nats.url, '--lattice', LATTICE, '--timeout', '1000'],
      { dir: dir.path },
    );
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as HostInfo[]).map((h) => h.id),
      [hostId],
    );

    await new Promise((resolve) => setTimeout(resolve, LOAD_AFTER_MS));
    const report = await load.stop();
    load = undefined;
    t.diagnostic(`HTTP: ${describeLoad(report)}`);
    assert.equal(report.failed, 0, `failed requests: ${report.firstFailure}`);
    assert.equal(web.host.exit, undefined, 'the host is still running');
  });
});
