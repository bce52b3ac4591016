/**
 * The NATS adapter of the lattice port (nats.js v3 + JetStream KV), for lattices that span machines.
 * It keeps the in-memory adapter's semantics and error codes, so the same contract suite runs against
 * both, and adds what a real network needs: it reconnects forever, pings often enough to notice a dead
 * server, and reports connection trouble as typed errors and status events.
 */
import { connect as tcpConnect } from 'node:net';
import type { CirrusError, LatticeTraffic, Limits } from '@cirrus/protocol';
import {
  InvalidArgumentError,
  LatticeClosedError,
  LatticeConnectFailedError,
  LatticeConnectRefusedError,
  PayloadTooLargeError,
  RequestTimeoutError,
  resolveLimits,
} from '@cirrus/protocol';
import type { JetStreamClient } from '@nats-io/jetstream';
import { jetstream } from '@nats-io/jetstream';
import type {
  Msg as NatsMsg,
  MsgHdrs,
  NatsConnection,
  NatsConnectionImpl,
  NodeConnectionOptions,
  Subscription as NatsSubscription,
} from '@nats-io/transport-node';
import { connect, createInbox, headers as natsHeaders } from '@nats-io/transport-node';
import { AsyncQueue } from './async-queue.ts';
import { ReplyableMsg } from './message.ts';
import { EMPTY } from './codec.ts';
import { prepareCredentials } from './nats-auth.ts';
import type { NatsCredentials, PreparedCredentials } from './nats-auth.ts';
import {
  authError,
  isAuthFailure,
  isCutOff,
  isPermissionViolation,
  isTimeout,
  permissionError,
  reasonOf,
  requestError,
  serverRefusal,
} from './nats-errors.ts';
import { natsTlsOptions, probeTls, tlsError } from './nats-tls.ts';
import type { NatsTlsOptions } from './nats-tls.ts';
import { openNatsBucket } from './nats-kv.ts';
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
} from './port.ts';
import { assertBucketName, assertPublishSubject, subscriptionTokens } from './subject.ts';

export type { NatsCredentials } from './nats-auth.ts';
export type { NatsTlsOptions } from './nats-tls.ts';

export interface NatsConnectOptions {
  /** One server URL or several of one cluster, e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[];
  /** Client name the server shows in its monitoring (e.g. the host id). */
  readonly name?: string;
  readonly credentials?: NatsCredentials;
  readonly tls?: NatsTlsOptions;
  /**
   * What the connection is for, named first in its errors when a process holds several (e.g.
   * `control connection`).
   */
  readonly label?: string;
  /**
   * JetStream domain of the key-value buckets (wasmCloud's `--js-domain`): JetStream requests go to
   * `$JS.<domain>.API`, so a client of a leaf node server without JetStream reaches the hub's. Default:
   * the JetStream of the server the client is connected to.
   */
  readonly jsDomain?: string;
  /** Overrides of the limits table (validated); the NATS timings and the request/KV limits apply here. */
  readonly limits?: Partial<Limits>;
}

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

function serverList(servers: string | readonly string[]): string[] {
  const list = (typeof servers === 'string' ? servers.split(',') : [...servers])
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (list.length === 0) {
    throw new InvalidArgumentError('no NATS server given', {
      hint: 'pass a URL such as nats://127.0.0.1:4222',
    });
  }
  return list;
}

/** A domain is one subject token: its API is `$JS.<domain>.API.>`, as nats-server checks it. */
const JS_DOMAIN = /^[^\s.*>]+$/;

function checkJsDomain(domain: string | undefined, prefix: string): void {
  if (domain === undefined || JS_DOMAIN.test(domain)) return;
  throw new InvalidArgumentError(`${prefix}JetStream domain ${JSON.stringify(domain)} is not valid`, {
    hint: "name the domain as the hub's configuration does (jetstream { domain: hub }): one word, without dots, wildcards (* >) or spaces",
  });
}

/** What to do about a refusal, by the server's words (nats-server's and the local endpoint's texts). */
function refusalHint(refusal: string): string {
  if (/maximum connections/i.test(refusal)) {
    return 'the server already serves as many clients as it allows: close some, or raise its max_connections (for `cirrus up`: CIRRUS_LIMIT_LOCAL_ENDPOINT_MAX_CONNECTIONS)';
  }
  if (/authentication timeout/i.test(refusal)) {
    return "the server did not get this client's CONNECT in time: the machine is overloaded, or many connections without credentials are being opened to it; retry";
  }
  return "the server's log says why it refused this client";
}

