/**
 * One lattice across two regions: a hub nats-server with JetStream in the domain `hub`, and a leaf
 * node server without JetStream joined to it through a relay the test can cut. `cirrus up --js-domain
 * hub` runs a host on each (`hub-host` on the hub, `leaf-host` on the leaf); the lattice commands
 * reach them through either server.
 *
 * Which host answers a queue-group request (link.put, link.get, config.*) matters here: a server gives
 * a queue-group message to a member connected to it before one across a leaf node connection, so a
 * command through the leaf is answered by leaf-host and one through the hub by hub-host. A link put
 * through one server and listed through the other has therefore crossed the leaf link in JetStream
 * (written through the domain, delivered by the other host's LATTICEDATA watch).
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import type { HostInfo, HostInventory, Link } from '@cirrus/protocol';
import { freePort, startNatsLeaf, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsLeaf, NatsServer, TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { harness } from './support.ts';
import type { Harness } from './support.ts';

const LATTICE = 'regions';
const DOMAIN = 'hub';
/** Short enough to keep host.ping fast, long enough for a loaded machine to answer. */
const PING = ['--timeout', '1000'];

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../testing/fixtures/${name}/build/${name}.wasm`, import.meta.url));
const EXAMPLE_HELLO = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));

interface Run {
  code: number;
  out: string[];
  err: string[];
}

interface Up {
  h: Harness;
  running: Promise<number>;
}

/** GET http://127.0.0.1:port/path with a deadline: the status and body, or the error's code. */
function httpGet(port: number, path: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * GETs until the answer is 200 (a route or the interest behind it may still be crossing the leaf
 * link); on the deadline, fails with the last answer, which says why (e.g. 503 COMPONENT_NOT_RUNNING).
 */
async function getUntilOk(
  port: number,
  path: string,
  what: string,
): Promise<{ status: number; body: string }> {
  let last = 'no answer';
  try {
    return await waitFor(
      () =>
        httpGet(port, path).then(
          (r) => {
            last = `${r.status} ${r.body.trim()}`;
            return r.status === 200 ? r : false;
          },
          (err: Error) => {
            last = err.message;
            return false as const;
          },
        ),
      20_000,
      what,
      100,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answer: ${last}`, { cause: err });
  }
}

