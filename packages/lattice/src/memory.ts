import {
  DEFAULT_LIMITS,
  LatticeClosedError,
  NoRespondersError,
  PayloadTooLargeError,
  RequestTimeoutError,
} from '@cirrus/protocol';
import type { LatticeTraffic } from '@cirrus/protocol';
import { MemoryKvStore } from './memory-kv.ts';
import type {
  KvBucket,
  LatticeConnection,
  Msg,
  MsgHeaders,
  PublishOptions,
  RequestManyOptions,
  RequestOptions,
  SubscribeOptions,
  Subscription,
} from './port.ts';
import { assertPublishSubject, subjectMatches, subscriptionTokens } from './subject.ts';
import { Sublist } from './sublist.ts';
import { AsyncQueue } from './async-queue.ts';
import { ReplyableMsg } from './message.ts';
import { EMPTY } from './codec.ts';

export interface MemoryConnectOptions {
  /**
   * Whether the connection receives its own messages on its own subscriptions (default true). Same
   * meaning as the NATS CONNECT `echo` flag, which the local endpoint passes through.
   */
  echo?: boolean;
  /**
   * Whether a message this connection publishes with a reply subject, and that reaches nobody, is
   * answered at once on that reply subject by an empty message without a reply subject, delivered
   * to this connection's own subscriptions (default true). nats-server does the same with a 503
   * status for clients that ask for it, as nats.js always does; the local endpoint answers its
   * clients itself and turns it off.
   */
  noResponders?: boolean;
}

export interface MemoryLatticeOptions {
  /** Largest message accepted (bytes); mirrors NATS `max_payload`. */
  maxPayload?: number;
  /** Largest value in a key-value bucket (bytes). */
  maxValueBytes?: number;
  /** Reply deadline of a request that gives none. */
  requestTimeoutMs?: number;
}

/**
 * An in-process lattice: a message router with NATS subject semantics plus key-value buckets. Every
 * connection made from one `MemoryLattice` sees the same subjects and buckets, the way clients of one
 * nats-server do.
 */
export interface MemoryLattice {
  connect(options?: MemoryConnectOptions): LatticeConnection;
  readonly maxPayload: number;
  /**
   * Whether a message published to `subject` now would reach any subscription, leaving out those of
   * `except` (for a connection that does not receive its own messages). Lets a bridge answer a
   * request nobody can receive with no-responders, the way nats-server does.
   */
  hasInterest(subject: string, except?: LatticeConnection): boolean;
  /** Subscriptions currently registered, across all connections (for tests and diagnostics). */
  readonly subscriptionCount: number;
  close(): Promise<void>;
}

export function createMemoryLattice(options: MemoryLatticeOptions = {}): MemoryLattice {
  return new MemoryLatticeImpl(options);
}

class MemoryMsg extends ReplyableMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply: string | undefined;
  readonly headers: MsgHeaders | undefined;

  constructor(
    conn: MemoryConnection,
    subject: string,
    data: Uint8Array,
    reply: string | undefined,
    headers: MsgHeaders | undefined,
  ) {
    super(conn);
    this.subject = subject;
    this.data = data;
    this.reply = reply;
    this.headers = headers;
  }
}

class MemorySubscription implements Subscription {
  readonly subject: string;
  readonly queue: string | undefined;
  readonly closed: Promise<void>;
  readonly #conn: MemoryConnection;
  readonly #callback: ((msg: Msg) => void) | undefined;
  readonly #queue = new AsyncQueue<Msg>();
  #remaining: number;
  #active = true;
  #resolveClosed!: () => void;

