/**
 * The built-in HTTP server provider on real listeners, driven by real clients (node:http and raw
 * sockets). Signals measured: the status, body and log line of every refusal and failure, how long a
 * refusal takes against its limit, whether other routes on the same listener keep answering, and
 * whether the port accepts connections.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import type { StringMap } from '@cirrus/protocol';
import { assemble, BUSY_LOOP_WAT, freePort, tempDir, TRAP_WAT, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost, createLogger } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { WITH_BUILTINS } from './support.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const PROBE_WASM = fileURLToPath(new URL('../../testing/fixtures/probe/build/probe.wasm', import.meta.url));
const HTTP_SERVER = 'wasmcloud+builtin://http-server';
const PROVIDER = 'web';

const INVOCATION_MS = 1500;
const ACQUIRE_MS = 100;
const HEADERS_TIMEOUT_MS = 400;
const MAX_BODY_BYTES = 1024;
const MAX_HEADER_BYTES = 1024;
const DRAIN_MS = 5000;

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

const HOLDER_SCRIPT = `const s = require('node:net').createServer();
s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;

/** Another process listening on 127.0.0.1; `release()` ends it and waits until it has exited. */
async function holdPort(): Promise<{ port: number; release(): Promise<void> }> {
  const child = spawn(process.execPath, ['-e', HOLDER_SCRIPT], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const release = async (): Promise<void> => {
    child.kill();
    await withDeadline(exited, 5000, 'the port holder to exit');
  };
  const listening = new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the port holder exited with ${code}`)));
  });
  try {
    return { port: await withDeadline(listening, 10_000, 'the port holder to listen'), release };
  } catch (err) {
    await release();
    throw err;
  }
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Milliseconds from sending to the end of the response. */
  ms: number;
}

interface RequestOptions {
  method?: string;
  /** The Host header (default 127.0.0.1:port). */
  host?: string;
  /** Sent with Content-Length. */
  body?: string;
  /** Sent as separate writes, so with chunked transfer encoding. */
  parts?: string[];
}

interface Pending {
  /** Resolves when the first byte of the response body arrives. */
  firstChunk: Promise<void>;
  reply: Promise<Reply>;
}

/** One request on its own connection (no keep-alive pool, so hosts stop without waiting for it). */
function send(port: number, path: string, options: RequestOptions = {}): Pending {
  const started = performance.now();
  let chunkArrived!: () => void;
  const firstChunk = new Promise<void>((resolve) => (chunkArrived = resolve));
  const reply = new Promise<Reply>((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (options.host !== undefined) headers['host'] = options.host;
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', agent: false, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          chunkArrived();
        });
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
            ms: performance.now() - started,
          }),
        );
      },
    );
    req.on('error', reject);
    for (const part of options.parts ?? []) req.write(part);
    req.end(options.body);
  });
  return { firstChunk, reply: withDeadline(reply, 10_000, `${options.method ?? 'GET'} ${path}`) };
}

function get(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  return send(port, path, options).reply;
}

interface RawReply {
  status: number;
  text: string;
  ms: number;
}

/** Writes bytes by hand and reads until the server closes the connection. */
function raw(port: number, write: (socket: Socket) => void, what: string): Promise<RawReply> {
  const started = performance.now();
  const reply = new Promise<RawReply>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, '127.0.0.1', () => write(socket));
    socket.setTimeout(8000, () => socket.destroy());
    const done = (): void => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);
      resolve({ status, text, ms: performance.now() - started });
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', done);
    // A server that answers early and closes may reset a connection whose upload it did not read.
    socket.on('error', (err) => (chunks.length > 0 ? done() : reject(err)));
  });
  return withDeadline(reply, 10_000, what);
}

/** Whether a TCP connection to the port is refused. */
function refused(port: number): Promise<boolean> {
  const attempt = new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
  return withDeadline(attempt, 5000, `a connection attempt to port ${port}`);
}

/** Which component produced a body: the demo greets, the probe names itself, the provider says "no route". */
function servedBy(reply: Reply): string {
  if (reply.body.startsWith('Hello from Cirrus!\n')) return 'hello';
  if (reply.body.startsWith('probe: ')) return 'probe';
  if (reply.body === 'no route\n') return 'no route';
  return `unknown (${reply.status} ${JSON.stringify(reply.body.slice(0, 60))})`;
}

/** Routes a component from the provider with the given link source config. */
async function route(host: Host, name: string, target: string, config: StringMap): Promise<void> {
  await host.putConfig(`route-${name}`, config);
  await host.putLink({
    source_id: PROVIDER,
    target,
    name,
    wit_namespace: 'wasi',
    wit_package: 'http',
    interfaces: ['incoming-handler'],
    source_config: [`route-${name}`],
  });
}

function unroute(host: Host, name: string): Promise<void> {
  return host.deleteLink({ source_id: PROVIDER, name, wit_namespace: 'wasi', wit_package: 'http' });
}

describe('http server provider', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;
  let port: number;
  let address: string;
  const logs: string[] = [];

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      logger: createLogger({ format: 'json', level: 'info', write: (line) => logs.push(line) }),
      limits: resolveLimits({
        invocationTimeoutMs: INVOCATION_MS,
        poolAcquireTimeoutMs: ACQUIRE_MS,
        httpMaxBodyBytes: MAX_BODY_BYTES,
        httpMaxHeaderBytes: MAX_HEADER_BYTES,
        httpHeadersTimeoutMs: HEADERS_TIMEOUT_MS,
        httpDrainTimeoutMs: DRAIN_MS,
      }),
    });
    const loop = join(dir.path, 'loop.wasm');
    const trap = join(dir.path, 'trap.wasm');
    await writeFile(loop, await assemble(BUSY_LOOP_WAT));
    await writeFile(trap, await assemble(TRAP_WAT));
    await Promise.all([
      host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'hello', count: 2 }),
      host.scaleComponent({ componentRef: PROBE_WASM, componentId: 'probe', count: 1 }),
      host.scaleComponent({ componentRef: loop, componentId: 'loop', count: 1 }),
      host.scaleComponent({ componentRef: trap, componentId: 'trap', count: 1 }),
    ]);
    await host.startProvider({ providerRef: HTTP_SERVER, providerId: PROVIDER });
    port = await freePort();
    address = `127.0.0.1:${port}`;
    // One listener shared by every component, by path prefix and by Host header.
    await route(host, 'hello', 'hello', { address, path: '/hello' });
    await route(host, 'nested', 'probe', { address, path: '/hello/deeper/' });
    await route(host, 'greet', 'probe', { address, path: '/hello', host: 'greet.test' });
    await route(host, 'probe', 'probe', { address, host: 'probe.test' });
    await route(host, 'trap', 'trap', { address, path: '/trap' });
    await route(host, 'loop', 'loop', { address, path: '/loop' });
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  it('routes by path prefix on segment boundaries: the longest prefix wins, the component sees the full path', async () => {
    const hello = await get(port, '/hello');
    assert.equal(hello.status, 200);
    assert.equal(servedBy(hello), 'hello');
    assert.match(hello.body, /\npath: \/hello\n/);
    assert.match((await get(port, '/hello/x?y=1')).body, /\npath: \/hello\/x\?y=1\n/);
    assert.match((await get(port, '/hello?y=1')).body, /\npath: \/hello\?y=1\n/);

    const nested = await get(port, '/hello/deeper/env');
    assert.equal(servedBy(nested), 'probe', 'the longer prefix /hello/deeper routes to the probe');
    assert.equal(nested.body, 'probe: unknown path /hello/deeper/env\n');
    assert.equal(servedBy(await get(port, '/hello/deeper')), 'probe');
    assert.equal(servedBy(await get(port, '/hello/deeperx')), 'hello', 'prefixes match whole segments');
  });

  it('routes by Host header (any port, any case); a host route beats an any-host route on the same path', async () => {
    const echoed = await get(port, '/echo', { method: 'POST', host: 'probe.test', body: 'via host' });
    assert.equal(echoed.status, 200);
    assert.equal(echoed.body, 'via host');
    const upper = await get(port, '/echo', { method: 'POST', host: `PROBE.Test:${port}`, body: 'any case' });
    assert.equal(upper.body, 'any case');

    assert.equal(servedBy(await get(port, '/hello', { host: 'greet.test' })), 'probe');
    assert.equal(servedBy(await get(port, '/hello', { host: 'other.test' })), 'hello');
    assert.equal(
      servedBy(await get(port, '/hello', { host: 'probe.test' })),
      'hello',
      'a longer path prefix wins over a host-only route',
    );
  });

  it('answers 404 "no route" when neither path nor host matches, without calling a component', async () => {
    const mark = logs.length;
    for (const [path, hostHeader] of [
      ['/', undefined],
      ['/nothing', undefined],
      ['/hellox', undefined],
      ['/Hello', undefined],
      ['/echo', 'other.test'],
      ['/echo', 'probe.test.evil'],
    ] as const) {
      const reply = await get(port, path, hostHeader === undefined ? {} : { host: hostHeader });
      assert.equal(reply.status, 404, `${hostHeader ?? ''}${path}`);
      assert.equal(reply.body, 'no route\n');
      assert.equal(reply.headers['content-type'], 'text/plain; charset=utf-8');
    }
    assert.deepEqual(
      logs.slice(mark).filter((line) => /"level":"(warn|error)"/.test(line)),
      [],
      'a missing route is not an error of the host',
    );
  });

  it('413: a declared Content-Length over the limit is refused before any body byte is sent', async () => {
    const reply = await raw(
      port,
      (socket) =>
        socket.write(
          `POST /echo HTTP/1.1\r\nHost: probe.test\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`,
        ),
      '413 for Content-Length',
    );
    assert.equal(reply.status, 413);
    assert.match(reply.text, /\r\nconnection: close\r\n/i);
    assert.ok(reply.text.endsWith('\r\n\r\nrequest body too large\n'), reply.text);

    const atLimit = 'b'.repeat(MAX_BODY_BYTES);
    const ok = await get(port, '/echo', { method: 'POST', host: 'probe.test', body: atLimit });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, atLimit, 'a body of exactly the limit passes');
  });

  it('413: a chunked body is cut off once it passes the limit; a chunked body under it is echoed', async () => {
    const chunk = 'c'.repeat(600);
    const frame = `${chunk.length.toString(16)}\r\n${chunk}\r\n`;
    const reply = await raw(
      port,
      (socket) => {
        socket.write('POST /echo HTTP/1.1\r\nHost: probe.test\r\nTransfer-Encoding: chunked\r\n\r\n');
        socket.write(frame);
        socket.write(frame);
        socket.write('0\r\n\r\n');
      },
      '413 for a chunked body',
    );
    assert.equal(reply.status, 413);
    assert.ok(reply.text.endsWith('\r\n\r\nrequest body too large\n'), reply.text);

    // The 413 goes out as soon as the limit is passed, before the component has seen the body fail.
    // The probe then throws on its failed read, which discards its only instance; a replacement
    // starts, and a request that meets the short acquire timeout meanwhile gets a 503 with
    // Retry-After. Retry on exactly that until the replacement serves.
    const parts = ['a'.repeat(400), 'b'.repeat(400), 'c'.repeat(200)];
    const ok = await waitFor(
      async () => {
        const reply = await get(port, '/echo', { method: 'POST', host: 'probe.test', parts });
        return reply.status === 503 && reply.headers['retry-after'] === '1' ? undefined : reply;
      },
      8000,
      'the probe to serve after the cut-off upload',
    );
    assert.equal(ok.status, 200);
    assert.equal(ok.body, parts.join(''), 'a chunked body under the limit is echoed');
  });

  it('431: a request head over the header limit is refused', async () => {
    const reply = await raw(
      port,
      (socket) =>
        socket.write(`GET /hello HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(MAX_HEADER_BYTES * 2)}\r\n\r\n`),
      '431',
    );
    assert.equal(reply.status, 431);
    assert.equal((await get(port, '/hello')).status, 200, 'the listener serves on');
  });

  it('408: a request head that stops arriving is answered once the header timeout passes', async () => {
    const reply = await raw(
      port,
      (socket) => socket.write('GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '),
      '408',
    );
    assert.equal(reply.status, 408);
    assert.ok(reply.ms >= HEADERS_TIMEOUT_MS - 50, `408 after ${Math.round(reply.ms)} ms`);
    assert.ok(reply.ms < HEADERS_TIMEOUT_MS + 3000, `408 after ${Math.round(reply.ms)} ms`);
  });

  it('503 AT_CAPACITY when the only instance is busy past the acquire timeout', async () => {
    const slow = send(port, '/stream?chunks=1&ms=800', { host: 'probe.test' });
    let slowDone = false;
    const slowReply = slow.reply.finally(() => (slowDone = true));
    // The first chunk proves the instance is taken for the next 800 ms.
    await withDeadline(slow.firstChunk, 5000, 'the first chunk of the slow request');
    const busy = await get(port, '/env', { host: 'probe.test' });
    assert.equal(slowDone, false, 'the refusal came while the slow request was in flight');
    assert.equal(busy.status, 503);
    assert.equal(busy.headers['retry-after'], '1');
    assert.equal(busy.body, 'the component is not available (AT_CAPACITY)\n');
    const finished = await slowReply;
    assert.equal(finished.status, 200);
    assert.equal(finished.body, 'chunk 0\n');
    assert.equal((await get(port, '/env', { host: 'probe.test' })).status, 200, 'served again once free');
  });

  it('503 COMPONENT_NOT_RUNNING when the routed component is scaled to zero', async () => {
    await host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'spare', count: 1 });
    await route(host, 'spare', 'spare', { address, host: 'spare.test' });
    assert.equal(servedBy(await get(port, '/', { host: 'spare.test' })), 'hello');
    await host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'spare', count: 0 });
    const gone = await get(port, '/', { host: 'spare.test' });
    assert.equal(gone.status, 503);
    assert.equal(gone.headers['retry-after'], '1');
    assert.equal(gone.body, 'the component is not available (COMPONENT_NOT_RUNNING)\n');
    await unroute(host, 'spare');
  });

  it('500 with a short body and exactly one GUEST_TRAP log line when the component traps', async () => {
    const mark = logs.length;
    const reply = await get(port, '/trap');
    assert.equal(reply.status, 500);
    assert.equal(reply.body, 'the component failed (GUEST_TRAP)\n', 'no guest message or stack leaks out');
    const lines = logs.slice(mark).filter((line) => line.includes('GUEST_TRAP'));
    assert.equal(lines.length, 1, lines.join('\n'));
    const entry = JSON.parse(lines[0] as string) as Record<string, unknown>;
    assert.equal(entry['level'], 'error');
    assert.equal(entry['code'], 'GUEST_TRAP');
    assert.equal(entry['status'], 500);
    assert.equal(entry['component'], 'trap');
    assert.equal(entry['path'], '/trap');
    assert.equal(entry['provider'], PROVIDER);
    assert.equal((await get(port, '/hello')).status, 200);
  });

  it('504 DEADLINE_EXCEEDED for a busy loop within the deadline plus 1 s, while another route keeps answering', async () => {
    const started = performance.now();
    let stuckDone = false;
    const stuck = get(port, '/loop').finally(() => (stuckDone = true));
    let served = 0;
    while (!stuckDone) {
      const reply = await get(port, '/hello');
      assert.equal(reply.status, 200, 'hello answers while the loop spins');
      served++;
    }
    const reply = await stuck;
    const ms = performance.now() - started;
    assert.equal(reply.status, 504);
    assert.equal(reply.body, 'the component did not answer in time (DEADLINE_EXCEEDED)\n');
    assert.ok(ms >= INVOCATION_MS - 50, `504 after ${Math.round(ms)} ms`);
    assert.ok(ms < INVOCATION_MS + 1000, `504 after ${Math.round(ms)} ms`);
    assert.ok(served >= 3, `hello answered ${served} requests during the loop`);
  });

  it('deleting the link closes its listener: connections are refused, other listeners serve on', async () => {
    const own = await freePort();
    await route(host, 'solo', 'hello', { address: `127.0.0.1:${own}` });
    assert.equal(servedBy(await get(own, '/anything')), 'hello');
    await unroute(host, 'solo');
    assert.equal(await refused(own), true, 'the port is closed once deleteLink resolves');
    assert.equal((await get(port, '/hello')).status, 200);
  });

  it('a second link for the same address, host and path is refused with ROUTE_CONFLICT; the first keeps serving', async () => {
    await assert.rejects(
      route(host, 'clash', 'probe', { address, path: '/hello/' }),
      (err) => codeOf(err) === 'ROUTE_CONFLICT',
    );
    assert.equal(servedBy(await get(port, '/hello')), 'hello');
    await unroute(host, 'clash');
    assert.equal(servedBy(await get(port, '/hello')), 'hello', 'removing the refused link keeps the route');
  });

  it('changing the named config of a link moves its route: the new address serves, the old one closes', async () => {
    const first = await freePort();
    const second = await freePort();
    await route(host, 'mover', 'hello', { address: `127.0.0.1:${first}`, path: '/v1' });
    assert.equal(servedBy(await get(first, '/v1')), 'hello');
    await host.putConfig('route-mover', { address: `127.0.0.1:${second}`, path: '/v2' });
    assert.equal(servedBy(await get(second, '/v2')), 'hello');
    assert.equal(servedBy(await get(second, '/v1')), 'no route');
    assert.equal(await refused(first), true, 'the listener left without routes is closed');
    await unroute(host, 'mover');
    assert.equal(await refused(second), true);
  });

  it('another spelling of a port this host already listens on (0.0.0.0 vs 127.0.0.1) gives ADDRESS_IN_USE', async () => {
    await assert.rejects(
      route(host, 'wide', 'probe', { address: `0.0.0.0:${port}` }),
      (err) => codeOf(err) === 'ADDRESS_IN_USE',
    );
    await unroute(host, 'wide');
    assert.equal(servedBy(await get(port, '/hello')), 'hello', 'the existing listener is untouched');
  });

  it('an address held by another process gives ADDRESS_IN_USE; once freed, putting the same link again serves', async () => {
    const holder = await holdPort();
    try {
      await assert.rejects(
        route(host, 'taken', 'hello', { address: `127.0.0.1:${holder.port}` }),
        (err) => codeOf(err) === 'ADDRESS_IN_USE',
      );
    } finally {
      await holder.release();
    }
    // The same link put again (config untouched, link not deleted first) is retried now that the port is free.
    await host.putLink({
      source_id: PROVIDER,
      target: 'hello',
      name: 'taken',
      wit_namespace: 'wasi',
      wit_package: 'http',
      interfaces: ['incoming-handler'],
      source_config: ['route-taken'],
    });
    assert.equal(servedBy(await get(holder.port, '/')), 'hello');
    await unroute(host, 'taken');
    assert.equal(await refused(holder.port), true);
  });
});

describe('http server provider on host stop', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;

  before(async () => {
    dir = await tempDir();
    lattice = createMemoryLattice();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      limits: resolveLimits({ httpDrainTimeoutMs: DRAIN_MS }),
    });
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  it('drains: a request in flight completes while new connections are refused', async () => {
    await host.scaleComponent({ componentRef: PROBE_WASM, componentId: 'probe', count: 1 });
    await host.startProvider({ providerRef: HTTP_SERVER, providerId: PROVIDER });
    const port = await freePort();
    await route(host, 'probe', 'probe', { address: `127.0.0.1:${port}` });

    const streaming = send(port, '/stream?chunks=3&ms=300');
    let streamDone = false;
    const streamed = streaming.reply.finally(() => (streamDone = true));
    await withDeadline(streaming.firstChunk, 5000, 'the first chunk of the streamed response');
    const started = performance.now();
    const stopping = host.stop();
    await waitFor(() => refused(port), 2000, 'new connections to be refused');
    assert.equal(streamDone, false, 'connections were refused while the response was still streaming');

    const reply = await streamed;
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'chunk 0\nchunk 1\nchunk 2\n', 'the response in flight was not cut');
    await withDeadline(stopping, DRAIN_MS + 5000, 'the host to stop');
    const stopMs = performance.now() - started;
    assert.ok(
      stopMs < DRAIN_MS,
      `stop waited for the drain to end, not its timeout (${Math.round(stopMs)} ms)`,
    );
  });
});
