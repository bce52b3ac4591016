/**
 * Websocket clients of the local endpoint (a browser's nats.js `wsconnect`): the RFC 6455 handshake of
 * an upgrade request taken over from an HTTP server, and the connection as a byte stream (a Duplex),
 * so that the NATS session runs over it exactly as over a TCP socket. The NATS protocol bytes travel
 * in binary frames out; in, the payload of any data frame is taken (nats.js sends binary frames).
 */
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import { Duplex } from 'node:stream';
import {
  binaryFrameHeader,
  CLOSE,
  closeFrame,
  FrameParser,
  pongFrame,
  WebSocketViolation,
} from './websocket-frames.ts';

/** Appended to the client's key to prove the server speaks websocket (RFC 6455 section 1.3). */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Base64 of 16 bytes. */
const CLIENT_KEY = /^[A-Za-z0-9+/]{22}==$/;

export type UpgradeCheck =
  | { readonly ok: true; readonly accept: string }
  | {
      readonly ok: false;
      readonly status: number;
      readonly message: string;
      readonly headers?: Readonly<Record<string, string>>;
    };

/**
 * Whether `origin` names the server the request came to. The Host header has no scheme: it is read
 * with the Origin's, so both drop the same default port. The schemes themselves are not compared: a
 * proxy that ends TLS in front of the server makes them differ for the server's own pages.
 */
function isSameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const from = new URL(origin);
    if (from.protocol !== 'http:' && from.protocol !== 'https:') return false;
    return from.host === new URL(`${from.protocol}//${host}`).host;
  } catch {
    return false;
  }
}

/**
 * Checks an upgrade request: a websocket version 13 handshake, and no page of another site behind it.
 * A browser sends the Origin of the page that opened the socket and lets any site open one, so
 * without this check any page the user visits could reach the endpoint with the user's network
 * position (cross-site websocket hijacking); other clients send no Origin.
 */
export function checkUpgrade(method: string | undefined, headers: IncomingHttpHeaders): UpgradeCheck {
  const refuse = (status: number, message: string): UpgradeCheck => ({ ok: false, status, message });
  if (method !== 'GET') return refuse(405, 'a websocket upgrade is a GET request');
  const connection = (headers.connection ?? '').toLowerCase().split(',');
  if (headers.upgrade?.toLowerCase() !== 'websocket' || !connection.some((t) => t.trim() === 'upgrade')) {
    return refuse(400, 'not a websocket upgrade request (Connection: Upgrade, Upgrade: websocket)');
  }
  if (headers['sec-websocket-version'] !== '13') {
    return {
      ok: false,
      status: 426,
      message: 'only websocket version 13 is served',
      headers: { 'Sec-WebSocket-Version': '13' },
    };
  }
  const key = headers['sec-websocket-key'];
  if (key === undefined || !CLIENT_KEY.test(key))
    return refuse(400, 'missing or malformed Sec-WebSocket-Key');
  const origin = headers.origin;
  if (origin !== undefined && !isSameOrigin(origin, headers.host)) {
    return refuse(
      403,
      `cross-origin websocket refused: the page at ${origin} is not served by ${headers.host ?? 'this server'}`,
    );
  }
  return {
    ok: true,
    accept: createHash('sha1')
      .update(key + HANDSHAKE_GUID)
      .digest('base64'),
  };
}

