/**
 * The NATS adapter of the lattice port over an open nats.js connection (nats.js v3 + JetStream KV),
 * whatever its transport (TCP or websocket). It keeps the in-memory adapter's semantics and error
 * codes, so the same contract suite runs against both, and adds what a real network needs: it waits
 * out reconnects and reports connection trouble as typed errors and status events.
 */
import type { CirrusError, LatticeTraffic, Limits } from '@cirrus/protocol';
import {
  InvalidArgumentError,
  LatticeClosedError,
  PayloadTooLargeError,
  RequestTimeoutError,
} from '@cirrus/protocol';
import type {
  KvBucket,
  LatticeConnection,
  LatticeStatus,
  Msg,
  MsgHeaders,
  PublishOptions,
  RequestManyOptions,
  RequestOptions,
  SubscribeOptions,
  Subscription,
} from '@cirrus/lattice';
import { EMPTY } from '@cirrus/lattice';
import {
  assertBucketName,
  assertPublishSubject,
  AsyncQueue,
  ReplyableMsg,
  subscriptionTokens,
} from '@cirrus/lattice/adapter';
import type { JetStreamClient } from '@nats-io/jetstream';
import type {
  Msg as NatsMsg,
  MsgHdrs,
  NatsConnection,
  Subscription as NatsSubscription,
} from '@nats-io/nats-core';
import { createInbox, headers as natsHeaders } from '@nats-io/nats-core';
import { isPermissionViolation, permissionError, reasonOf, requestError } from './nats-errors.ts';
import { openNatsBucket } from './nats-kv.ts';

/** Connection events, in order; the host's log, a dashboard and tests consume the same stream. */
export type NatsStatus = LatticeStatus;

export interface NatsLatticeConnection extends LatticeConnection {
  /** `host:port` of the server currently in use. */
  readonly server: string;
  /** Whether the connection to a server is up right now (false while reconnecting). */
  readonly connected: boolean;
  /** Events from now on; the iteration ends when the connection closes. */
  status(): AsyncIterable<NatsStatus>;
}

/** What the connection needs besides the nats.js connection itself. */
export interface NatsLatticeSettings {
  readonly js: JetStreamClient;
  readonly limits: Limits;
  readonly jsDomain: string | undefined;
  /** Turns an error the connection reports later (a refused reconnect) into a typed one. */
  readonly explain: (err: Error) => CirrusError | Error;
}

/** The lattice port over `nc`, which must be connected. */
export function natsLattice(nc: NatsConnection, settings: NatsLatticeSettings): NatsLatticeConnection {
  return new NatsLattice(nc, settings);
}

// --- messages -------------------------------------------------------------------------------------

function toNatsHeaders(record: MsgHeaders | undefined): MsgHdrs | undefined {
  if (record === undefined) return undefined;
  const out = natsHeaders();
  for (const key in record) {
    try {
      // A fresh set of headers: append, without set's search for an earlier value to replace.
      out.append(key, record[key] as string);
    } catch (err) {
      throw new InvalidArgumentError(
        `header ${JSON.stringify(key)} cannot be sent over NATS: ${reasonOf(err)}`,
        {
          hint: 'header names are printable ASCII without spaces or colons',
          cause: err,
        },
      );
    }
  }
  return out;
}

/** NATS headers may repeat a name; the lattice carries one value per name: the first. */
function fromNatsHeaders(hdrs: MsgHdrs): MsgHeaders {
  const out: Record<string, string> = {};
  for (const [key, values] of hdrs) if (values.length > 0) out[key] = values[0] as string;
  return out;
}

