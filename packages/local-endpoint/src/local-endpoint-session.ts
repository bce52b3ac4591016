/**
 * One NATS client of the local endpoint: it parses what the client sends, bridges it to its own
 * connection to the memory lattice, and writes deliveries back. Behaviour follows nats-server where
 * a client can tell the difference: which violations close the connection, the `-ERR` texts, verbose
 * `+OK`s, auto-unsubscribe, no-responders and keep-alive pings.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { InvalidSubjectError, LatticeClosedError } from '@cirrus/protocol';
import type { LatticeConnection, MemoryLattice, Msg, PublishOptions, Subscription } from '@cirrus/lattice';
import { subjectMatches } from '@cirrus/lattice';
import { assertPublishSubject } from '@cirrus/lattice/adapter';
import { ClientProtocolParser, ProtocolViolation, WIRE } from './local-endpoint-parser.ts';
import type { ClientOp } from './local-endpoint-parser.ts';
import {
  CRLF,
  errLine,
  headerBlock,
  infoLine,
  msgLine,
  OK,
  parseHeaderBlock,
  PING,
  PONG,
} from './local-endpoint-wire.ts';

export interface SessionLimits {
  readonly maxPayload: number;
  readonly maxControlLine: number;
  readonly maxSubscriptions: number;
  readonly maxPendingBytes: number;
  readonly pingIntervalMs: number;
  readonly maxPingsOut: number;
  readonly authTimeoutMs: number;
}

export interface SessionContext {
  readonly lattice: MemoryLattice;
  /** SHA-256 of the token; comparing fixed-size digests keeps the comparison constant-time. */
  readonly tokenDigest: Buffer;
  readonly limits: SessionLimits;
  readonly info: Readonly<Record<string, unknown>>;
  /**
   * Asked when the client first presents the right token; false refuses it with `maximum connections
   * exceeded` (the endpoint counts authenticated clients apart from those still authenticating).
   */
  readonly admit: (session: ClientSession) => boolean;
  /** Called once the socket is gone, whatever the reason. */
  readonly onClosed: (session: ClientSession) => void;
  /** Failures that are not the client's fault (bugs); the client is dropped. */
  readonly onError: (err: unknown) => void;
}

interface SubRecord {
  readonly sid: string;
  readonly subject: string;
  readonly queue: string | undefined;
  subscription: Subscription | undefined;
  delivered: number;
  max: number | undefined;
  active: boolean;
}

export const WIRE_SESSION = {
  badProtocol: 'invalid client protocol',
  noRespondersNeedsHeaders: 'no responders requires headers support',
  authTimeout: 'Authentication Timeout',
  tooManyConnections: 'maximum connections exceeded',
  stale: 'Stale Connection',
  slowConsumer: 'Slow Consumer',
  tooManySubs: 'maximum subscriptions exceeded',
  invalidSubject: 'Invalid Subject',
  invalidPublishSubject: 'Invalid Publish Subject',
} as const;

/** A reply subject goes verbatim into a MSG line, so in-process publishers' replies must be one token. */
const BLANK = /\s/;

export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

interface ConnectOptions {
  verbose: boolean;
  headers: boolean;
  noResponders: boolean;
  echo: boolean;
}