/** Answers a refused upgrade with a plain-text HTTP response and closes the socket. */
export function refuseUpgrade(
  socket: Duplex,
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  const body = new TextEncoder().encode(`${message}\n`);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${body.length}`,
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
  ];
  socket.on('error', () => {});
  // HTTP servers keep sockets half-open after the client's end; once the answer is out, close.
  socket.once('finish', () => socket.destroy());
  socket.write(`${head.join('\r\n')}\r\n\r\n`);
  socket.end(body);
}

/** The handshake's answer that turns the connection into a websocket. */
export function acceptUpgrade(socket: Duplex, accept: string): void {
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
}

export interface WebSocketStreamOptions {
  /** Largest frame a client may send; a larger one closes the connection with 1009. */
  readonly maxFrameBytes: number;
  /** How long a closing connection waits for the client's side of the close before it is cut. */
  readonly closeGraceMs: number;
}

/**
 * A websocket connection as a byte stream: what is written goes out in binary frames (one per write,
 * or per batch of corked writes), and the payload of the client's data frames comes out as data.
 * Its `writableLength` counts every byte not yet handed to the operating system, the frame in flight
 * included, so the session's pending-bytes cap sees the websocket's backlog as it sees a socket's.
 */
export class WebSocketStream extends Duplex {
  readonly #socket: Duplex;
  readonly #frames: FrameParser;
  readonly #closeGraceMs: number;
  #closeSent = false;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;

  /** `head`: bytes the HTTP server read past the upgrade request, the first of the websocket. */
  constructor(socket: Duplex, head: Uint8Array, options: WebSocketStreamOptions) {
    super();
    this.#socket = socket;
    this.#closeGraceMs = options.closeGraceMs;
    this.#frames = new FrameParser(options.maxFrameBytes, {
      data: (bytes) => this.push(bytes),
      ping: (payload) => {
        if (!this.#closeSent && socket.writable) socket.write(pongFrame(payload));
      },
      close: (code) => {
        // Echo the client's code, as RFC 6455 asks, then wait for it to close the TCP connection.
        this.#sendClose(code ?? CLOSE.normal, '');
        this.#endSocket();
        this.push(null);
      },
    });
    socket.on('data', (chunk: Uint8Array) => this.#receive(chunk));
    // A client gone without a close frame: nothing more can be said to it.
    socket.on('end', () => this.#endSocket());
    // Resets are how clients often go away; 'close' follows and ends this stream.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(this.#graceTimer);
      this.destroy();
    });
    if (head.length > 0) this.#receive(head);
  }

  #receive(chunk: Uint8Array): void {
    try {
      this.#frames.push(chunk);
    } catch (err) {
      if (!(err instanceof WebSocketViolation)) throw err;
      this.#frames.stop();
      this.#sendClose(err.code, err.message);
      this.destroy();
    }
  }

  override _read(): void {
    // Data is pushed as frames arrive; the session reads everything at once, as from a socket.
  }

  override _write(
    chunk: Uint8Array,
    _encoding: BufferEncoding,
    callback: (err?: Error | null) => void,
  ): void {
    this.#sendData([chunk], callback);
  }

  override _writev(chunks: { chunk: Uint8Array }[], callback: (err?: Error | null) => void): void {
    this.#sendData(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  /** One binary frame for all of `chunks`, written without copying them. */
  #sendData(chunks: Uint8Array[], callback: (err?: Error | null) => void): void {
    const socket = this.#socket;
    if (this.#closeSent || !socket.writable) {
      callback();
      return;
    }
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    socket.cork();
    // Callbacks of writes to one socket run in order: the last one's says all of them are out.
    socket.write(binaryFrameHeader(length), chunks.length === 0 ? callback : undefined);
    for (let i = 0; i < chunks.length; i++) {
      socket.write(chunks[i], i === chunks.length - 1 ? callback : undefined);
    }
    socket.uncork();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.#sendClose(CLOSE.normal, '');
    this.#endSocket();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#frames.stop();
    if (this.writableEnded && !this.writableFinished) {
      // Ended by the session, which then waited its grace period for a client that does not read:
      // a close frame would wait behind the output it never took.
      this.#socket.destroy();
    } else {
      const code = err === null ? CLOSE.goingAway : CLOSE.internalError;
      this.#sendClose(code, err === null ? 'closing' : 'server error');
      this.#endSocket();
    }
    callback(err);
  }

  #sendClose(code: number, reason: string): void {
    if (this.#closeSent || !this.#socket.writable) return;
    this.#closeSent = true;
    this.#socket.write(closeFrame(code, reason));
  }

  /** Ends the TCP connection; a client that does not answer within the grace period is cut off. */
  #endSocket(): void {
    const socket = this.#socket;
    if (socket.destroyed || this.#graceTimer !== undefined) return;
    socket.end();
    this.#graceTimer = setTimeout(() => socket.destroy(), this.#closeGraceMs);
    this.#graceTimer.unref();
  }
}
