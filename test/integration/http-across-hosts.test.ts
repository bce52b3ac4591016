/**
 * The HTTP server on one host serving a component that runs only on another: two `cirrus up --nats`
 * processes on one nats-server. Host A runs the built-in http-server provider and nothing else; host
 * B runs hello and probe. Each request crosses as `wrpc:http/incoming-handler@0.1.0` `handle`, bodies
 * streamed both ways.
 *
 * Guarantees: the same answer as on one host (B serves hello over HTTP itself too); 16 MiB bodies
 * both ways with host A's RSS growth bounded; 100 concurrent requests; B killed mid-request answers
 * an error status with its code, or aborts a response under way, within 2 s; a new B serves again
 * without anything done on A.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { controlOverNats, HELLO_WASM, killAll, ROOT, rssBytes, startCirrusUp } from '../failure/support.ts';
import type { CirrusProcess, ControlSession } from '../failure/support.ts';

const PROBE_WASM = join(ROOT, 'packages/testing/fixtures/probe/build/probe.wasm');
const LATTICE = 'http-across';
const MiB = 1024 * 1024;
/** Host A may grow by this much while 16 MiB cross it each way: it holds windows, never a body. */
const RSS_GROWTH_MAX = 48 * MiB;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One request with a deadline; `body` is sent in 64 KiB chunks as it is generated. */
function send(
  port: number,
  path: string,
  options: { host?: string; method?: string; bodyBytes?: number; timeoutMs?: number } = {},
): Promise<Answer> {
  return withDeadline(
    new Promise<Answer>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: options.method ?? 'GET',
          headers: { host: options.host ?? `127.0.0.1:${port}` },
          agent: false,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
          res.on('close', () => {
            if (!res.complete) reject(new Error('response aborted'));
          });
        },
      );
      req.on('error', reject);
      const total = options.bodyBytes ?? 0;
      const chunk = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          const size = Math.min(chunk.length, total - sent);
          chunk.fill(sent & 0xff, 0, size);
          const more = req.write(chunk.subarray(0, size));
          sent += size;
          if (!more) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      if (total > 0) req.setHeader('content-length', total);
      pump();
    }),
    options.timeoutMs ?? 30_000,
    `${options.method ?? 'GET'} ${path}`,
  );
}

/** The bytes `send` generates for a body of `total` bytes, hashed. */
function sentBodyHash(total: number): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(64 * 1024);
  for (let sent = 0; sent < total; sent += chunk.length) {
    const size = Math.min(chunk.length, total - sent);
    chunk.fill(sent & 0xff, 0, size);
    hash.update(chunk.subarray(0, size));
  }
  return hash.digest('hex');
}

/** Hello's answer without the line that names the instance and counts its requests. */
const sameHello = (body: Buffer): string => body.toString().replace(/^instance: .*$/m, 'instance: *');

