/**
 * An upgrade from v1 to v2 replaces the component without a failed request while the application is
 * under load. Two in-process hosts on a real nats-server and the application service; v1 is hello
 * (a spreadscaler of 2) behind the built-in http-server provider, its greeting from a named config.
 * While 8 closed-loop fetch clients hit the server, v2 — another image (a copy of hello.wasm) and
 * GREETING=v2 in the same named config — is put and deployed through the wadm API. The manager puts
 * the config and sends each host an update, which starts v2, switches over, then closes v1; the
 * link and the listener stay as they are. Twice: hello on both hosts, so the http-server's host
 * serves requests itself, and hello only on the other host, so every request crosses over wRPC.
 *
 * Shows: every request of the run is answered 200 (no other status, no network error, no timeout),
 * answers go from v1 to v2 and only v2 answers afterwards, and the status reaches `deployed` on v2.
 * Measured (8 runs on a shared machine; each run reports its own figures as diagnostics): 425–1,250
 * requests a case, 110–370 of them sent during the upgrade; the first v2 answer 0.35–1.5 s after
 * the put, `deployed` after 0.5–2.5 s, only v2 after 0.7–2.5 s; latency during the upgrade p50
 * 25–85 ms, p99 80–360 ms, against p50 15–70 ms, p99 70–150 ms before it (one or two instances
 * serve 8 clients, in the one process that runs everything).
 *
 * Before the fixes this test came with, an upgrade failed requests in both cases: the old pool,
 * closed at the switch, refused the calls queued on it with 503 COMPONENT_STOPPED (host calls.ts
 * now makes them on the new version), and the old wRPC subscription, unsubscribed at the switch,
 * dropped the invocations NATS had already routed to it, which then hung until the client gave up
 * (wrpcServe's subscriptions now drain on unsubscribe).
 */
import assert from 'node:assert/strict';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { createWadmClient, startApplicationService } from '@cirrus/apps';
import type { ApplicationService, WadmClient } from '@cirrus/apps';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { resolveLimits, silentLogger } from '@cirrus/protocol';
import { BUILTIN_PROVIDERS, WIRE_BINDINGS } from '@cirrus/providers';
import { freePort, Samples, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';

const HELLO = new URL('../../examples/hello/build/hello.wasm', import.meta.url);
const LATTICE = 'upgrade';
const CLIENTS = 8;
const REQUEST_TIMEOUT_MS = 5_000;
const CONVERGE_MS = 20_000;
const BACKOFF_MS = 60_000;
/** Load before the upgrade, and after v2 answers, so that both ends are seen under load. */
const STEADY_MS = 1_000;

/** Where the workloads run: hello on both hosts, or only on the host without the http-server. */
type Layout = 'local' | 'across';

/** `role` labels of the two hosts, for the `across` layout's spreads. */
const ROLES = ['edge', 'app'] as const;

const spreadOn = (role: string, indent: string): string =>
  `\n${indent}spread:\n${indent}  - name: ${role}\n${indent}    requirements: { role: ${role} }`;

const manifest = (
  app: string,
  layout: Layout,
  version: string,
  image: string,
  greeting: string,
  port: number,
): string => `
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: ${app}
  annotations:
    version: ${version}
spec:
  components:
    - name: greeter
      type: component
      properties:
        image: ${image}
        config:
          - name: greeting
            properties:
              GREETING: ${greeting}
      traits:
        - type: spreadscaler
          properties:
            instances: 2${layout === 'across' ? spreadOn('app', '            ') : ''}
    - name: httpserver
      type: capability
      properties:
        image: wasmcloud+builtin://http-server
      traits:${
        layout === 'across'
          ? `
        - type: spreadscaler
          properties:
            instances: 1${spreadOn('edge', '            ')}`
          : ''
      }
        - type: link
          properties:
            target:
              name: greeter
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: listen
                  properties:
                    address: 127.0.0.1:${port}
`;

interface Outcome {
  /** When the request was sent, ms on performance.now(). */
  at: number;
  ms: number;
  status?: number;
  greeting?: string;
  error?: string;
}

/** Closed-loop clients, each sending its next request once the last is answered, until stopped. */
function startLoad(url: string, clients: number): { outcomes: Outcome[]; stop: () => Promise<void> } {
  const outcomes: Outcome[] = [];
  let running = true;
  const loop = async (): Promise<void> => {
    while (running) {
      const at = performance.now();
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const text = await res.text();
        outcomes.push({
          at,
          ms: performance.now() - at,
          status: res.status,
          greeting: /^(.*)!\n/.exec(text)?.[1] ?? text.slice(0, 80),
        });
      } catch (err) {
        const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
        outcomes.push({ at, ms: performance.now() - at, error: `${String(err)}${cause}` });
      }
    }
  };
  const loops = Array.from({ length: clients }, loop);
  return {
    outcomes,
    stop: async () => {
      running = false;
      await withDeadline(Promise.all(loops), REQUEST_TIMEOUT_MS * 2, 'the load loops to end');
    },
  };
}