class NatsLatticeMsg extends ReplyableMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply: string | undefined;
  readonly #raw: NatsMsg;
  #headers: MsgHeaders | undefined | null = null;

  constructor(conn: NatsLattice, raw: NatsMsg) {
    super(conn);
    this.#raw = raw;
    this.subject = raw.subject;
    this.data = raw.data;
    this.reply = raw.reply === undefined || raw.reply === '' ? undefined : raw.reply;
  }

  /** Converted on first use: most handlers never look at headers. */
  get headers(): MsgHeaders | undefined {
    if (this.#headers === null) {
      this.#headers = this.#raw.headers === undefined ? undefined : fromNatsHeaders(this.#raw.headers);
    }
    return this.#headers;
  }

  /** The server's "no responders" status, sent to a request's reply subject when nobody listens. */
  get isNoRespondersStatus(): boolean {
    const h = this.#raw.headers;
    return h !== undefined && h.hasError && h.code === 503;
  }
}

// --- subscriptions --------------------------------------------------------------------------------

class NatsLatticeSubscription implements Subscription {
  readonly subject: string;
  readonly queue: string | undefined;
  readonly closed: Promise<void>;
  readonly #sub: NatsSubscription;
  readonly #messages = new AsyncQueue<Msg>();
  readonly #drain: boolean;