/** After the server's INFO, how long a refusal (`-ERR`) may take to follow it in the same burst. */
const REFUSAL_GRACE_MS = 250;
/** More than any INFO line; a server that sends this much without a refusal is not refusing. */
const PROBE_MAX_BYTES = 64 * 1024;
const REFUSAL = /^INFO [^\r\n]*\r\n-ERR '([^'\r\n]*)'\r\n/;
const REFUSAL_PROBES = 3;

/**
 * Reads what the server says to a client that sends nothing. nats-server refuses a client beyond its
 * connection limit with `-ERR` right after INFO and closes at once, so the client library, already
 * writing its CONNECT, sees only a broken pipe or a reset; this second look recovers the words.
 */
async function probeRefusal(server: string, timeoutMs: number): Promise<string | undefined> {
  // The server may reset the connection as it closes it, and the reset can overtake its words; a
  // few more looks make that unlikely, and a server that is not refusing answers each without -ERR.
  for (let attempt = 1; attempt <= REFUSAL_PROBES; attempt++) {
    const outcome = await probeOnce(server, timeoutMs);
    if (outcome.kind !== 'reset') return outcome.refusal;
  }
  return undefined;
}

/** One look: the server's refusal (or none), or a connection cut off before the server was heard. */
type ProbeOutcome = { kind: 'heard'; refusal: string | undefined } | { kind: 'reset' };

async function probeOnce(server: string, timeoutMs: number): Promise<ProbeOutcome> {
  const heard = (refusal: string | undefined): ProbeOutcome => ({ kind: 'heard', refusal });
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(server) ? server : `nats://${server}`);
  } catch {
    return heard(undefined);
  }
  const socket = tcpConnect(url.port === '' ? 4222 : Number(url.port), url.hostname.replace(/^\[|\]$/g, ''));
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<ProbeOutcome>((resolve) => {
      timer = setTimeout(() => resolve(heard(undefined)), timeoutMs);
      let text = '';
      let greeted = false;
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        const refused = REFUSAL.exec(text);
        if (refused !== null) resolve(heard(refused[1]));
        else if (text.length > PROBE_MAX_BYTES) resolve(heard(undefined));
        else if (!greeted && text.includes('\r\n')) {
          greeted = true;
          clearTimeout(timer);
          timer = setTimeout(() => resolve(heard(undefined)), REFUSAL_GRACE_MS);
        }
      });
      socket.on('error', () => resolve({ kind: 'reset' }));
      socket.on('close', () => resolve(heard(undefined)));
    });
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

/**
 * Why the first connect failed, in Cirrus codes: credentials refused, refused for another reason the
 * server gave, TLS, or the server unreachable.
 */
async function connectError(
  err: unknown,
  servers: string[],
  options: NatsConnectOptions,
  credentials: PreparedCredentials,
  timeoutMs: number,
): Promise<CirrusError> {
  const list = servers.join(', ');
  const prefix = options.label === undefined ? '' : `${options.label}: `;
  if (isAuthFailure(err)) return authError(err, list, credentials, prefix);
  const refused = (refusal: string): LatticeConnectRefusedError =>
    new LatticeConnectRefusedError(`${prefix}the NATS server at ${list} refused the connection: ${refusal}`, {
      hint: refusalHint(refusal),
      cause: err,
    });
  const refusal = serverRefusal(err);
  if (refusal !== undefined) return refused(refusal);
  const context = { servers: list, tls: options.tls, prefix };
  const tls = tlsError(err, context);
  if (tls !== undefined) return tls;
  if (isCutOff(err) && servers[0] !== undefined) {
    const probed = await probeRefusal(servers[0], timeoutMs);
    if (probed !== undefined) return refused(probed);
  }
  // A server that refuses the TLS handshake (no client certificate) may reset the connection before
  // its alert is read, and one that expects TLS first stays silent: a second look tells which.
  if ((isTimeout(err) || isCutOff(err)) && servers[0] !== undefined) {
    const probe = await probeTls(servers[0], options.tls, timeoutMs);
    if (probe.kind === 'failed') {
      const explained = tlsError(probe.error, context);
      if (explained !== undefined) return explained;
    }
    if (probe.kind === 'silent' && isTimeout(err)) {
      return new LatticeConnectFailedError(
        `${prefix}cannot connect to NATS at ${list}: the server sent no greeting within ${timeoutMs} ms`,
        {
          hint:
            options.tls?.handshakeFirst === true
              ? 'check that this is a NATS port with TLS first (handshake_first) enabled'
              : 'a server with TLS first (handshake_first) waits for the client to start TLS: give the TLS-first option (cirrus: --nats-tls-first)',
          cause: err,
        },
      );
    }
  }
  return new LatticeConnectFailedError(`${prefix}cannot connect to NATS at ${list}: ${reasonOf(err)}`, {
    hint: 'check that nats-server is running and reachable at that address (start one with `nats-server -js`)',
    cause: err,
  });
}