describe('upgrading an application under load', { timeout: 60_000 }, () => {
  let dir: TempDir;
  let nats: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  const hosts: Host[] = [];
  let service: ApplicationService | undefined;
  let wadm: WadmClient;
  let load: ReturnType<typeof startLoad> | undefined;

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    for (const role of ROLES) {
      const connection = await connectNats({ servers: nats.url, name: `host-${role}` });
      connections.push(connection);
      hosts.push(
        await createHost({
          lattice: connection,
          latticeName: LATTICE,
          friendlyName: role,
          labels: { role },
          cacheDir: join(dir.path, 'cache'),
          allowFileLoad: true,
          builtinProviders: BUILTIN_PROVIDERS,
          wireBindings: WIRE_BINDINGS,
          heartbeatIntervalMs: 0,
          logger: silentLogger,
        }),
      );
    }
    const first = connections[0] as NatsLatticeConnection;
    service = await startApplicationService({
      connection: first,
      lattice: LATTICE,
      holderId: (hosts[0] as Host).id,
      // One service and no failover here: a lease long enough that the event loop, blocked while
      // a host compiles hello on its first start, does not make the manager step down meanwhile.
      leaseMs: 30_000,
      // A long hold after a refusal, so that a test can tell a new version tried at once from one
      // tried once the hold is over.
      limits: resolveLimits({
        appResyncIntervalMs: 1_000,
        appBackoffMs: BACKOFF_MS,
        appBackoffMaxMs: BACKOFF_MS,
      }),
      scatterMs: 300,
      logger: silentLogger,
    });
    wadm = createWadmClient(first, LATTICE, 10_000);
  });

  after(async () => {
    await load?.stop().catch(() => undefined);
    await service?.stop();
    for (const host of hosts) await host.stop();
    for (const connection of connections) await connection.close();
    await nats?.stop();
    await dir?.remove();
  });

  const deployed = (app: string, version: string): Promise<unknown> =>
    waitFor(
      async () => {
        const status = await wadm.status(app);
        return status.status.type === 'deployed' && status.version === version ? status : undefined;
      },
      CONVERGE_MS,
      `${app} ${version} to be deployed`,
      50,
    );

  const upgradeUnderLoad = async (t: TestContext, app: string, layout: Layout): Promise<void> => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    // Another file: another image ref, so v2 replaces the component rather than rescaling it.
    const v2Image = join(dir.path, `${app}-v2.wasm`);
    await copyFile(HELLO, v2Image);

    await wadm.put(manifest(app, layout, 'v1', HELLO.href, 'v1', port));
    await wadm.deploy(app, 'v1');
    await deployed(app, 'v1');
    await waitFor(
      async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).catch(
          () => undefined,
        );
        return res?.status === 200 && (await res.text()).startsWith('v1!') ? true : undefined;
      },
      CONVERGE_MS,
      `${app} v1 to answer over HTTP`,
      50,
    );

    load = startLoad(url, CLIENTS);
    await new Promise((resolve) => setTimeout(resolve, STEADY_MS));

    const upgradeStart = performance.now();
    await wadm.put(manifest(app, layout, 'v2', pathToFileURL(v2Image).href, 'v2', port));
    await wadm.deploy(app, 'v2');
    const outcomes = load.outcomes;
    const firstV2 = await waitFor(
      () => outcomes.find((o) => o.greeting === 'v2'),
      CONVERGE_MS,
      `a response from ${app} v2`,
    );
    await deployed(app, 'v2');
    const deployedAt = performance.now();
    // Calls v1 already had in hand may end after v2's first answer; then only v2 answers.
    await waitFor(
      () => {
        const recent = outcomes.slice(-4 * CLIENTS);
        return recent.length > 0 && recent.every((o) => o.greeting === 'v2') ? true : undefined;
      },
      CONVERGE_MS,
      `only ${app} v2 to answer`,
    );
    const upgradeEnd = performance.now();
    await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
    await load.stop();
    load = undefined;

    const failed = outcomes.filter((o) => o.status !== 200);
    const before = new Samples();
    const during = new Samples();
    for (const o of outcomes) {
      if (o.at < upgradeStart) before.add(o.ms);
      else if (o.at <= upgradeEnd) during.add(o.ms);
    }
    const figures = (samples: Samples): string => {
      const [p50, p99] = samples.percentiles(50, 99) as [number, number];
      return `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${samples.max().toFixed(1)} ms`;
    };
    const count = (greeting: string): number => outcomes.filter((o) => o.greeting === greeting).length;
    t.diagnostic(
      `${outcomes.length} requests (${count('v1')} v1, ${count('v2')} v2, ${failed.length} failed) ` +
        `from ${CLIENTS} clients; ${during.count} sent during the upgrade`,
    );
    t.diagnostic(
      `upgrade: first v2 response ${(firstV2.at - upgradeStart).toFixed(0)} ms after the put, deployed ` +
        `after ${(deployedAt - upgradeStart).toFixed(0)} ms, only v2 after ${(upgradeEnd - upgradeStart).toFixed(0)} ms`,
    );
    t.diagnostic(`latency during the upgrade: ${figures(during)}; before it: ${figures(before)}`);

    assert.deepEqual(
      failed.slice(0, 10).map((o) => o.error ?? `${o.status}: ${o.greeting}`),
      [],
      `${failed.length} of ${outcomes.length} requests failed`,
    );
    assert.ok(count('v1') > 0, 'v1 answered before the upgrade');
    assert.ok(count('v2') > 0, 'v2 answered after the upgrade');
    const late = outcomes.filter((o) => o.at > upgradeEnd);
    assert.ok(late.length > 0, 'the load ran on after the upgrade');
    assert.deepEqual(
      late.filter((o) => o.greeting !== 'v2').map((o) => o.greeting),
      [],
      'only v2 answers once the upgrade is done',
    );
  };

  it('replaces hello on the host of the http-server without a failed request', (t) =>
    upgradeUnderLoad(t, 'hello', 'local'));

  it('replaces hello on another host than the http-server without a failed request', (t) =>
    upgradeUnderLoad(t, 'remote', 'across'));

  it('tries a version that follows a refused one at once, whatever the hold on the refused one', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/`;
    const broken = join(dir.path, 'broken.wasm');
    await writeFile(broken, 'not a component');
    const fixed = join(dir.path, 'fixed.wasm');
    await copyFile(HELLO, fixed);
    await wadm.put(manifest('fix', 'local', 'v1', HELLO.href, 'v1', port));
    await wadm.deploy('fix', 'v1');
    await deployed('fix', 'v1');

    // v2 cannot start: the hosts refuse it, and the manager holds that command back for a minute.
    await wadm.put(manifest('fix', 'local', 'v2', pathToFileURL(broken).href, 'v2', port));
    await wadm.deploy('fix', 'v2');
    await waitFor(
      async () => ((await wadm.status('fix')).status.type === 'failed' ? true : undefined),
      CONVERGE_MS,
      'fix v2 to fail',
      50,
    );
    const fixedAt = performance.now();
    await wadm.put(manifest('fix', 'local', 'v3', pathToFileURL(fixed).href, 'v3', port));
    await wadm.deploy('fix', 'v3');
    await waitFor(
      async () => {
        const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) }).catch(
          () => undefined,
        );
        return res?.status === 200 && (await res.text()).startsWith('v3!') ? true : undefined;
      },
      CONVERGE_MS,
      'fix v3 to answer',
      50,
    );
    assert.ok(performance.now() - fixedAt < BACKOFF_MS / 3, 'v3 did not wait out the hold on v2');
    await deployed('fix', 'v3');
    await wadm.undeploy('fix');
  });
});