describe('HTTP across hosts', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let control: ControlSession;
  let a: CirrusProcess;
  let b: CirrusProcess;
  let portOnA: number;
  let portOnB: number;

  const startHost = (name: string): Promise<CirrusProcess> =>
    startCirrusUp({
      dir: join(dir.path, name),
      cacheDir: join(dir.path, 'cache'),
      label: name,
      args: ['--nats', nats.url, '--lattice', LATTICE, '--name', name, '--log-format', 'json'],
    });

  /** Runs hello and probe on `host`, and waits until both serve. */
  const runComponents = async (host: CirrusProcess): Promise<void> => {
    for (const [componentId, componentRef] of [
      ['hello', HELLO_WASM],
      ['probe', PROBE_WASM],
    ] as const) {
      await control.client.scaleComponent(
        { hostId: host.hostId(), componentRef, componentId, count: 4 },
        { wait: true, waitTimeoutMs: 60_000 },
      );
    }
  };

  const link = async (sourceId: string, target: string, config: string): Promise<void> => {
    await control.client.putLink({
      source_id: sourceId,
      target,
      name: target,
      wit_namespace: 'wasi',
      wit_package: 'http',
      interfaces: ['incoming-handler'],
      source_config: [config],
      target_config: [],
    });
  };

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    control = await controlOverNats(nats.url, { lattice: LATTICE });
    [a, b] = await Promise.all([startHost('a'), startHost('b')]);
    portOnA = await freePort();
    portOnB = await freePort();
    await control.client.startProvider({
      hostId: a.hostId(),
      providerRef: 'wasmcloud+builtin://http-server',
      providerId: 'web-a',
    });
    await control.client.startProvider({
      hostId: b.hostId(),
      providerRef: 'wasmcloud+builtin://http-server',
      providerId: 'web-b',
    });
    // Host names tell the two components apart behind one address.
    for (const [name, port] of [
      ['a', portOnA],
      ['b', portOnB],
    ] as const) {
      await control.client.putConfig(`hello-${name}`, { address: `127.0.0.1:${port}`, host: 'hello.test' });
      await control.client.putConfig(`probe-${name}`, { address: `127.0.0.1:${port}`, host: 'probe.test' });
      await link(`web-${name}`, 'hello', `hello-${name}`);
      await link(`web-${name}`, 'probe', `probe-${name}`);
    }
    await runComponents(b);
    await waitFor(
      async () => (await send(portOnA, '/', { host: 'hello.test' }).catch(() => undefined))?.status === 200,
      20_000,
      'host A to serve hello from host B',
    );
  });

  after(async () => {
    await control?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    killAll();
    await nats?.stop();
    await dir?.remove();
  });

  it('serves hello running only on B from the HTTP server on A, as B serves it itself', async () => {
    const inventoryOfA = await control.client.getInventory(a.hostId());
    assert.deepEqual(inventoryOfA.components, [], 'host A runs no component');
    const remote = await send(portOnA, '/greet?x=1', { host: 'hello.test' });
    const local = await send(portOnB, '/greet?x=1', { host: 'hello.test' });
    assert.equal(remote.status, 200);
    assert.equal(sameHello(remote.body), sameHello(local.body));
    assert.equal(remote.headers['content-type'], local.headers['content-type']);
    const big = await send(portOnA, '/big?bytes=300000', { host: 'probe.test' });
    assert.deepEqual(big.body, (await send(portOnB, '/big?bytes=300000', { host: 'probe.test' })).body);
  });

  it('streams a 16 MiB body each way with host A’s RSS growth bounded', async () => {
    const before = await rssBytes(a.pid);
    let peak = before;
    const sampler = setInterval(() => {
      void rssBytes(a.pid).then(
        (rss) => (peak = Math.max(peak, rss)),
        () => undefined,
      );
    }, 20);
    try {
      const echoed = await send(portOnA, '/echo', {
        host: 'probe.test',
        method: 'POST',
        bodyBytes: 16 * MiB,
        timeoutMs: 60_000,
      });
      assert.equal(echoed.status, 200);
      assert.equal(echoed.body.length, 16 * MiB);
      assert.equal(createHash('sha256').update(echoed.body).digest('hex'), sentBodyHash(16 * MiB));
    } finally {
      clearInterval(sampler);
    }
    const growth = peak - before;
    test_diagnostic(
      `host A RSS: ${(before / MiB).toFixed(1)} MiB before, peak +${(growth / MiB).toFixed(1)} MiB`,
    );
    assert.ok(growth < RSS_GROWTH_MAX, `host A grew by ${(growth / MiB).toFixed(1)} MiB`);
  });

  it('serves 100 concurrent requests', async () => {
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => send(portOnA, `/req-${i}`, { host: 'hello.test' })),
    );
    assert.deepEqual(
      answers.map((r) => r.status),
      answers.map(() => 200),
    );
    for (const [i, answer] of answers.entries())
      assert.match(answer.body.toString(), new RegExp(`path: /req-${i}\\n`));
  });

  it('answers an error status with its code within 2 s when B dies mid-request, and serves again once B is back', async () => {
    const pending = send(portOnA, '/sleep?ms=20000', { host: 'probe.test', timeoutMs: 10_000 }).then(
      (answer) => ({ answer, at: Date.now() }),
      (error: unknown) => ({ error, at: Date.now() }),
    );
    const streaming = send(portOnA, '/stream?chunks=100&ms=50', { host: 'probe.test' }).then(
      (answer) => ({ answer, at: Date.now() }),
      (error: unknown) => ({ error, at: Date.now() }),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const killedAt = Date.now();
    b.signal('SIGKILL');
    await b.exited;
    const [slept, streamed] = await Promise.all([pending, streaming]);
    assert.ok('answer' in slept, 'the waiting request got an answer');
    assert.ok([502, 503, 504].includes(slept.answer.status), `status ${slept.answer.status}`);
    assert.match(slept.answer.body.toString(), /\((WRPC_[A-Z_]+|COMPONENT_NOT_RUNNING|DEADLINE_EXCEEDED)\)/);
    assert.ok(slept.at - killedAt < 2000, `answered ${slept.at - killedAt} ms after the kill`);
    test_diagnostic(
      `after the kill: ${slept.at - killedAt} ms to the error status, ${streamed.at - killedAt} ms to the aborted response`,
    );
    assert.ok('error' in streamed, 'the response under way was aborted');
    assert.ok(streamed.at - killedAt < 2000, `aborted ${streamed.at - killedAt} ms after the kill`);

    const gone = await send(portOnA, '/', { host: 'hello.test' });
    assert.equal(gone.status, 503);
    assert.match(gone.body.toString(), /COMPONENT_NOT_RUNNING/);

    b = await startHost('b2');
    await runComponents(b);
    const back = await send(portOnA, '/', { host: 'hello.test' });
    assert.equal(back.status, 200);
    assert.match(back.body.toString(), /^Hello from Cirrus!/);
  });
});

function test_diagnostic(message: string): void {
  process.stdout.write(`# ${message}\n`);
}