function flag(options: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const value = options[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean')
    throw new ProtocolViolation(WIRE.parser, `CONNECT ${name} is not a boolean`);
  return value;
}

export class ClientSession {
  /** A TCP socket, or a websocket connection as a stream. */
  readonly #socket: Duplex;
  readonly #context: SessionContext;
  readonly #parser: ClientProtocolParser;
  readonly #subs = new Map<string, SubRecord>();
  /** Parsed but not yet handled: ops, and a violation found after them that ends the connection. */
  #pending: (ClientOp | ProtocolViolation)[] = [];
  #next = 0;
  /** True while ops are being handled, including while waiting for a publication's deliveries. */
  #running = false;
  #conn: LatticeConnection | undefined;
  #options: ConnectOptions = { verbose: true, headers: false, noResponders: false, echo: true };
  #out: Uint8Array[] = [];
  #outBytes = 0;
  #flushScheduled = false;
  #lastIn = Date.now();
  #pingsOut = 0;
  #authTimer: ReturnType<typeof setTimeout> | undefined;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** No more output is queued: the connection is being closed. */
  #closing = false;
  #closed = false;

  constructor(socket: Duplex, context: SessionContext) {
    this.#socket = socket;
    this.#context = context;
    const { limits } = context;
    this.#parser = new ClientProtocolParser(
      { maxControlLine: limits.maxControlLine, maxPayload: limits.maxPayload },
      (op) => this.#pending.push(op),
    );
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // Resets and broken pipes are how clients usually go away; 'close' follows and cleans up.
    socket.on('error', () => {});
    socket.on('close', () => this.#teardown());
    this.#authTimer = setTimeout(() => this.closeWithError(WIRE_SESSION.authTimeout), limits.authTimeoutMs);
    this.#authTimer.unref();
    this.#write(infoLine(context.info));
  }

  /** Sends `-ERR` (when the socket still takes data) and closes, as nats-server does on a violation. */
  closeWithError(message: string): void {
    if (this.#closing) return;
    this.#flush();
    this.#write(errLine(message));
    this.#close();
  }

  /** Drops the client at once (endpoint shutdown). */
  destroy(): void {
    this.#closing = true;
    this.#socket.destroy();
    this.#teardown();
  }

  #onData(chunk: Buffer): void {
    if (this.#closing) return;
    this.#lastIn = Date.now();
    try {
      this.#parser.push(chunk);
    } catch (err) {
      if (!(err instanceof ProtocolViolation)) {
        this.#fail(err);
        return;
      }
      // Handled after the ops before it, as nats-server does when it meets the violation.
      this.#pending.push(err);
    }
    this.#run();
  }

  /**
   * Handles parsed ops in order. The memory lattice hands messages to subscribers in microtasks, so
   * after a PUB the rest waits for one microtask turn: the deliveries it caused (to this client's own
   * subscriptions too) come first. Output is then the same however TCP split the input, and a PONG
   * or an UNSUB follows every delivery of the PUBs before it, as with nats-server.
   */
  #run(): void {
    if (this.#running) return;
    this.#running = true;
    while (this.#next < this.#pending.length && !this.#closing) {
      const item = this.#pending[this.#next++] as ClientOp | ProtocolViolation;
      if (item instanceof ProtocolViolation) {
        this.closeWithError(item.wire);
        break;
      }
      try {
        this.#handle(item);
      } catch (err) {
        if (err instanceof ProtocolViolation) this.closeWithError(err.wire);
        else this.#fail(err);
        break;
      }
      if (item.kind === 'PUB') {
        queueMicrotask(() => {
          this.#running = false;
          this.#run();
        });
        return;
      }
    }
    this.#pending = [];
    this.#next = 0;
    this.#running = false;
  }

  #fail(err: unknown): void {
    // A lattice closed under the endpoint means shutdown; anything else is a bug worth reporting.
    if (!(err instanceof LatticeClosedError)) this.#context.onError(err);
    this.destroy();
  }

  #handle(op: ClientOp): void {
    switch (op.kind) {
      case 'CONNECT':
        this.#connect(op.json);
        return;
      case 'PING':
        this.#send(PONG);
        return;
      case 'PONG':
        this.#pingsOut = 0;
        return;
      case 'PUB':
        this.#publish(op.subject, op.reply, op.headers, op.payload);
        return;
      case 'SUB':
        this.#subscribe(op.sid, op.subject, op.queue);
        return;
      case 'UNSUB':
        this.#unsubscribe(op.sid, op.max);
        return;
    }
  }

  #connect(json: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new ProtocolViolation(WIRE.parser, 'CONNECT argument is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ProtocolViolation(WIRE.parser, 'CONNECT argument is not a JSON object');
    }
    const fields = parsed as Record<string, unknown>;
    const token = typeof fields['auth_token'] === 'string' ? fields['auth_token'] : '';
    if (!timingSafeEqual(tokenDigest(token), this.#context.tokenDigest)) {
      throw new ProtocolViolation(WIRE.auth, 'wrong or missing auth_token');
    }
    const protocol = fields['protocol'] ?? 0;
    if (protocol !== 0 && protocol !== 1) throw new ProtocolViolation(WIRE_SESSION.badProtocol);
    // nats-server's defaults for fields a client leaves out: verbose, pedantic and echo on.
    const options: ConnectOptions = {
      verbose: flag(fields, 'verbose', true),
      headers: flag(fields, 'headers', false),
      noResponders: flag(fields, 'no_responders', false),
      echo: flag(fields, 'echo', true),
    };
    // The lattice checks subjects for every publisher anyway; only the flag's type is checked, as
    // nats-server's JSON decoding would.
    flag(fields, 'pedantic', true);
    if (options.noResponders && !options.headers) {
      throw new ProtocolViolation(WIRE_SESSION.noRespondersNeedsHeaders);
    }
    if (this.#conn === undefined) {
      if (!this.#context.admit(this)) throw new ProtocolViolation(WIRE_SESSION.tooManyConnections);
      // No responders is answered here, to the client's own request inbox, as nats-server does.
      this.#conn = this.#context.lattice.connect({ echo: options.echo, noResponders: false });
      clearTimeout(this.#authTimer);
      this.#pingTimer = setInterval(() => this.#pingTick(), this.#context.limits.pingIntervalMs);
      this.#pingTimer.unref();
    } else {
      // A repeated CONNECT (allowed by nats-server) cannot change echo: the lattice connection keeps it.
      options.echo = this.#options.echo;
    }
    this.#options = options;
    if (options.verbose) this.#send(OK);
  }

  #publish(
    subject: string,
    reply: string | undefined,
    rawHeaders: Uint8Array | undefined,
    payload: Uint8Array,
  ): void {
    const conn = this.#conn as LatticeConnection;
    const headers = rawHeaders === undefined ? undefined : parseHeaderBlock(rawHeaders);
    try {
      // Always pedantic: the lattice refuses wildcards and malformed subjects for every publisher.
      assertPublishSubject(subject);
      if (reply !== undefined) assertPublishSubject(reply);
    } catch (err) {
      if (!(err instanceof InvalidSubjectError)) throw err;
      this.#send(errLine(WIRE_SESSION.invalidPublishSubject));
      return;
    }
    // Asked before publishing: a subscription with a max may be gone once the message reached it.
    const nobody =
      reply !== undefined &&
      this.#options.noResponders &&
      !this.#context.lattice.hasInterest(subject, this.#options.echo ? undefined : conn);
    const options: PublishOptions = {};
    if (reply !== undefined) options.reply = reply;
    if (headers !== undefined) options.headers = headers;
    conn.publish(subject, payload, options);
    if (this.#options.verbose) this.#send(OK);
    if (nobody) this.#noResponders(reply, subject);
  }

  /**
   * Tells a requester at once that nobody listens, as nats-server does: a 503 status message on the
   * reply subject, only to this client's own plain subscription for it (nats.js's request inbox).
   */
  #noResponders(reply: string, subject: string): void {
    for (const record of this.#subs.values()) {
      if (record.queue === undefined && record.active && subjectMatches(record.subject, reply)) {
        const block = headerBlock({ 'Nats-Subject': subject }, '503');
        this.#deliver(record, reply, undefined, block, new Uint8Array(0));
        return;
      }
    }
  }

  #subscribe(sid: string, subject: string, queue: string | undefined): void {
    const conn = this.#conn as LatticeConnection;
    // nats-server treats a SUB with a sid already in use as a repeat of the first.
    if (!this.#subs.has(sid)) {
      if (this.#subs.size >= this.#context.limits.maxSubscriptions) {
        this.#send(errLine(WIRE_SESSION.tooManySubs));
        return;
      }
      const record: SubRecord = {
        sid,
        subject,
        queue,
        subscription: undefined,
        delivered: 0,
        max: undefined,
        active: true,
      };
      const callback = (msg: Msg): void => {
        // Encoded only for a client that takes headers; the others get the payload alone.
        const block =
          msg.headers === undefined || !this.#options.headers ? undefined : headerBlock(msg.headers);
        this.#deliver(record, msg.subject, msg.reply, block, msg.data);
      };
      try {
        record.subscription = conn.subscribe(
          subject,
          queue === undefined ? { callback } : { queue, callback },
        );
      } catch (err) {
        if (!(err instanceof InvalidSubjectError)) throw err;
        this.#send(errLine(WIRE_SESSION.invalidSubject));
        return;
      }
      this.#subs.set(sid, record);
    }
    if (this.#options.verbose) this.#send(OK);
  }

  #unsubscribe(sid: string, max: number | undefined): void {
    const record = this.#subs.get(sid);
    if (record !== undefined) {
      // Like nats-server: a max the subscription has already reached ends it now.
      if (max !== undefined && max > record.delivered) record.max = max;
      else this.#removeSub(record);
    }
    if (this.#options.verbose) this.#send(OK);
  }

  #removeSub(record: SubRecord): void {
    record.active = false;
    record.subscription?.unsubscribe();
    this.#subs.delete(record.sid);
  }

  #deliver(
    record: SubRecord,
    subject: string,
    reply: string | undefined,
    block: Uint8Array | undefined,
    data: Uint8Array,
  ): void {
    // Deliveries already queued by the lattice may arrive after an UNSUB or a reached max.
    if (!record.active || this.#closing) return;
    record.delivered++;
    const safeReply = reply === undefined || reply.length === 0 || BLANK.test(reply) ? undefined : reply;
    // A client that did not ask for headers gets the payload only, as from nats-server.
    const headers = this.#options.headers ? block : undefined;
    this.#send(msgLine(subject, record.sid, safeReply, headers?.length, data.length));
    if (headers !== undefined) this.#send(headers);
    if (data.length > 0) this.#send(data);
    this.#send(CRLF);
    if (record.max !== undefined && record.delivered >= record.max) this.#removeSub(record);
  }

  #pingTick(): void {
    if (this.#closing) return;
    // Like nats-server: a client that sent something within the interval is alive; no PING needed.
    if (Date.now() - this.#lastIn < this.#context.limits.pingIntervalMs) return;
    if (this.#pingsOut + 1 > this.#context.limits.maxPingsOut) {
      this.closeWithError(WIRE_SESSION.stale);
      return;
    }
    this.#pingsOut++;
    this.#send(PING);
  }

  /** Queues output; written in one batch per turn of the event loop's microtask queue. */
  #send(bytes: Uint8Array): void {
    if (this.#closing) return;
    this.#out.push(bytes);
    this.#outBytes += bytes.length;
    if (this.#socket.writableLength + this.#outBytes > this.#context.limits.maxPendingBytes) {
      this.#slowConsumer();
      return;
    }
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#out.length === 0 || this.#socket.destroyed) return;
    const chunks = this.#out;
    this.#out = [];
    this.#outBytes = 0;
    this.#socket.cork();
    for (const chunk of chunks) this.#socket.write(chunk);
    this.#socket.uncork();
  }

  /**
   * The client takes data slower than it arrives: stop feeding it and drop it, so one stuck client
   * cannot make the host buffer without bound. What is queued but unsent is discarded.
   */
  #slowConsumer(): void {
    this.#out = [];
    this.#outBytes = 0;
    this.#write(errLine(WIRE_SESSION.slowConsumer));
    this.#close();
  }

  #write(bytes: Uint8Array): void {
    if (!this.#socket.destroyed && this.#socket.writable) this.#socket.write(bytes);
  }

  #close(): void {
    this.#closing = true;
    this.#parser.stop();
    this.#releaseLattice();
    this.#socket.end();
    // A client that does not read never lets end() finish; one more ping interval is what a live
    // client would get to answer a PING, so after that the socket is destroyed.
    this.#graceTimer = setTimeout(() => this.#socket.destroy(), this.#context.limits.pingIntervalMs);
    this.#graceTimer.unref();
  }

  #releaseLattice(): void {
    clearTimeout(this.#authTimer);
    clearInterval(this.#pingTimer);
    for (const record of this.#subs.values()) record.active = false;
    this.#subs.clear();
    const conn = this.#conn;
    if (conn !== undefined && !conn.isClosed) {
      conn.close().catch((err: unknown) => this.#context.onError(err));
    }
  }

  #teardown(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing = true;
    this.#parser.stop();
    clearTimeout(this.#graceTimer);
    this.#releaseLattice();
    this.#context.onClosed(this);
  }
}
