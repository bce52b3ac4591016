/**
 * The local endpoint over websocket, as a browser reaches it through the HTTP server of `cirrus up`:
 * an `http.Server` hands its upgrades on /lattice to the endpoint, and nats.js's websocket client
 * (what a browser runs) and the Cirrus NATS adapter talk to a memory lattice through it under the
 * rules TCP clients have (token, limits, slow consumers). Raw sockets check the handshake and the
 * framing itself: masking, fragments, ping/pong, close codes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import { wsconnect } from '@nats-io/nats-core';
import { take, waitFor, withDeadline } from '@cirrus/testing';
import { createMemoryLattice, encodeText } from '@cirrus/lattice';
import type { MemoryLattice, Msg } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import { serveLattice } from '../src/index.ts';
import type { LocalEndpoint, ServeLatticeOptions } from '../src/index.ts';

const TOKEN = 'test-token-0123456789abcdefghij';
const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

interface Served {
  readonly lattice: MemoryLattice;
  readonly endpoint: LocalEndpoint;
  readonly http: HttpServer;
  readonly port: number;
  /** `ws://127.0.0.1:PORT/lattice`. */
  readonly wsUrl: string;
}

const cleanup: (() => unknown)[] = [];

afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

/** A memory lattice, its endpoint, and an HTTP server that hands upgrades on /lattice to it. */
async function serve(options: Omit<ServeLatticeOptions, 'token'> = {}): Promise<Served> {
  const lattice = createMemoryLattice();
  cleanup.push(() => lattice.close());
  const endpoint = await serveLattice(lattice, { token: TOKEN, ...options });
  cleanup.push(() => endpoint.close());
  const http: HttpServer = createHttpServer((_request, response) => response.writeHead(404).end());
  http.on('upgrade', (request, socket, head) => {
    if (request.url === '/lattice') endpoint.acceptWebSocket(request, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  );
  const { port } = http.address() as AddressInfo;
  return { lattice, endpoint, http, port, wsUrl: `ws://127.0.0.1:${port}/lattice` };
}

interface Frame {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** A client frame: masked, as RFC 6455 requires of clients (unless `masked` is false). */
function clientFrame(opcode: number, payload: Uint8Array, { fin = true, masked = true } = {}): Buffer {
  const length = payload.length;
  const lengthBytes =
    length < 126
      ? Buffer.of(length | (masked ? 0x80 : 0))
      : Buffer.concat([
          Buffer.of(126 | (masked ? 0x80 : 0)),
          Buffer.from(Uint16Array.of(length).buffer).reverse(),
        ]);
  const mask = masked ? randomBytes(4) : Buffer.alloc(0);
  const body = Buffer.from(payload);
  if (masked) for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([Buffer.of((fin ? 0x80 : 0) | opcode), lengthBytes, mask, body]);
}

/** A websocket client on a raw TCP socket, to send what no websocket library would. */
class RawWebSocket {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  /** The HTTP response head, then the frames after it. */
  head = '';
  readonly frames: Frame[] = [];
  #buffer = Buffer.alloc(0);

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Sends an upgrade request with `headers` on top of a valid handshake's. */
  static async open(port: number, headers: Record<string, string> = {}): Promise<RawWebSocket> {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      2000,
      'raw TCP connect',
    );
    const client = new RawWebSocket(socket);
    cleanup.push(() => socket.destroy());
    const all: Record<string, string> = {
      Host: `127.0.0.1:${port}`,
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
      ...headers,
    };
    const lines = Object.entries(all).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(`GET /lattice HTTP/1.1\r\n${lines.join('')}\r\n`);
    await waitFor(() => client.head.endsWith('\r\n\r\n'), 2000, 'the HTTP response');
    return client;
  }

  #receive(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    if (!this.head.endsWith('\r\n\r\n')) {
      const end = this.#buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.#buffer.subarray(0, end + 4).toString('latin1');
      this.#buffer = this.#buffer.subarray(end + 4);
      if (!this.head.startsWith('HTTP/1.1 101')) return;
    }
    for (;;) {
      const buffer = this.#buffer;
      if (buffer.length < 2) return;
      let length = (buffer[1] as number) & 0x7f;
      let at = 2;
      if (length === 126) {
        if (buffer.length < 4) return;
        length = buffer.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (buffer.length < 10) return;
        length = Number(buffer.readBigUInt64BE(2));
        at = 10;
      }
      if (buffer.length < at + length) return;
      this.frames.push({ opcode: (buffer[0] as number) & 0x0f, payload: buffer.subarray(at, at + length) });
      this.#buffer = buffer.subarray(at + length);
    }
  }

  /** The NATS protocol text the endpoint sent so far (the payloads of its binary frames). */
  get text(): string {
    return Buffer.concat(this.frames.filter((f) => f.opcode === 2).map((f) => f.payload)).toString('utf8');
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  sendText(protocol: string): void {
    this.send(clientFrame(2, encodeText(protocol)));
  }

  async until(what: string, ms = 2000): Promise<void> {
    await waitFor(() => this.text.includes(what), ms, `${JSON.stringify(what)} over the websocket`);
  }

  /** The close frame's code and reason, once the endpoint has sent one. */
  closeFrame(): { code: number; reason: string } | undefined {
    const frame = this.frames.find((f) => f.opcode === 8);
    if (frame === undefined) return undefined;
    return { code: frame.payload.readUInt16BE(0), reason: frame.payload.subarray(2).toString('utf8') };
  }
}

/** A raw websocket client subscribed to `flood` that stopped reading, once the endpoint dropped it. */
async function floodedClient(lattice: MemoryLattice, port: number): Promise<RawWebSocket> {
  const local = lattice.connect();
  const stuck = await RawWebSocket.open(port);
  await stuck.until('INFO ');
  stuck.sendText(
    `CONNECT ${JSON.stringify({ auth_token: TOKEN, verbose: false })}\r\nSUB flood 1\r\nPING\r\n`,
  );
  await stuck.until('PONG\r\n');
  stuck.socket.pause();
  assert.equal(lattice.subscriptionCount, 1);

  const chunk = new Uint8Array(32 * 1024);
  let sent = 0;
  // Kernel socket buffers take several MiB before the endpoint has to hold anything itself.
  while (lattice.subscriptionCount === 1 && sent < 256 * 1024 * 1024) {
    local.publish('flood', chunk);
    sent += chunk.length;
    await nextTurn();
  }
  assert.equal(lattice.subscriptionCount, 0, `stuck client dropped after ${sent} bytes`);
  return stuck;
}

describe('local lattice endpoint over websocket: clients', () => {
  it('serves nats.js wsconnect with the token: publish, subscribe and request/reply with the memory lattice', async () => {
    const { lattice, endpoint, wsUrl } = await serve();
    const nc = await wsconnect({ servers: wsUrl, token: TOKEN, reconnect: false });
    cleanup.push(() => nc.close());
    const local = lattice.connect();
    local.subscribe('greet', { callback: (msg) => msg.respond(encodeText(`hello ${msg.string()}`)) });

    const reply = await nc.request('greet', encodeText('browser'), { timeout: 2000 });
    assert.equal(new TextDecoder().decode(reply.data), 'hello browser');

    const inbox = local.subscribe('from.browser');
    nc.publish('from.browser', encodeText('up'));
    const [up] = await take<Msg>(inbox, 1, 2000, "the websocket client's publication");
    assert.equal(up?.string(), 'up');

    const events = nc.subscribe('to.browser', { max: 1 });
    await nc.flush();
    local.publish('to.browser', encodeText('down'));
    const [down] = await withDeadline(
      (async () => {
        const got: string[] = [];
        for await (const msg of events) got.push(new TextDecoder().decode(msg.data));
        return got;
      })(),
      2000,
      'a message to the websocket client',
    );
    assert.equal(down, 'down');
    assert.equal(endpoint.connectionCount, 1);
  });

  it('serves the Cirrus NATS adapter over websocket, and refuses a wrong token with LATTICE_AUTH_FAILED', async () => {
    const { lattice, wsUrl } = await serve();
    const remote = await connectNats({ servers: wsUrl, credentials: { type: 'token', token: TOKEN } });
    cleanup.push(() => remote.close());
    lattice.connect().subscribe('echo', { callback: (msg) => msg.respond(msg.data) });
    assert.equal((await remote.request('echo', encodeText('ws'))).string(), 'ws');
    await assert.rejects(
      connectNats({ servers: wsUrl, credentials: { type: 'token', token: 'wrong-token-0123456789' } }),
      (err) => codeOf(err) === 'LATTICE_AUTH_FAILED',
    );
  });

  it('drops a websocket client that stops reading once its backlog passes maxPendingBytes', async () => {
    const { lattice, port } = await serve({ maxPendingBytes: 256 * 1024 });
    const stuck = await floodedClient(lattice, port);
    stuck.socket.resume();
    await withDeadline(stuck.closed, 20_000, 'stuck client closed');
    assert.ok(stuck.text.endsWith("-ERR 'Slow Consumer'\r\n"), stuck.text.slice(-60));
    assert.equal(stuck.closeFrame()?.code, 1000);
  });

  it('cuts a slow consumer that never reads again off one ping interval after dropping it', async () => {
    const { lattice, http, port } = await serve({ maxPendingBytes: 256 * 1024, pingIntervalMs: 500 });
    await floodedClient(lattice, port);
    const dropped = performance.now();
    // The client reads nothing, so only the server's side can tell its socket is gone.
    const open = (): Promise<number> =>
      new Promise((resolve, reject) =>
        http.getConnections((err, count) => (err ? reject(err) : resolve(count))),
      );
    for (;;) {
      if ((await open()) === 0) break;
      assert.ok(performance.now() - dropped < 900, 'the socket of the client that never reads is still open');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
});

describe('local lattice endpoint over websocket: handshake and framing', () => {
  it('refuses an upgrade from a page of another origin with 403, and serves its own origin and clients without one', async () => {
    const { endpoint, port } = await serve();
    const foreign = await RawWebSocket.open(port, { Origin: 'https://evil.example' });
    assert.match(foreign.head, /^HTTP\/1\.1 403 Forbidden\r\n/);
    await withDeadline(foreign.closed, 2000, 'refused socket closed');
    for (const origin of ['null', `http://127.0.0.1:${port + 1}`, `ftp://127.0.0.1:${port}`]) {
      const refused = await RawWebSocket.open(port, { Origin: origin });
      assert.match(refused.head, /^HTTP\/1\.1 403 /, origin);
    }
    const own = await RawWebSocket.open(port, { Origin: `http://127.0.0.1:${port}` });
    assert.match(own.head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    await own.until('INFO ');
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const plain = await RawWebSocket.open(port, { 'Sec-WebSocket-Key': key });
    // The example of RFC 6455 section 1.3.
    assert.match(plain.head, /\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/);
    await waitFor(() => endpoint.connectionCount === 2, 2000, 'both websocket clients counted');
  });

  it('refuses a handshake of another websocket version with 426, and a malformed key with 400', async () => {
    const { port } = await serve();
    const old = await RawWebSocket.open(port, { 'Sec-WebSocket-Version': '8' });
    assert.match(old.head, /^HTTP\/1\.1 426 [^\r]*\r\n(.*\r\n)*Sec-WebSocket-Version: 13\r\n/);
    const keyless = await RawWebSocket.open(port, { 'Sec-WebSocket-Key': 'short' });
    assert.match(keyless.head, /^HTTP\/1\.1 400 /);
  });

  it('takes a frame of maxWebSocketFrameBytes, and closes the connection with 1009 saying why on a larger one', async () => {
    const limit = 64 * 1024;
    const { lattice, wsUrl } = await serve({ maxWebSocketFrameBytes: limit });
    const big = lattice.connect().subscribe('big');
    const socket = new WebSocket(wsUrl);
    cleanup.push(() => socket.close());
    socket.binaryType = 'arraybuffer';
    const closed = new Promise<CloseEvent>((resolve) =>
      socket.addEventListener('close', resolve, { once: true }),
    );
    await withDeadline(
      new Promise((resolve) => socket.addEventListener('message', resolve, { once: true })),
      2000,
      'INFO over the websocket',
    );
    // One frame of exactly the limit: CONNECT and a PUB whose payload fills the rest.
    const connect = `CONNECT ${JSON.stringify({ auth_token: TOKEN, verbose: false })}\r\n`;
    const size = limit - connect.length - 'PUB big 65472\r\n\r\n'.length;
    const frame = encodeText(`${connect}PUB big ${size}\r\n${'x'.repeat(size)}\r\n`);
    assert.equal(frame.length, limit);
    socket.send(frame);
    const [msg] = await take<Msg>(big, 1, 2000, 'the message of the frame at the limit');
    assert.equal(msg?.data.length, size);
    socket.send(new Uint8Array(limit + 1));
    const event = await withDeadline(closed, 2000, 'the close event');
    assert.equal(event.code, 1009);
    assert.equal(event.reason, `frame of ${limit + 1} bytes over the ${limit}-byte limit`);
  });

  it('reassembles fragments around a ping it answers, takes text frames, and closes on an unmasked frame with 1002', async () => {
    const { port } = await serve();
    const client = await RawWebSocket.open(port);
    await client.until('INFO ');
    const connect = encodeText(`CONNECT ${JSON.stringify({ auth_token: TOKEN })}\r\n`);
    client.send(clientFrame(2, connect.subarray(0, 5), { fin: false }));
    client.send(clientFrame(9, encodeText('are you there')));
    client.send(clientFrame(0, connect.subarray(5, 20), { fin: false }));
    client.send(
      Buffer.concat([clientFrame(0, connect.subarray(20)), clientFrame(1, encodeText('PING\r\n'))]),
    );
    await client.until('+OK\r\nPONG\r\n');
    const pong = client.frames.find((f) => f.opcode === 10);
    assert.equal(pong?.payload.toString('utf8'), 'are you there');
    client.send(clientFrame(2, encodeText('PING\r\n'), { masked: false }));
    await withDeadline(client.closed, 2000, 'the connection closed');
    assert.deepEqual(client.closeFrame(), { code: 1002, reason: 'client frame not masked' });
  });

  it('answers a close frame with the same code and ends the session', async () => {
    const { lattice, endpoint, port } = await serve();
    const client = await RawWebSocket.open(port);
    client.sendText(
      `CONNECT ${JSON.stringify({ auth_token: TOKEN, verbose: false })}\r\nSUB a 1\r\nPING\r\n`,
    );
    await client.until('PONG\r\n');
    assert.equal(lattice.subscriptionCount, 1);
    client.send(clientFrame(8, Buffer.of(0x03, 0xe8)));
    await waitFor(() => client.closeFrame() !== undefined, 2000, 'the close frame answered');
    assert.deepEqual(client.closeFrame(), { code: 1000, reason: '' });
    client.socket.end();
    await waitFor(() => endpoint.connectionCount === 0, 2000, 'the session ended');
    assert.equal(lattice.subscriptionCount, 0);
  });

  it('closes its websocket clients when the endpoint closes, and refuses upgrades after with 503', async () => {
    const { lattice, endpoint, port, wsUrl } = await serve();
    const nc = await wsconnect({ servers: wsUrl, token: TOKEN, reconnect: false });
    cleanup.push(() => nc.close());
    nc.subscribe('a.>');
    await nc.flush();
    const raw = await RawWebSocket.open(port);
    await raw.until('INFO ');
    assert.equal(endpoint.connectionCount, 2);
    const closed = nc.closed();
    await withDeadline(endpoint.close(), 2000, 'endpoint close');
    await withDeadline(closed, 2000, 'nats.js websocket connection closed');
    await withDeadline(raw.closed, 2000, 'raw websocket closed');
    assert.equal(raw.closeFrame()?.code, 1001);
    assert.equal(endpoint.connectionCount, 0);
    assert.equal(lattice.subscriptionCount, 0);
    const late = await RawWebSocket.open(port);
    assert.match(late.head, /^HTTP\/1\.1 503 /);
  });
});
