/**
 * Outgoing HTTP across hosts, on one nats-server. The http-client provider runs on host A only; the
 * fetcher component runs on host B only, linked to it. The component's request crosses as
 * `wrpc:http/outgoing-handler@0.1.0` `handle` with its body streamed, host A makes the real request
 * under the link's allow-list, and the response body streams back. With host A gone the guest gets
 * an error code at once instead of waiting.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Msg, Subscription } from '@cirrus/lattice';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { freePort, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { hostOnNats, routeHttp } from './support.ts';
import type { Host } from '../src/index.ts';

const FETCHER_WASM = fileURLToPath(
  new URL('../../testing/fixtures/fetcher/build/fetcher.wasm', import.meta.url),
);
const MiB = 1024 * 1024;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Answers `/echo` with the request body, `/hello` with a greeting. */
async function startUpstream(): Promise<{ server: Server; port: number; bodies: number[] }> {
  const bodies: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      bodies.push(body.byteLength);
      if (req.url === '/echo') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-upstream': 'echo' });
        res.end(body);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'hello' });
      res.end('hello from upstream\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, bodies };
}

async function call(
  port: number,
  path: string,
  init: { method?: string; body?: Uint8Array } = {},
): Promise<{ status: number; body: Uint8Array; headers: Headers }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: init.method ?? 'GET',
    ...(init.body === undefined ? {} : { body: init.body }),
    signal: AbortSignal.timeout(30_000),
  });
  return {
    status: response.status,
    body: new Uint8Array(await response.arrayBuffer()),
    headers: response.headers,
  };
}

describe('http-client across hosts', () => {
  let dir: TempDir;
  let nats: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  let a: Host;
  let b: Host;
  let port: number;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  const invocations: string[] = [];
  let spying: Subscription;

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    upstream = await startUpstream();
    const cache = join(dir.path, 'cache');
    const started = [await hostOnNats(nats.url, 'a', cache), await hostOnNats(nats.url, 'b', cache)];
    connections.push(...started.map((s) => s.connection));
    [a, b] = started.map((s) => s.host) as [Host, Host];
    const spy = (await hostOnNats(nats.url, 'spy', cache)).connection;
    connections.push(spy);
    spying = spy.subscribe('default.client.>', { callback: (msg: Msg) => invocations.push(msg.subject) });
    port = await freePort();
    await a.startProvider({ providerRef: 'wasmcloud+builtin://http-client', providerId: 'client' });
    await b.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' });
    await b.scaleComponent({ componentRef: FETCHER_WASM, componentId: 'fetcher', count: 1 });
    await b.putConfig('allow-upstream', { allowed_hosts: `127.0.0.1:${upstream.port}` });
    await b.putLink({
      source_id: 'fetcher',
      target: 'client',
      wit_namespace: 'wasi',
      wit_package: 'http',
      interfaces: ['outgoing-handler'],
      target_config: ['allow-upstream'],
    });
    await routeHttp(b, 'fetcher', port, 'fetcher');
    // Host A learns of the link from the lattice: until then its provider denies the request.
    await waitFor(
      async () => (await call(port, `/raw?url=http://127.0.0.1:${upstream.port}/hello`)).status === 200,
      10_000,
      'the provider on host A to take the link',
      50,
    );
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    for (const connection of connections) await connection.close();
    await nats?.stop();
    await new Promise((resolve) => upstream?.server.close(resolve));
    await dir?.remove();
  });

  it('sends a request of a few MiB from host B through the provider on host A, and streams the answer back', async () => {
    const payload = randomBytes(3 * MiB);
    const reply = await withDeadline(
      call(port, `/raw?url=http://127.0.0.1:${upstream.port}/echo`, { method: 'POST', body: payload }),
      30_000,
      'the echo through host A',
    );
    assert.equal(reply.status, 200, new TextDecoder().decode(reply.body.subarray(0, 200)));
    assert.equal(reply.body.byteLength, payload.byteLength);
    assert.equal(sha256(reply.body), sha256(payload));
    assert.equal(reply.headers.get('x-upstream'), 'echo');
    assert.equal(upstream.bodies.at(-1), payload.byteLength, 'the upstream received the whole body');
    assert.ok(
      invocations.includes('default.client.wrpc.0.0.1.wrpc:http/outgoing-handler@0.1.0.handle'),
      'the request crossed as the 1.x outgoing-handler invocation',
    );
  });

  it("keeps to the link's allow-list on the provider's host", async () => {
    const elsewhere = await freePort();
    const reply = await call(port, `/raw?url=http://127.0.0.1:${elsewhere}/`);
    assert.equal(reply.status, 502);
    assert.match(new TextDecoder().decode(reply.body), /error-code: HTTP-request-denied/);
  });

  it('answers the guest with an error code at once when the provider host has stopped', async () => {
    // The spy would answer for the provider: nothing may listen on its subjects once host A is gone.
    spying.unsubscribe();
    await a.stop();
    const started = Date.now();
    const reply = await withDeadline(
      call(port, `/raw?url=http://127.0.0.1:${upstream.port}/hello`),
      10_000,
      'the answer without host A',
    );
    assert.equal(reply.status, 502);
    assert.match(new TextDecoder().decode(reply.body), /error-code: internal-error .*NO_RESPONDERS/);
    assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
  });
});
