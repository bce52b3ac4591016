/**
 * The lattice-management commands as users run them (`cirrus get …`, `scale`, `link`, …), through the
 * same `main` entry as the binary, against real hosts on an in-memory lattice. Each test reads what a
 * person sees (aligned tables, one-line summaries, `error[CODE]` with a hint) or what a script parses
 * (`--output json`), and checks the effect on the hosts themselves.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createHost } from '@cirrus/host';
import { BUILTIN_PROVIDERS } from '@cirrus/providers';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { HostInfo, HostInventory, HostMetrics, Link } from '@cirrus/protocol';
import { freePort, httpGet, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { injectLattice } from '../src/connect.ts';
import { parseNatsUrl } from '../src/nats-flags.ts';
import { harness as recordingHarness } from './support.ts';
import type { Harness } from './support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HELLO = pathToFileURL(join(ROOT, 'examples/hello/build/hello.wasm')).href;
/** Short enough to keep host.ping fast, long enough for a loaded machine to answer. */
const PING = ['--timeout', '400'];

interface Run {
  code: number;
  out: string[];
  err: string[];
}

function harness(env: Record<string, string>, lattice?: MemoryLattice): Harness {
  const made = recordingHarness(env);
  if (lattice !== undefined) injectLattice(made.context, () => lattice.connect());
  return made;
}

/** Log entries split into terminal lines (an error and its hint are logged as one entry). */
function lines(entries: readonly string[]): string[] {
  return entries
    .join('\n')
    .split('\n')
    .filter((line, i, all) => line !== '' || i < all.length - 1);
}

/** The column where `label` starts in a table's header line. */
function column(header: string, label: string): number {
  const at = header.indexOf(label);
  assert.ok(at >= 0, `header ${JSON.stringify(header)} has ${label}`);
  return at;
}