describe('cirrus on a lattice across a hub and a leaf node (--js-domain)', () => {
  let dir: TempDir;
  let hub: NatsServer;
  let leaf: NatsLeaf;
  let env: Record<string, string>;
  const ups: Up[] = [];
  /** The hosts' ids, by friendly name. */
  const ids = new Map<string, string>();
  let httpPort: number;

  async function cirrus(server: NatsServer, ...argv: string[]): Promise<Run> {
    const h = harness(env);
    const code = await withDeadline(
      main([...argv, '--nats', server.url, '--lattice', LATTICE], h.context),
      20_000,
      `cirrus ${argv.slice(0, 2).join(' ')}`,
    );
    return { code, out: h.out, err: h.err.join('\n').split('\n') };
  }

  async function ok(server: NatsServer, ...argv: string[]): Promise<string[]> {
    const run = await cirrus(server, ...argv);
    assert.equal(run.code, 0, `cirrus ${argv.join(' ')}: ${run.err.join('\n')}`);
    return run.out;
  }

  async function json<T>(server: NatsServer, ...argv: string[]): Promise<T> {
    return JSON.parse((await ok(server, ...argv, '--output', 'json')).join('\n')) as T;
  }

  async function startHost(name: string, server: NatsServer): Promise<void> {
    const h = harness(env);
    const running = main(
      ['up', '--nats', server.url, '--js-domain', DOMAIN, '--lattice', LATTICE, '--name', name],
      h.context,
    );
    ups.push({ h, running });
    let exited: number | undefined;
    void running.then((code) => (exited = code));
    await waitFor(
      () => {
        if (exited !== undefined)
          throw new Error(`cirrus up ${name} exited with ${exited}: ${h.err.join('\n')}`);
        return h.out.some((l) => l.includes(`is up on lattice "${LATTICE}"`));
      },
      30_000,
      `cirrus up ${name}`,
    );
  }

  function hostId(name: string): string {
    const id = ids.get(name);
    assert.ok(id !== undefined, `${name} answered no ping`);
    return id;
  }

  const linkNames = (links: Link[]): string[] =>
    links.map((l) => `${l.source_id}→${l.target} ${l.wit_namespace}:${l.wit_package}`).sort();

  before(async () => {
    dir = await tempDir();
    hub = await startNatsServer({ leafnodes: true, jetstream: { domain: DOMAIN } });
    leaf = await startNatsLeaf(hub);
    env = {
      CIRRUS_CACHE_DIR: join(dir.path, 'cache'),
      CIRRUS_STATE_DIR: join(dir.path, 'state'),
      // A component call that finds nobody listening fails at once; one that waits is bounded by this.
      CIRRUS_LIMIT_INVOCATION_TIMEOUT_MS: '5000',
    };
    await startHost('hub-host', hub);
    await startHost('leaf-host', leaf);
    // A host is up once its own server has its subscriptions; the server across the leaf link learns
    // of them a moment later, and until then a ping through it misses that host.
    for (const server of [hub, leaf]) {
      await waitFor(
        async () => {
          const hosts = await json<HostInfo[]>(server, 'get', 'hosts', ...PING);
          for (const host of hosts) ids.set(host.friendly_name, host.id);
          return hosts.length === 2;
        },
        10_000,
        `both hosts to answer through ${server === hub ? 'the hub' : 'the leaf'}`,
        100,
      );
    }
    httpPort = await freePort();
  });

  after(async () => {
    for (const { h } of ups) h.signals.emit('SIGTERM', 'SIGTERM');
    const codes = await Promise.allSettled(
      ups.map((u) => withDeadline(u.running, 20_000, 'cirrus up to exit')),
    );
    await leaf?.stop();
    await hub?.stop();
    await dir?.remove();
    codes.forEach((outcome, i) =>
      assert.deepEqual(outcome, { status: 'fulfilled', value: 0 }, ups[i]?.h.err.join('\n')),
    );
  });

  it('a host on the leaf without --js-domain stops at start, saying to name the hub’s domain', async () => {
    const h = harness(env);
    const code = await withDeadline(
      main(['up', '--nats', leaf.url, '--lattice', LATTICE, '--name', 'no-domain'], h.context),
      20_000,
      'cirrus up without --js-domain',
    );
    assert.equal(code, 1);
    const err = h.err.join('\n');
    assert.match(
      err,
      /error\[KV_UNAVAILABLE\]: key-value open of bucket \S+ failed: JetStream does not answer/,
    );
    assert.match(err, /hint: .*name the hub's JetStream domain \(cirrus up --js-domain\)/);
  });

  it('cirrus get hosts through either server lists both hosts', async () => {
    for (const server of [hub, leaf]) {
      const hosts = await json<HostInfo[]>(server, 'get', 'hosts', ...PING);
      assert.deepEqual(hosts.map((h) => h.friendly_name).sort(), ['hub-host', 'leaf-host'], server.url);
    }
  });

  it('a link put through one server is listed through the other: each host’s LATTICEDATA watch reaches the hub’s JetStream through the domain', async () => {
    await ok(leaf, 'link', 'put', 'from-leaf', 'target', 'example', 'leafward', '--interface', 'i');
    await ok(hub, 'link', 'put', 'from-hub', 'target', 'example', 'hubward', '--interface', 'i');
    for (const server of [hub, leaf]) {
      await waitFor(
        async () => {
          const names = linkNames(await json<Link[]>(server, 'get', 'links'));
          return (
            names.includes('from-leaf→target example:leafward') &&
            names.includes('from-hub→target example:hubward')
          );
        },
        10_000,
        `both links, listed through ${server === hub ? 'the hub' : 'the leaf'}`,
        100,
      );
    }
    await ok(hub, 'link', 'del', 'from-leaf', 'example', 'leafward');
    await ok(leaf, 'link', 'del', 'from-hub', 'example', 'hubward');
    for (const server of [hub, leaf]) {
      await waitFor(
        async () => !linkNames(await json<Link[]>(server, 'get', 'links')).some((n) => n.startsWith('from-')),
        10_000,
        'the deletes, through either server',
        100,
      );
    }
  });

  it('named config put through one server is read through the other', async () => {
    // `config put` returns once the answering host's own CONFIGDATA watch has the value: through the
    // leaf, that watch crosses the leaf link.
    await ok(leaf, 'config', 'put', 'leafward', 'region=edge');
    await ok(hub, 'config', 'put', 'hubward', 'region=core');
    for (const server of [hub, leaf]) {
      assert.deepEqual(await json(server, 'get', 'config', 'leafward'), { region: 'edge' });
      assert.deepEqual(await json(server, 'get', 'config', 'hubward'), { region: 'core' });
    }
    await ok(hub, 'config', 'del', 'leafward');
    await ok(leaf, 'config', 'del', 'hubward');
    assert.equal((await cirrus(leaf, 'get', 'config', 'leafward')).code, 1);
  });

  let greetingPath: Promise<void> | undefined;
  /**
   * greeter on hub-host, greet-client on leaf-host linked to it, and leaf-host's HTTP server in front
   * of greet-client on `httpPort`: every request there crosses the leaf link. Set up once, by
   * whichever test needs it first, so a test that only uses the path still runs on its own (`--test-name-pattern`).
   */
  function setUpGreetingPath(): Promise<void> {
    greetingPath ??= (async () => {
      const hubHost = hostId('hub-host');
      const leafHost = hostId('leaf-host');
      await ok(hub, 'scale', 'component', hubHost, fixture('greeter'), 'greeter', '--count', '2', '--wait');
      await ok(
        leaf,
        ...['scale', 'component', leafHost, fixture('greet-client'), 'client'],
        ...['--count', '2', '--wait'],
      );
      // Put through the hub, applied by leaf-host: it learns the link from its watch.
      await ok(hub, 'link', 'put', 'client', 'greeter', 'example', 'greeter', '--interface', 'greet');
      await ok(leaf, 'start', 'provider', leafHost, 'wasmcloud+builtin://http-server', 'web');
      await ok(leaf, 'config', 'put', 'edge-listen', `address=127.0.0.1:${httpPort}`);
      await ok(
        leaf,
        ...['link', 'put', 'web', 'client', 'wasi', 'http', '--interface', 'incoming-handler'],
        ...['--source-config', 'edge-listen'],
      );
    })();
    return greetingPath;
  }

  it('a component on the leaf host calls a component on the hub host over wRPC', async (t: TestContext) => {
    await setUpGreetingPath();
    const first = await getUntilOk(httpPort, '/Ada', 'the greeting through the leaf host');
    assert.match(first.body, /^Hello, Ada! \(call \d+\)/);
    const started = performance.now();
    const replies = await Promise.all(['Grace', 'Edsger', 'Barbara'].map((n) => httpGet(httpPort, `/${n}`)));
    t.diagnostic(`3 concurrent calls leaf → hub in ${Math.round(performance.now() - started)} ms`);
    assert.deepEqual(
      replies.map((r) => r.status),
      [200, 200, 200],
    );
    assert.match(replies[2]?.body ?? '', /^Hello, Barbara!/);
  });

  it('an HTTP request on the leaf host reaches a component that runs only on the hub host, through a link put on the hub', async () => {
    await setUpGreetingPath();
    const hubHost = hostId('hub-host');
    await ok(hub, 'scale', 'component', hubHost, EXAMPLE_HELLO, 'hello', '--count', '1', '--wait');
    const port = await freePort();
    await ok(leaf, 'config', 'put', 'hello-listen', `address=127.0.0.1:${port}`);
    // Put through the hub (answered by hub-host) and applied by leaf-host's HTTP server, which learns
    // it from its LATTICEDATA watch across the leaf link and opens the listener it names.
    await ok(
      hub,
      ...['link', 'put', 'web', 'hello', 'wasi', 'http', '--interface', 'incoming-handler'],
      ...['--name', 'hello', '--source-config', 'hello-listen'],
    );
    const reply = await getUntilOk(port, '/from-the-edge', 'hello through the leaf host');
    assert.match(reply.body, /^Hello from Cirrus!\nmethod: GET\npath: \/from-the-edge\n/);
    const inventories = await json<HostInventory[]>(leaf, 'get', 'inventory', ...PING);
    assert.deepEqual(
      inventories.filter((i) => i.components.some((c) => c.id === 'hello')).map((i) => i.friendly_name),
      ['hub-host'],
      'hello runs on the hub host only',
    );
    await ok(leaf, 'link', 'del', 'web', 'wasi', 'http', '--name', 'hello');
    await waitFor(
      () =>
        httpGet(port, '/').then(
          () => false,
          () => true,
        ),
      10_000,
      'the listener to close once the link put on the hub is deleted through the leaf',
      100,
    );
  });

  it('when the leaf link drops: calls across it fail fast, the leaf host cannot write lattice state, and both recover once it is back, with what changed meanwhile', async (t: TestContext) => {
    await setUpGreetingPath();
    await getUntilOk(httpPort, '/Ada', 'the greeting through the leaf host before the cut');
    await leaf.link.cut();
    let restoring: number;
    try {
      let started = performance.now();
      const failed = await httpGet(httpPort, '/Ada');
      const callMs = Math.round(performance.now() - started);
      // Nobody across the leaf link answers greet-client's call to greeter: the client traps.
      assert.equal(failed.status, 500, failed.body);
      assert.match(failed.body, /NO_RESPONDERS/);
      assert.ok(callMs < 2_000, `a call across the cut link fails in ${callMs} ms, not at its 5 s deadline`);

      started = performance.now();
      const write = await cirrus(leaf, 'config', 'put', 'during-outage', 'a=1');
      const writeMs = Math.round(performance.now() - started);
      assert.equal(write.code, 1);
      assert.match(write.err.join('\n'), /KV_UNAVAILABLE: .*no JetStream answers in domain "hub"/);

      const seen = await json<HostInfo[]>(leaf, 'get', 'hosts', ...PING);
      assert.deepEqual(
        seen.map((h) => h.friendly_name),
        ['leaf-host'],
      );
      // The hub side carries on, and a link put now reaches leaf-host when the link is back.
      await ok(hub, 'link', 'put', 'meanwhile', 'greeter', 'example', 'outage', '--interface', 'i');
      t.diagnostic(
        `link cut: HTTP call failed (${failed.status}) in ${callMs} ms; config put through the leaf failed in ${writeMs} ms`,
      );
      t.diagnostic(`${failed.status} body: ${failed.body.trim()}`);
    } finally {
      restoring = performance.now();
      await leaf.link.restore();
    }
    const restored = performance.now();
    const relinkMs = Math.round(restored - restoring);
    const back = await waitFor(
      () =>
        httpGet(httpPort, '/Grace').then(
          (r) => (r.status === 200 ? r : false),
          () => false as const,
        ),
      20_000,
      'calls across the restored link',
      50,
    );
    const callBackMs = Math.round(performance.now() - restored);
    assert.match(back.body, /^Hello, Grace!/);
    await waitFor(
      async () =>
        linkNames(await json<Link[]>(leaf, 'get', 'links')).includes('meanwhile→greeter example:outage'),
      20_000,
      'the link put during the outage, listed by leaf-host',
      100,
    );
    const linkBackMs = Math.round(performance.now() - restored);
    await ok(leaf, 'config', 'put', 'after-outage', 'a=1');
    t.diagnostic(
      `restored: the leaf relinked in ${relinkMs} ms (it retries every second), then calls were answered within ${callBackMs} ms and leaf-host listed the link put meanwhile within ${linkBackMs} ms`,
    );
    await ok(hub, 'link', 'del', 'meanwhile', 'example', 'outage');
  });
});

describe('cirrus --js-domain usage', () => {
  async function run(...argv: string[]): Promise<{ code: number; err: string }> {
    const h = harness({});
    const code = await withDeadline(main(argv, h.context), 10_000, `cirrus ${argv.join(' ')}`);
    return { code, err: h.err.join('\n') };
  }

  it('cirrus up refuses --js-domain without --nats, as a usage error', async () => {
    const { code, err } = await run('up', '--js-domain', 'hub');
    assert.equal(code, 2);
    assert.match(err, /^error\[USAGE_ERROR\]: --js-domain needs --nats URL/);
  });

  it('cirrus up refuses a domain that is not one subject token before connecting', async () => {
    // Nothing listens on port 1: a connect attempt would fail with LATTICE_CONNECT_FAILED instead.
    const { code, err } = await run('up', '--nats', 'nats://127.0.0.1:1', '--js-domain', 'hub.eu');
    assert.equal(code, 1);
    assert.match(err, /^error\[INVALID_ARGUMENT\]: JetStream domain "hub\.eu" is not valid/);
  });

  it('the lattice commands take no --js-domain: they never use JetStream', async () => {
    const { code, err } = await run('get', 'links', '--nats', 'nats://127.0.0.1:1', '--js-domain', 'hub');
    assert.equal(code, 2);
    assert.match(err, /unknown option --js-domain/);
  });
});