  constructor(conn: NatsLattice, nc: NatsConnection, subject: string, options: SubscribeOptions) {
    this.subject = subject;
    this.queue = options.queue;
    const callback = options.callback;
    this.#drain =
      options.drainOnUnsubscribe === true && callback !== undefined && options.queue !== undefined;
    const natsOptions: Parameters<NatsConnection['subscribe']>[1] = {
      // nats.js iterators allow a single reader and hand out messages in batches; the lattice promises
      // any number of iterations over one queue (like the in-memory adapter), so messages always
      // arrive through a callback and are queued here.
      callback: (err, raw) => {
        if (err !== null) return; // the subscription ends; `closed` below reports it
        const msg = new NatsLatticeMsg(conn, raw);
        if (callback === undefined) {
          this.#messages.push(msg);
          return;
        }
        try {
          callback(msg);
        } catch (thrown) {
          // Thrown inside nats.js's parser it would break the connection; rethrown outside it
          // surfaces as an uncaught exception, exactly as with the in-memory adapter.
          queueMicrotask(() => {
            throw thrown;
          });
        }
      },
    };
    if (options.queue !== undefined) natsOptions.queue = options.queue;
    if (options.max !== undefined) natsOptions.max = options.max;
    this.#sub = nc.subscribe(subject, natsOptions);
    this.closed = this.#sub.closed.then((err) => {
      if (err instanceof Error && isPermissionViolation(err)) this.#messages.fail(permissionError(err));
      else this.#messages.end();
    });
  }

  unsubscribe(): void {
    this.#messages.end();
    if (this.#sub.isClosed()) return;
    // nats.js forgets an unsubscribed subscription at once and drops what still arrives for it; a
    // drain sends the UNSUB, keeps delivering until the server answers a flush, then closes.
    if (this.#drain) this.#sub.drain().catch(() => undefined);
    else this.#sub.unsubscribe();
  }

  [Symbol.asyncIterator](): AsyncIterator<Msg> {
    return this.#messages[Symbol.asyncIterator]();
  }
}

// --- the connection -------------------------------------------------------------------------------

class NatsLattice implements NatsLatticeConnection {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #limits: Limits;
  readonly #jsDomain: string | undefined;
  /** Turns an error the connection reports later (a refused reconnect) into a typed one. */
  readonly #explain: (err: Error) => CirrusError | Error;
  readonly #buckets = new Map<string, Promise<KvBucket>>();
  readonly #listeners = new Set<AsyncQueue<NatsStatus>>();
  #closed = false;
  #connected = true;
  /** Woken on every reconnect (and on close), for operations that wait out a disconnect. */
  #reconnected: { promise: Promise<void>; resolve: () => void } = NatsLattice.#signal();

  constructor(nc: NatsConnection, settings: NatsLatticeSettings) {
    this.#nc = nc;
    this.#js = settings.js;
    this.#limits = settings.limits;
    this.#jsDomain = settings.jsDomain;
    this.#explain = settings.explain;
    void this.#watchStatus();
    void nc.closed().then(() => this.#ended());
  }

  static #signal(): { promise: Promise<void>; resolve: () => void } {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  }

  async #watchStatus(): Promise<void> {
    /** When the current outage began (monotonic), and how many reconnect attempts it has seen. */
    let downSince = 0;
    let attempts = 0;
    const downMs = (): number => Math.round(performance.now() - downSince);
    for await (const s of this.#nc.status()) {
      let event: NatsStatus | undefined;
      switch (s.type) {
        case 'disconnect':
          this.#connected = false;
          downSince = performance.now();
          attempts = 0;
          event = { type: 'disconnected', server: s.server };
          break;
        case 'reconnecting':
          attempts++;
          event = { type: 'reconnecting', attempt: attempts, downMs: downMs() };
          break;
        case 'reconnect': {
          this.#connected = true;
          const woken = this.#reconnected;
          this.#reconnected = NatsLattice.#signal();
          woken.resolve();
          event = { type: 'reconnected', server: s.server, downMs: downMs(), attempts };
          break;
        }
        case 'staleConnection':
          // The client is about to drop this connection; nothing sent now would be answered.
          this.#connected = false;
          event = { type: 'stale', server: this.#nc.getServer() };
          break;
        case 'ldm':
          event = { type: 'lameDuck', server: s.server };
          break;
        case 'error':
          event = { type: 'error', error: this.#explain(s.error) };
          break;
        default:
          break;
      }
      if (event === undefined) continue;
      for (const listener of this.#listeners) {
        // A reader that stopped iterating ended its queue; forget it instead of buffering for nobody.
        if (listener.ended) this.#listeners.delete(listener);
        else listener.push(event);
      }
    }
  }

  #ended(): void {
    this.#closed = true;
    this.#connected = false;
    this.#reconnected.resolve();
    for (const listener of this.#listeners) listener.end();
    this.#listeners.clear();
  }

  get maxPayload(): number {
    return this.#nc.info?.max_payload ?? this.#limits.latticeMaxPayloadBytes;
  }

  get isClosed(): boolean {
    return this.#closed || this.#nc.isClosed();
  }

  get connected(): boolean {
    return this.#connected && !this.isClosed;
  }

  get server(): string {
    return this.#nc.getServer();
  }

  traffic(): LatticeTraffic {
    const stats = this.#nc.stats();
    return {
      messages_in: stats.inMsgs,
      messages_out: stats.outMsgs,
      bytes_in: stats.inBytes,
      bytes_out: stats.outBytes,
    };
  }

  status(): AsyncIterable<NatsStatus> {
    const queue = new AsyncQueue<NatsStatus>();
    if (this.isClosed) queue.end();
    else this.#listeners.add(queue);
    return queue;
  }

  #assertOpen(): void {
    if (this.isClosed) {
      throw new LatticeClosedError('the lattice connection is closed', {
        hint: 'create a new connection; a closed one cannot be reused',
      });
    }
  }

  #check(subject: string, data: Uint8Array): void {
    this.#assertOpen();
    assertPublishSubject(subject);
    if (data.byteLength > this.maxPayload) {
      throw new PayloadTooLargeError(
        `message of ${data.byteLength} bytes to ${subject} exceeds the ${this.maxPayload}-byte limit`,
        { hint: "split the payload or raise the NATS server's max_payload" },
      );
    }
  }

  publish(subject: string, data: Uint8Array = EMPTY, options: PublishOptions = {}): void {
    this.#check(subject, data);
    const headers = toNatsHeaders(options.headers);
    const natsOptions: { reply?: string; headers?: MsgHdrs } = {};
    if (options.reply !== undefined) natsOptions.reply = options.reply;
    if (headers !== undefined) natsOptions.headers = headers;
    // While disconnected nats.js buffers the message and sends it after the reconnect.
    this.#nc.publish(subject, data, natsOptions);
  }

  subscribe(subject: string, options: SubscribeOptions = {}): Subscription {
    this.#assertOpen();
    subscriptionTokens(subject);
    return new NatsLatticeSubscription(this, this.#nc, subject, options);
  }

  async request(subject: string, data: Uint8Array = EMPTY, options: RequestOptions = {}): Promise<Msg> {
    this.#check(subject, data);
    // nats.js refuses a zero timeout; the in-memory lattice times out at once, so use the smallest.
    const timeoutMs = Math.max(1, options.timeoutMs ?? this.#limits.latticeRequestTimeoutMs);
    const headers = toNatsHeaders(options.headers);
    try {
      const reply = await this.#nc.request(
        subject,
        data,
        headers === undefined ? { timeout: timeoutMs } : { timeout: timeoutMs, headers },
      );
      return new NatsLatticeMsg(this, reply);
    } catch (err) {
      throw requestError(err, subject, timeoutMs);
    }
  }

  async *requestMany(
    subject: string,
    data: Uint8Array | undefined,
    options: RequestManyOptions,
  ): AsyncIterable<Msg> {
    this.#assertOpen();
    const inbox = this.newInbox();
    // The inbox subscription goes to the server before the request on the same connection, so no
    // reply can arrive before the server knows where to send it.
    const sub = this.subscribe(inbox, options.maxMessages === undefined ? {} : { max: options.maxMessages });
    const timer = setTimeout(() => sub.unsubscribe(), options.maxWaitMs);
    try {
      const sendOptions: PublishOptions = { reply: inbox };
      if (options.headers !== undefined) sendOptions.headers = options.headers;
      this.publish(subject, data ?? EMPTY, sendOptions);
      for await (const msg of sub) {
        // Nobody listens: no reply will come, so there is nothing to wait for.
        if (msg instanceof NatsLatticeMsg && msg.isNoRespondersStatus) break;
        yield msg;
      }
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }

  /**
   * A round trip to the server: once it returns, every earlier subscribe and publish has been seen
   * by the server. A disconnect in between is waited out (nats.js re-sends subscriptions on reconnect
   * before anything else), within the request deadline.
   */
  async flush(): Promise<void> {
    const timeoutMs = this.#limits.latticeRequestTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      for (;;) {
        this.#assertOpen();
        if (this.#connected) {
          const flushed = this.#nc.flush().then(
            () => 'ok' as const,
            () => 'lost' as const,
          );
          const outcome = await Promise.race([flushed, deadline]);
          if (outcome === 'ok') return;
          if (outcome === 'timeout') break;
        }
        // Disconnected, or the connection dropped under the flush: try again once it is back.
        if ((await Promise.race([this.#reconnected.promise, deadline])) === 'timeout') break;
      }
    } finally {
      clearTimeout(timer);
    }
    this.#assertOpen();
    throw new RequestTimeoutError(`flush to the NATS server timed out after ${timeoutMs} ms`, {
      hint: 'the NATS server is unreachable; the connection keeps reconnecting in the background',
    });
  }

  async kv(bucket: string): Promise<KvBucket> {
    this.#assertOpen();
    assertBucketName(bucket);
    let opening = this.#buckets.get(bucket);
    if (opening === undefined) {
      opening = openNatsBucket(this.#js, bucket, {
        maxValueBytes: this.#limits.kvMaxValueBytes,
        maxPayload: () => this.maxPayload,
        timeoutMs: this.#limits.natsKvTimeoutMs,
        jsDomain: this.#jsDomain,
        retryWaitMs: this.#limits.natsReconnectWaitMs,
        isClosed: () => this.isClosed,
      });
      this.#buckets.set(bucket, opening);
      // A failed open (server down, JetStream off) must not be remembered: the next call tries again.
      void opening.catch(() => this.#buckets.delete(bucket));
    }
    return opening;
  }

  newInbox(): string {
    return createInbox();
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.#closed = true;
    // Messages published just before close (a host's last events) are still in the client's buffer;
    // a bounded flush sends them before the socket goes.
    if (this.#connected) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#nc.flush().catch(() => {}),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#limits.latticeRequestTimeoutMs))),
      ]);
      clearTimeout(timer);
    }
    await this.#nc.close();
    this.#ended();
  }
}