describe('cirrus lattice commands', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let alpha: Host;
  let beta: Host;
  let env: Record<string, string>;

  /** Runs one command against the in-memory lattice and returns its exit code and output. */
  async function cirrus(...argv: string[]): Promise<Run> {
    const h = harness(env, lattice);
    const code = await withDeadline(main(argv, h.context), 15_000, `cirrus ${argv.join(' ')}`);
    return { code, out: h.out, err: lines(h.err) };
  }

  async function json<T>(...argv: string[]): Promise<T> {
    const run = await cirrus(...argv, '--output', 'json');
    assert.equal(run.code, 0, run.err.join('\n'));
    return JSON.parse(run.out.join('\n')) as T;
  }

  before(async () => {
    dir = await tempDir();
    // The state directory is empty, so nothing here can reach a `cirrus up` running elsewhere.
    env = { CIRRUS_CACHE_DIR: join(dir.path, 'cache'), CIRRUS_STATE_DIR: join(dir.path, 'state') };
    lattice = createMemoryLattice();
    alpha = await createHost({
      lattice: lattice.connect(),
      friendlyName: 'alpha',
      builtinProviders: BUILTIN_PROVIDERS,
      allowFileLoad: true,
      cacheDir: env.CIRRUS_CACHE_DIR,
    });
    beta = await createHost({ lattice: lattice.connect(), friendlyName: 'beta', labels: { zone: 'eu' } });
  });

  after(async () => {
    await Promise.all([alpha.stop(), beta.stop()]);
    await lattice.close();
    await dir.remove();
  });

  it('get hosts lists every host in aligned columns, user labels only, or as a JSON array', async () => {
    const run = await cirrus('get', 'hosts', ...PING);
    assert.equal(run.code, 0, run.err.join('\n'));
    const [header, ...rows] = run.out;
    assert.match(header ?? '', /^HOST ID +FRIENDLY NAME +UPTIME +VERSION +LABELS$/);
    assert.equal(rows.length, 2);
    const nameAt = column(header ?? '', 'FRIENDLY NAME');
    const labelsAt = column(header ?? '', 'LABELS');
    const alphaRow = rows.find((r) => r.startsWith(alpha.id)) ?? '';
    const betaRow = rows.find((r) => r.startsWith(beta.id)) ?? '';
    assert.equal(alphaRow.slice(nameAt).split(/ {2,}/)[0], 'alpha');
    assert.equal(betaRow.slice(labelsAt), 'zone=eu', 'hostcore.* labels are left out of the table');
    assert.equal(alphaRow.slice(labelsAt), '-');

    const hosts = await json<HostInfo[]>('get', 'hosts', ...PING);
    assert.deepEqual(
      hosts.map((h) => h.friendly_name),
      ['alpha', 'beta'],
    );
    assert.equal(hosts[1]?.labels['hostcore.os'] !== undefined, true, 'JSON keeps every label');
  });

  it('HOST may be a friendly name or a unique id prefix in any case; ambiguity and misses are typed errors', async () => {
    const byName = await json<HostInventory>('get', 'inventory', 'beta', ...PING);
    assert.equal(byName.host_id, beta.id);
    const byPrefix = await json<HostInventory>(
      'get',
      'inventory',
      alpha.id.slice(0, 10).toLowerCase(),
      ...PING,
    );
    assert.equal(byPrefix.host_id, alpha.id);

    const ambiguous = await cirrus('get', 'inventory', 'N', ...PING);
    assert.equal(ambiguous.code, 1);
    assert.match(
      ambiguous.err.join('\n'),
      /^error\[AMBIGUOUS_HOST\]: "N" matches several hosts: .*\(alpha\).*\(beta\)/,
    );

    const missing = await cirrus('label', 'put', 'gamma', 'zone=x', ...PING);
    assert.equal(missing.code, 1);
    const text = missing.err.join('\n');
    assert.match(text, /^error\[HOST_NOT_FOUND\]: no host matches "gamma" on lattice "default"/);
    assert.match(text, new RegExp(`hint: hosts: .*${alpha.id} \\(alpha\\)`));
  });

  it('scale --wait runs the component and reports it; inventory shows it; stop component scales it to 0', async () => {
    const scaled = await cirrus(
      'scale',
      'component',
      'alpha',
      HELLO,
      'hello',
      '--count',
      '2',
      '--wait',
      ...PING,
    );
    assert.equal(scaled.code, 0, scaled.err.join('\n'));
    assert.deepEqual(scaled.out, [`Component hello scaled to 2 on host ${alpha.id}.`]);
    assert.equal(alpha.inventory().components[0]?.max_instances, 2);

    const table = await cirrus('get', 'inventory', alpha.id);
    assert.equal(table.code, 0, table.err.join('\n'));
    assert.match(table.out[0] ?? '', new RegExp(`^Host ${alpha.id} \\(alpha\\), version \\S+, up `));
    const header = table.out.find((l) => l.startsWith('COMPONENT ID')) ?? '';
    assert.match(header, /^COMPONENT ID +NAME +IMAGE REF +INSTANCES$/);
    const row = table.out[table.out.indexOf(header) + 1] ?? '';
    assert.equal(row.slice(column(header, 'IMAGE REF')).split(/ {2,}/)[0], HELLO);
    assert.equal(row.slice(column(header, 'INSTANCES')), '2');
    assert.ok(table.out.includes('No providers.'));

    const all = await json<HostInventory[]>('get', 'inventory', ...PING);
    assert.deepEqual(
      all.map((i) => [i.friendly_name, i.components.map((c) => c.id)]),
      [
        ['alpha', ['hello']],
        ['beta', []],
      ],
    );

    const stopped = await json<{ success: boolean; host_id: string }>('stop', 'component', alpha.id, 'hello');
    assert.deepEqual([stopped.success, stopped.host_id], [true, alpha.id]);
    await waitFor(() => alpha.inventory().components.length === 0, 10_000, 'hello to stop');
    const notRunning = await cirrus('stop', 'component', alpha.id, 'hello');
    assert.equal(notRunning.code, 1);
    assert.match(
      notRunning.err[0] ?? '',
      /^error\[COMPONENT_NOT_RUNNING\]: component hello is not running on host/,
    );
  });

  it('scale --wait fails with the host error text when the host cannot run the component', async () => {
    const run = await cirrus(
      'scale',
      'component',
      beta.id,
      'file:///nowhere/x.wasm',
      'x',
      '--count',
      '1',
      '--wait',
    );
    assert.equal(run.code, 1);
    assert.match(run.err[0] ?? '', /^error\[COMPONENT_SCALE_FAILED\]: FILE_LOAD_DENIED: /);
    assert.match(run.err.join('\n'), /hint: the host accepted the request but could not run the component/);
  });

  it('scale without --wait returns on the ack, passing config and annotations; JSON has the ack', async () => {
    assert.equal((await cirrus('config', 'put', 'nowait-config', 'k=v')).code, 0);
    const run = await json<Record<string, unknown>>(
      'scale',
      'component',
      alpha.id,
      HELLO,
      'hello-nowait',
      '--count',
      '1',
      '--config',
      'nowait-config',
      '--annotation',
      'owner=test',
    );
    assert.deepEqual(run, {
      success: true,
      message: '',
      host_id: alpha.id,
      component_id: 'hello-nowait',
      count: 1,
    });
    const running = await waitFor(
      () => alpha.inventory().components.find((c) => c.id === 'hello-nowait'),
      10_000,
      'hello-nowait to run',
    );
    assert.deepEqual(running.annotations, { owner: 'test' });
    const stop = await cirrus('stop', 'component', alpha.id, 'hello-nowait');
    assert.deepEqual(stop.out, [`Host ${alpha.id} is stopping component hello-nowait.`]);
    await waitFor(() => alpha.inventory().components.length === 0, 10_000, 'hello-nowait to stop');
  });

  it('config put / get config / config del, with a typed error for a missing config', async () => {
    const put = await cirrus('config', 'put', 'greeting', 'lang=en', 'mood=sunny day');
    assert.deepEqual([put.code, put.out], [0, ['Config greeting put (2 keys).']]);
    assert.deepEqual(await alpha.getConfig('greeting'), { lang: 'en', mood: 'sunny day' });

    const table = await cirrus('get', 'config', 'greeting');
    assert.deepEqual(table.out, ['KEY   VALUE', 'lang  en', 'mood  sunny day']);
    assert.deepEqual(await json('get', 'config', 'greeting'), { lang: 'en', mood: 'sunny day' });

    const del = await json<{ success: boolean; message: string }>('config', 'del', 'greeting');
    assert.deepEqual(del, { success: true, message: 'successfully deleted config' });
    const missing = await cirrus('get', 'config', 'greeting');
    assert.equal(missing.code, 1);
    assert.deepEqual(missing.err, [
      'error[CONFIG_NOT_FOUND]: no config named "greeting" on lattice "default"',
      '  hint: create it with `cirrus config put greeting KEY=VALUE…`',
    ]);
    const bad = await cirrus('config', 'put', 'greeting', 'novalue');
    assert.equal(bad.code, 2);
  });

  it('link put / get links / link del', async () => {
    const put = await cirrus(
      'link',
      'put',
      'app-http',
      'app-kv',
      'wasi',
      'keyvalue',
      '--interface',
      'store',
      '--interface',
      'atomics',
      '--name',
      'cache',
    );
    assert.deepEqual([put.code, put.err], [0, []]);
    assert.deepEqual(put.out, ['Link cache put: app-http → app-kv (wasi:keyvalue/store,atomics).']);

    const table = await cirrus('get', 'links');
    assert.deepEqual(table.out, [
      'SOURCE    TARGET  INTERFACES                   NAME   SOURCE CONFIG  TARGET CONFIG',
      'app-http  app-kv  wasi:keyvalue/store,atomics  cache  -              -',
    ]);
    const links = await json<Link[]>('get', 'links');
    assert.deepEqual(links, [
      {
        source_id: 'app-http',
        target: 'app-kv',
        name: 'cache',
        wit_namespace: 'wasi',
        wit_package: 'keyvalue',
        interfaces: ['store', 'atomics'],
        source_config: [],
        target_config: [],
      },
    ]);

    const del = await cirrus('link', 'del', 'app-http', 'wasi', 'keyvalue', '--name', 'cache');
    assert.deepEqual(del.out, ['Link cache of app-http to wasi:keyvalue deleted.']);
    await waitFor(() => alpha.links().length === 0, 5000, 'the link to go');
    assert.deepEqual((await cirrus('get', 'links')).out, ['No links.']);

    const noInterface = await cirrus('link', 'put', 'a', 'b', 'wasi', 'keyvalue');
    assert.equal(noInterface.code, 2);
    assert.match(noInterface.err[0] ?? '', /a link needs at least one --interface/);
  });

  it('label put / label del change the host labels; a missing label is not an error', async () => {
    const put = await cirrus('label', 'put', 'beta', 'tier=gold', 'rack=r1', ...PING);
    assert.deepEqual(put.out, [`Host ${beta.id} labelled tier=gold, rack=r1.`]);
    assert.equal(beta.labels().tier, 'gold');
    assert.equal(beta.labels().rack, 'r1');

    const del = await cirrus('label', 'del', beta.id, 'tier');
    assert.deepEqual(del.out, [`Label tier removed from host ${beta.id}.`]);
    assert.equal(beta.labels().tier, undefined);
    const again = await cirrus('label', 'del', beta.id, 'tier');
    assert.deepEqual(again.out, [
      `Label tier removed from host ${beta.id}.`,
      'host: successfully deleted label (no such label)',
    ]);
    const reserved = await cirrus('label', 'put', beta.id, 'hostcore.os=plan9');
    assert.equal(reserved.code, 1);
    assert.match(reserved.err[0] ?? '', /^error\[CONTROL_REQUEST_FAILED\]: /);
  });

  it('start provider / stop provider; stopping one that is not running shows the host message', async () => {
    const start = await cirrus('start', 'provider', alpha.id, 'wasmcloud+builtin://http-server', 'web');
    assert.deepEqual([start.code, start.err], [0, []]);
    assert.equal(
      start.out[0],
      `Host ${alpha.id} is starting provider web (wasmcloud+builtin://http-server).`,
    );
    await waitFor(() => alpha.inventory().providers.some((p) => p.id === 'web'), 10_000, 'the provider');

    const stop = await cirrus('stop', 'provider', alpha.id, 'web');
    assert.deepEqual(stop.out, [`Host ${alpha.id} stopped provider web.`]);
    const again = await cirrus('stop', 'provider', alpha.id, 'web');
    assert.equal(again.code, 1);
    assert.deepEqual(again.err, ['error[CONTROL_REQUEST_FAILED]: provider with that ID is not running']);
  });

  it('update component passes the host answer through', async () => {
    const run = await cirrus('update', 'component', alpha.id, 'ghost', HELLO);
    assert.equal(run.code, 1);
    assert.match(run.err[0] ?? '', /^error\[CONTROL_REQUEST_FAILED\]: component ghost not found/);
  });

  it('get metrics shows the calls and latency of each component per host, or the snapshots as JSON', async () => {
    const scaled = await cirrus(
      'scale',
      'component',
      'alpha',
      HELLO,
      'metered',
      '--count',
      '1',
      '--wait',
      ...PING,
    );
    assert.equal(scaled.code, 0, scaled.err.join('\n'));
    await alpha.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'metrics-web' });
    const port = await freePort();
    await alpha.putConfig('metrics-web-metered', { address: `127.0.0.1:${port}` });
    await alpha.putLink({
      source_id: 'metrics-web',
      target: 'metered',
      name: 'default',
      wit_namespace: 'wasi',
      wit_package: 'http',
      interfaces: ['incoming-handler'],
      source_config: ['metrics-web-metered'],
    });
    await waitFor(
      async () => (await httpGet(port, '/').catch(() => undefined))?.status === 200,
      10_000,
      'metered to serve',
    );
    for (let i = 0; i < 3; i++) assert.equal((await httpGet(port, '/')).status, 200);
    const calls =
      alpha.metrics().components.find((c) => c.component_id === 'metered')?.invocations['ok'] ?? 0;
    assert.ok(calls >= 4);

    const table = await cirrus('get', 'metrics', 'alpha');
    assert.equal(table.code, 0, table.err.join('\n'));
    const header = table.out[0] ?? '';
    assert.match(header, /^HOST ID +KIND +ID +CALLS +FAILED +P50 MS +P99 MS$/);
    const row = table.out.find((l) => l.includes(' metered ')) ?? '';
    assert.equal(row.slice(column(header, 'CALLS')).split(/ {2,}/)[0], String(calls));
    assert.equal(row.slice(column(header, 'FAILED')).split(/ {2,}/)[0], '-');
    assert.match(row.slice(column(header, 'P50 MS')).split(/ {2,}/)[0] ?? '', /^[0-9]+\.[0-9]+$/);

    const all = await json<HostMetrics[]>('get', 'metrics', ...PING);
    assert.deepEqual(all.map((m) => m.host_id).sort(), [alpha.id, beta.id].sort());
    const own = all.find((m) => m.host_id === alpha.id)?.components.find((c) => c.component_id === 'metered');
    assert.equal(own?.invocations['ok'], calls);

    await alpha.stopProvider('metrics-web');
    await json('stop', 'component', alpha.id, 'metered');
    await waitFor(() => alpha.inventory().components.length === 0, 10_000, 'metered to stop');
  });

  it('get claims shows the stored claims, or says there are none', async () => {
    const run = await cirrus('get', 'claims');
    assert.deepEqual([run.code, run.out], [0, ['No claims.']]);
    assert.deepEqual(await json('get', 'claims'), []);
  });

  it('get events prints one line per event until Ctrl+C, or JSON lines', async () => {
    for (const output of ['table', 'json'] as const) {
      const h = harness(env, lattice);
      const following = main(['get', 'events', '--type', 'config_set', '--output', output], h.context);
      // The subscription is live once the command has connected; poll with a config change until seen.
      await waitFor(
        async () => {
          await cirrus('config', 'put', `events-${output}`, 'k=v');
          return h.out.length > 0;
        },
        5000,
        'a config_set line',
        50,
      );
      h.signals.emit('SIGINT', 'SIGINT');
      assert.equal(await withDeadline(following, 5000, 'get events to end'), 0);
      const line = h.out[0] ?? '';
      if (output === 'json') {
        const event = JSON.parse(line) as { type: string; data: { config_name: string } };
        assert.equal(event.type, 'com.wasmcloud.lattice.config_set');
        assert.equal(event.data.config_name, 'events-json');
        assert.deepEqual(h.err, []);
      } else {
        assert.match(
          line,
          /^\d{4}-\d\d-\d\dT\S+Z {2}config_set {2}N[A-Z2-7]{55} {2}config_name=events-table$/,
        );
        assert.deepEqual(h.err, ['Following events on lattice "default"; press Ctrl+C to stop.']);
      }
    }
  });

  it('stop host stops the host', async () => {
    const gamma = await createHost({ lattice: lattice.connect(), friendlyName: 'gamma' });
    const run = await cirrus('stop', 'host', 'gamma', ...PING);
    assert.deepEqual(run.out, [`Host ${gamma.id} is stopping.`]);
    await withDeadline(gamma.stopped, 10_000, 'gamma to stop');
  });

  it('a lattice nobody serves gets NO_RESPONDERS with a hint about the host and --lattice', async () => {
    const run = await cirrus('get', 'links', '--lattice', 'elsewhere');
    assert.equal(run.code, 1);
    assert.equal(
      run.err[0],
      'error[NO_RESPONDERS]: nobody answered get links on lattice "elsewhere" (wasmbus.ctl.v1.elsewhere.link.get)',
    );
    assert.match(
      run.err[1] ?? '',
      /hint: is a host running on lattice "elsewhere"\? check the lattice name \(--lattice\)/,
    );
    const hosts = await cirrus('get', 'hosts', '--lattice', 'elsewhere', ...PING);
    assert.deepEqual([hosts.code, hosts.out], [0, ['No hosts answered on lattice "elsewhere".']]);
  });

  it('usage errors exit 2 with the usage in the hint', async () => {
    const cases: [string[], RegExp][] = [
      [['get'], /cirrus get needs one of: hosts, inventory, links, config, claims, metrics, events/],
      [['get', 'bogus'], /unknown subcommand "get bogus"/],
      [['get', 'config'], /missing NAME/],
      [['get', 'links', 'extra'], /unexpected argument "extra"/],
      [['get', 'hosts', '--output', 'xml'], /--output must be one of table, json/],
      [['get', 'hosts', '--timeout', '1s'], /--timeout must be a positive whole number/],
      [['scale', 'component', 'h', 'ref', 'id'], /--count is required/],
      [['scale', 'component', 'h', 'ref', 'id', '--count=-1'], /--count must be a whole number/],
      [['stop', 'provider', 'h'], /missing ID/],
      [['label', 'put', 'h'], /missing KEY=VALUE/],
    ];
    for (const [argv, message] of cases) {
      const run = await cirrus(...argv);
      assert.equal(run.code, 2, argv.join(' '));
      assert.match(run.err.join('\n'), /^error\[USAGE_ERROR\]: /, argv.join(' '));
      assert.match(run.err.join('\n'), message, argv.join(' '));
    }
  });
});