  constructor(conn: MemoryConnection, subject: string, options: SubscribeOptions) {
    this.#conn = conn;
    this.subject = subject;
    this.queue = options.queue;
    this.#callback = options.callback;
    this.#remaining = options.max ?? Number.POSITIVE_INFINITY;
    this.closed = new Promise((resolve) => (this.#resolveClosed = resolve));
  }

  get active(): boolean {
    return this.#active;
  }

  get connection(): MemoryConnection {
    return this.#conn;
  }

  deliver(msg: Msg): void {
    if (!this.#active) return;
    this.#conn.received(msg.data.byteLength);
    if (this.#callback !== undefined) {
      const callback = this.#callback;
      queueMicrotask(() => callback(msg));
    } else {
      this.#queue.push(msg);
    }
    if (--this.#remaining <= 0) this.unsubscribe();
  }

  unsubscribe(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#conn.removeSubscription(this);
    this.#queue.end();
    this.#resolveClosed();
  }

  [Symbol.asyncIterator](): AsyncIterator<Msg> {
    return this.#queue[Symbol.asyncIterator]();
  }
}

class MemoryLatticeImpl implements MemoryLattice {
  readonly maxPayload: number;
  readonly requestTimeoutMs: number;
  readonly subs = new Sublist<MemorySubscription>();
  readonly kv: MemoryKvStore;
  readonly #connections = new Set<MemoryConnection>();
  #inboxCounter = 0;
  #queueCursor = 0;

  constructor(options: MemoryLatticeOptions) {
    this.maxPayload = options.maxPayload ?? DEFAULT_LIMITS.latticeMaxPayloadBytes;
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_LIMITS.latticeRequestTimeoutMs;
    this.kv = new MemoryKvStore(options.maxValueBytes ?? DEFAULT_LIMITS.kvMaxValueBytes);
  }

  get subscriptionCount(): number {
    return this.subs.size;
  }

  connect(options: MemoryConnectOptions = {}): LatticeConnection {
    const conn = new MemoryConnection(this, options.echo ?? true, options.noResponders ?? true);
    this.#connections.add(conn);
    return conn;
  }

  forget(conn: MemoryConnection): void {
    this.#connections.delete(conn);
  }

  nextInbox(): string {
    return `_INBOX.${(++this.#inboxCounter).toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  }

  hasInterest(subject: string, except?: LatticeConnection): boolean {
    return this.subs.match(subject).some((sub) => sub.connection !== except);
  }

  /** Routes one message; returns how many subscriptions received it. */
  route(msg: MemoryMsg, origin: MemoryConnection): number {
    const matches = this.subs.match(msg.subject);
    if (matches.length === 0) return 0;
    let delivered = 0;
    let groups: Map<string, MemorySubscription[]> | undefined;
    for (const sub of matches) {
      // Filtered before queue selection, so a queue group never picks a member that must not receive it.
      if (!origin.echo && sub.connection === origin) continue;
      if (sub.queue === undefined) {
        sub.deliver(msg);
        delivered++;
      } else {
        groups ??= new Map();
        const members = groups.get(sub.queue);
        if (members === undefined) groups.set(sub.queue, [sub]);
        else members.push(sub);
      }
    }
    if (groups !== undefined) {
      for (const members of groups.values()) {
        const chosen = members[this.#queueCursor++ % members.length] as MemorySubscription;
        chosen.deliver(msg);
        delivered++;
      }
    }
    return delivered;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#connections].map((c) => c.close()));
    this.kv.close();
  }
}

class MemoryConnection implements LatticeConnection {
  readonly echo: boolean;
  readonly #noResponders: boolean;
  readonly #server: MemoryLatticeImpl;
  readonly #subs = new Set<MemorySubscription>();
  readonly #traffic: LatticeTraffic = { messages_in: 0, messages_out: 0, bytes_in: 0, bytes_out: 0 };
  #closed = false;

  constructor(server: MemoryLatticeImpl, echo: boolean, noResponders: boolean) {
    this.#server = server;
    this.echo = echo;
    this.#noResponders = noResponders;
  }

  get maxPayload(): number {
    return this.#server.maxPayload;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  #assertOpen(): void {
    if (this.#closed) {
      throw new LatticeClosedError('the lattice connection is closed', {
        hint: 'create a new connection; a closed one cannot be reused',
      });
    }
  }

  #send(subject: string, data: Uint8Array, options: PublishOptions): number {
    this.#assertOpen();
    assertPublishSubject(subject);
    if (data.byteLength > this.#server.maxPayload) {
      throw new PayloadTooLargeError(
        `message of ${data.byteLength} bytes to ${subject} exceeds the ${this.#server.maxPayload}-byte limit`,
        { hint: 'split the payload or raise latticeMaxPayloadBytes' },
      );
    }
    this.#traffic.messages_out++;
    this.#traffic.bytes_out += data.byteLength;
    return this.#server.route(new MemoryMsg(this, subject, data, options.reply, options.headers), this);
  }

  received(bytes: number): void {
    this.#traffic.messages_in++;
    this.#traffic.bytes_in += bytes;
  }

  traffic(): LatticeTraffic {
    return { ...this.#traffic };
  }

  publish(subject: string, data: Uint8Array = EMPTY, options: PublishOptions = {}): void {
    const delivered = this.#send(subject, data, options);
    if (delivered === 0 && options.reply !== undefined && this.#noResponders) {
      const status = new MemoryMsg(this, options.reply, EMPTY, undefined, { 'Nats-Subject': subject });
      for (const sub of this.#subs) {
        if (sub.queue === undefined && subjectMatches(sub.subject, options.reply)) sub.deliver(status);
      }
    }
  }

  subscribe(subject: string, options: SubscribeOptions = {}): Subscription {
    this.#assertOpen();
    subscriptionTokens(subject);
    const sub = new MemorySubscription(this, subject, options);
    this.#subs.add(sub);
    this.#server.subs.insert(subject, sub);
    return sub;
  }

  removeSubscription(sub: MemorySubscription): void {
    this.#subs.delete(sub);
    this.#server.subs.remove(sub.subject, sub);
  }

  async request(subject: string, data: Uint8Array = EMPTY, options: RequestOptions = {}): Promise<Msg> {
    this.#assertOpen();
    const timeoutMs = options.timeoutMs ?? this.#server.requestTimeoutMs;
    const inbox = this.newInbox();
    const sub = this.subscribe(inbox, { max: 1 });
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const sendOptions: PublishOptions = { reply: inbox };
      if (options.headers !== undefined) sendOptions.headers = options.headers;
      if (this.#send(subject, data, sendOptions) === 0) {
        throw new NoRespondersError(`no responders for ${subject}`, {
          hint: 'nothing is subscribed to that subject; check the host, lattice name and subject',
        });
      }
      const reply = sub[Symbol.asyncIterator]().next();
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(
            new RequestTimeoutError(`request to ${subject} timed out after ${timeoutMs} ms`, {
              hint: 'the responder is slow or gone; retry or raise the timeout',
            }),
          );
        }, timeoutMs);
      });
      const result = await Promise.race([reply, timeout]);
      if (result.done === true)
        throw new LatticeClosedError(`connection closed while waiting for ${subject}`);
      return result.value;
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }

  async *requestMany(
    subject: string,
    data: Uint8Array | undefined,
    options: RequestManyOptions,
  ): AsyncIterable<Msg> {
    this.#assertOpen();
    const inbox = this.newInbox();
    const sub = this.subscribe(inbox, options.maxMessages === undefined ? {} : { max: options.maxMessages });
    const timer = setTimeout(() => sub.unsubscribe(), options.maxWaitMs);
    try {
      const sendOptions: PublishOptions = { reply: inbox };
      if (options.headers !== undefined) sendOptions.headers = options.headers;
      this.#send(subject, data ?? EMPTY, sendOptions);
      for await (const msg of sub) yield msg;
    } finally {
      clearTimeout(timer);
      sub.unsubscribe();
    }
  }

  async flush(): Promise<void> {
    this.#assertOpen();
    await Promise.resolve();
  }

  async kv(bucket: string): Promise<KvBucket> {
    this.#assertOpen();
    return this.#server.kv.bucket(bucket);
  }

  newInbox(): string {
    return this.#server.nextInbox();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const sub of [...this.#subs]) sub.unsubscribe();
    this.#server.forget(this);
    await Promise.resolve();
  }
}
