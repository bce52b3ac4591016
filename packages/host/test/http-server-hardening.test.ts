/**
 * The HTTP server provider where hostile or unlucky clients pushed it: a request in absolute-form,
 * a 413 sent while the client is still uploading, a listener restored from a stored link before its
 * component is warm, and impatient clients refused for capacity. Measured with raw sockets: the
 * status each client reads, what the component saw, and how often a refused connection is read.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import { assemble, BUSY_LOOP_WAT, freePort, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { routeHttp, serveOverHttp, WITH_BUILTINS } from './support.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const PROBE_WASM = fileURLToPath(new URL('../../testing/fixtures/probe/build/probe.wasm', import.meta.url));
const MAX_BODY_BYTES = 64 * 1024;
const PAUSE_MS = 300;

interface RawReply {
  /** The status line's code, or 0 when nothing was read. */
  status: number;
  text: string;
  /** A socket error seen before the server's bytes, e.g. ECONNRESET. */
  error: string | undefined;
}

/**
 * Sends `request`, then writes `uploadBytes` more in 16 KiB pieces, reading nothing until the upload
 * is written, as a client blocked in its upload (curl, most HTTP libraries) does.
 */
function exchange(port: number, request: string, uploadBytes = 0): Promise<RawReply> {
  const reply = new Promise<RawReply>((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket: Socket = connect(port, '127.0.0.1', () => {
      if (uploadBytes > 0) socket.pause();
      socket.write(request);
      const piece = Buffer.alloc(16 * 1024, 0x61);
      let left = uploadBytes;
      const pump = (): void => {
        while (left > 0 && !socket.destroyed) {
          left -= piece.byteLength;
          if (!socket.write(piece)) {
            socket.once('drain', pump);
            return;
          }
        }
        socket.resume();
      };
      pump();
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (error ??= err.code));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0), text, error });
    });
    socket.setTimeout(8000, () => socket.destroy());
  });
  return withDeadline(reply, 15_000, 'the exchange');
}

describe('http server under hostile and unlucky clients', () => {
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
      limits: resolveLimits({
        httpMaxBodyBytes: MAX_BODY_BYTES,
        // A busy component refuses at once, and a refused connection pauses for a measurable time.
        poolMaxWaiters: 0,
        httpOverloadPauseMs: PAUSE_MS,
        invocationTimeoutMs: 3000,
      }),
    });
    const loop = join(dir.path, 'loop.wasm');
    await writeFile(loop, await assemble(BUSY_LOOP_WAT));
    await host.scaleComponent({ componentRef: HELLO_WASM, componentId: 'hello', count: 1 });
    await host.scaleComponent({ componentRef: loop, componentId: 'loop', count: 1 });
    port = await freePort();
    await serveOverHttp(host, 'hello', port);
    await routeHttp(host, 'loop', port, 'loop', '/loop');
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  it('routes a request in absolute-form by the path of its target, and the component sees that path', async () => {
    const reply = await exchange(
      port,
      'GET http://elsewhere.test/grow?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n',
    );
    assert.equal(reply.status, 200, reply.text);
    assert.match(reply.text, /\npath: \/grow\?x=1\n/);
  });

  it('answers a request target that is neither a path nor an absolute URL with 400', async () => {
    const reply = await exchange(port, 'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    assert.equal(reply.status, 400, reply.text);
  });

  it('delivers a 413 to a client that is still uploading, instead of resetting the connection', async () => {
    for (const [what, head] of [
      ['a declared length over the limit', `Content-Length: ${512 * MAX_BODY_BYTES}`],
      ['a chunked body that passes the limit', 'Transfer-Encoding: chunked'],
    ] as const) {
      // The race between the client's upload and the server's close is lost only now and then.
      for (let attempt = 0; attempt < 3; attempt++) {
        const reply = await exchange(
          port,
          `POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\n${head}\r\n\r\n${head.startsWith('Transfer') ? `${(512 * MAX_BODY_BYTES).toString(16)}\r\n` : ''}`,
          512 * MAX_BODY_BYTES,
        );
        assert.equal(reply.status, 413, `${what}, attempt ${attempt}: ${reply.error ?? reply.text}`);
        assert.match(reply.text, /request body too large/);
      }
    }
  });

  it('holds requests that arrive while the routed component is still starting, instead of 503', async () => {
    const second = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
    });
    try {
      const probePort = await freePort();
      // The link is stored before anything runs, as after a restart of a host with its lattice state.
      await second.putConfig('probe-listen', { address: `127.0.0.1:${probePort}` });
      await second.putLink({
        source_id: 'probe-web',
        target: 'probe',
        wit_namespace: 'wasi',
        wit_package: 'http',
        interfaces: ['incoming-handler'],
        source_config: ['probe-listen'],
      });
      const started = Promise.all([
        second.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'probe-web' }),
        second.scaleComponent({ componentRef: PROBE_WASM, componentId: 'probe', count: 1 }),
      ]);
      const statuses = await waitFor(
        async () => {
          const reply = await exchange(
            probePort,
            'GET /env HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
          );
          return reply.status === 0 ? undefined : reply.status;
        },
        30_000,
        'the listener to open',
        5,
      );
      assert.equal(statuses, 200, 'the first request answered by the listener waited for the component');
      await started;
    } finally {
      await second.stop();
    }
  });

  it('answers a refusal for capacity at once and reads that connection again only after a growing pause', async () => {
    // The loop component's only instance is busy until its deadline: every request to it is refused.
    const busy = exchange(port, 'GET /loop HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // An impatient client: each request on one keep-alive connection as soon as the last answer came.
    const statuses: number[] = [];
    const waits: number[] = [];
    const refused = new Promise<void>((resolve, reject) => {
      const request = 'GET /loop HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
      let sentAt = 0;
      let text = '';
      const send = (): void => {
        sentAt = performance.now();
        socket.write(request);
      };
      const socket = connect(port, '127.0.0.1', send);
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        const answer = /^HTTP\/1\.1 (\d{3}) [^]*?\r\ncontent-length: (\d+)\r\n[^]*?\r\n\r\n/i.exec(text);
        if (answer === null || text.length < answer[0].length + Number(answer[2])) return;
        text = text.slice(answer[0].length + Number(answer[2]));
        statuses.push(Number(answer[1]));
        waits.push(performance.now() - sentAt);
        if (statuses.length === 3) {
          socket.destroy();
          resolve();
        } else send();
      });
      socket.on('error', reject);
    });
    await withDeadline(refused, 10_000, 'three refusals');
    assert.deepEqual(statuses, [503, 503, 503]);
    const [first, second, third] = waits as [number, number, number];
    assert.ok(first < 200, `the first refusal is answered at once (${first} ms)`);
    assert.ok(second >= PAUSE_MS * 0.9, `the second request waited a pause (${second} ms)`);
    assert.ok(third >= 2 * PAUSE_MS * 0.9, `the third waited twice as long (${third} ms)`);
    await busy;
  });
});