describe('cirrus lattice commands: finding the lattice', () => {
  it('without --nats and without a local host, says how to get one', async () => {
    const dir = await tempDir();
    try {
      const h = harness({ CIRRUS_STATE_DIR: dir.path });
      assert.equal(await main(['get', 'hosts'], h.context), 1);
      assert.deepEqual(lines(h.err), [
        'error[NO_LATTICE]: no lattice to talk to',
        '  hint: start a host with `npm start` / `cirrus up`, or pass --nats URL',
      ]);
    } finally {
      await dir.remove();
    }
  });

  it('--nats to a server that is not there is LATTICE_CONNECT_FAILED', async () => {
    const h = harness({});
    const code = await withDeadline(
      main(['get', 'hosts', '--nats', 'nats://127.0.0.1:1'], h.context),
      15_000,
      'connect failure',
    );
    assert.equal(code, 1);
    assert.match(
      h.err[0] ?? '',
      /^error\[LATTICE_CONNECT_FAILED\]: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/,
    );
  });

  it('--nats URLs may carry a token or a user and password, which go to the client as credentials', () => {
    assert.deepEqual(parseNatsUrl('nats://127.0.0.1:4222'), { servers: ['nats://127.0.0.1:4222'] });
    assert.deepEqual(parseNatsUrl('s3cret@127.0.0.1:4222'), {
      servers: ['nats://127.0.0.1:4222'],
      credentials: { type: 'token', token: 's3cret' },
    });
    assert.deepEqual(parseNatsUrl('nats://me:p%40ss@a:4222, nats://b:4222'), {
      servers: ['nats://a:4222', 'nats://b:4222'],
      credentials: { type: 'user', user: 'me', password: 'p@ss' },
    });
    assert.throws(
      () => parseNatsUrl(' , '),
      (err: unknown) => (err as { code?: string }).code === 'INVALID_ARGUMENT',
    );
  });

  it('--nats reaches a host on a real NATS server, with the token taken from the URL', async () => {
    await using server = await startNatsServer({ config: 'authorization { token: "s3cret" }' });
    const dir = await tempDir();
    const connection = await connectNats({
      servers: server.url,
      credentials: { type: 'token', token: 's3cret' },
    });
    const host = await createHost({
      lattice: connection,
      latticeName: 'natsy',
      friendlyName: 'remote-one',
    });
    try {
      const env = { CIRRUS_STATE_DIR: dir.path };
      const nats = ['--nats', server.url.replace('nats://', 'nats://s3cret@'), '--lattice', 'natsy'];
      const run = async (...argv: string[]): Promise<Run> => {
        const h = harness(env);
        const code = await withDeadline(main([...argv, ...nats], h.context), 15_000, argv.join(' '));
        return { code, out: h.out, err: lines(h.err) };
      };
      const hosts = await run('get', 'hosts', '--output', 'json', ...PING);
      assert.equal(hosts.code, 0, hosts.err.join('\n'));
      assert.deepEqual(
        (JSON.parse(hosts.out.join('\n')) as HostInfo[]).map((h) => [h.id, h.lattice]),
        [[host.id, 'natsy']],
      );
      assert.deepEqual((await run('config', 'put', 'remote', 'a=1')).out, ['Config remote put (1 key).']);
      assert.deepEqual((await run('get', 'config', 'remote')).out, ['KEY  VALUE', 'a    1']);

      const h = harness(env);
      const refused = await main(['get', 'hosts', '--nats', server.url], h.context);
      assert.equal(refused, 1);
      assert.match(h.err[0] ?? '', /^error\[LATTICE_AUTH_FAILED\]/);
    } finally {
      await host.stop();
      // The host does not own its connection; an open one would keep the test process alive.
      await connection.close();
      await dir.remove();
    }
  });

  it('finds the host that `cirrus up` started, through its local endpoint', async () => {
    const dir = await tempDir();
    const env = { CIRRUS_STATE_DIR: join(dir.path, 'state'), CIRRUS_CACHE_DIR: join(dir.path, 'cache') };
    const up = harness(env);
    const running = main(['up', '--name', 'local-one', '--log-level', 'warn'], up.context);
    try {
      await waitFor(() => up.out.some((l) => l.startsWith('Press Ctrl+C')), 30_000, 'cirrus up');
      const h = harness(env);
      const code = await withDeadline(
        main(['get', 'hosts', '--output', 'json', ...PING], h.context),
        15_000,
        'get hosts',
      );
      assert.equal(code, 0, h.err.join('\n'));
      const hosts = JSON.parse(h.out.join('\n')) as HostInfo[];
      assert.deepEqual(
        hosts.map((x) => x.friendly_name),
        ['local-one'],
      );
    } finally {
      up.signals.emit('SIGTERM', 'SIGTERM');
      assert.equal(await withDeadline(running, 15_000, 'cirrus up to exit'), 0);
      await dir.remove();
    }
  });
});