/**
 * Connects to NATS; rejects saying what failed: LATTICE_CREDENTIALS_INVALID (before connecting),
 * LATTICE_AUTH_FAILED, LATTICE_CONNECT_REFUSED, LATTICE_TLS_FAILED or LATTICE_CONNECT_FAILED. A
 * `tls://` server URL requires TLS, as it does for the Go and Rust clients.
 */
export async function connectNats(given: NatsConnectOptions): Promise<NatsLatticeConnection> {
  const limits = resolveLimits(given.limits ?? {});
  const servers = serverList(given.servers);
  const wantsTls = given.tls === undefined && servers.some((s) => /^tls:\/\//i.test(s));
  const options: NatsConnectOptions = wantsTls ? { ...given, tls: {} } : given;
  const prefix = options.label === undefined ? '' : `${options.label}: `;
  checkJsDomain(options.jsDomain, prefix);
  const credentials = await prepareCredentials(options.credentials, prefix);
  const natsOptions: NodeConnectionOptions = {
    servers,
    // Off for the first connect only, and turned on once connected. With it on, a server that refuses
    // the client with -ERR during the handshake (`maximum connections exceeded`) leaves nats.js waiting
    // for its own reconnect loop until the connect timeout, which then hides the server's words.
    reconnect: false,
    // A host must outlive any server outage: the default gives up after 10 attempts (~20 s).
    maxReconnectAttempts: -1,
    // Credentials that stop working (rotated, revoked) are fixed on the server side; keep trying
    // rather than closing the host's connection for good after two refusals.
    ignoreAuthErrorAbort: true,
    reconnectTimeWait: limits.natsReconnectWaitMs,
    // The default (2 min × 2 pings) leaves a host talking to a dead server for minutes.
    pingInterval: limits.natsPingIntervalMs,
    maxPingOut: limits.natsMaxPingsOut,
    timeout: limits.natsConnectTimeoutMs,
    ...credentials.options,
  };
  if (options.name !== undefined) natsOptions.name = options.name;
  if (options.tls !== undefined) natsOptions.tls = await natsTlsOptions(options.tls, prefix);
  let nc: NatsConnection;
  try {
    nc = await connect(natsOptions);
  } catch (err) {
    throw await connectError(err, servers, options, credentials, limits.natsConnectTimeoutMs);
  }
  // nats.js reads this option of the connection's own options object at each disconnect.
  (nc as NatsConnectionImpl).options.reconnect = true;
  const js = jetstream(nc, {
    timeout: limits.natsKvTimeoutMs,
    ...(options.jsDomain === undefined ? {} : { domain: options.jsDomain }),
  });
  return new NatsLattice(nc, js, limits, options.jsDomain, (err) => {
    const server = nc.getServer();
    if (isAuthFailure(err)) return authError(err, server, credentials, prefix);
    if (isPermissionViolation(err)) return permissionError(err);
    return tlsError(err, { servers: server, tls: options.tls, prefix }) ?? err;
  });
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

  constructor(
    nc: NatsConnection,
    js: JetStreamClient,
    limits: Limits,
    jsDomain: string | undefined,
    explain: (err: Error) => CirrusError | Error,
  ) {
    this.#nc = nc;
    this.#js = js;
    this.#limits = limits;
    this.#jsDomain = jsDomain;
    this.#explain = explain;
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
    let timer: NodeJS.Timeout | undefined;
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
      let timer: NodeJS.Timeout | undefined;
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
