/**
 * The client of kv-service.ts: key-value buckets for a connection whose server has no JetStream (a
 * client of the local endpoint), served by the host that runs the lattice in memory.
 */
import {
  errorFromJSON,
  KvConflictError,
  KvUnavailableError,
  NoRespondersError,
  RequestTimeoutError,
} from '@cirrus/protocol';
import type { ErrorJSON, LatticeTraffic } from '@cirrus/protocol';
import { AsyncQueue } from './async-queue.ts';
import { decodeJson, EMPTY } from './codec.ts';
import { KvEntryImpl } from './kv-entry.ts';
import { KV_HEADER, KV_SERVICE_PREFIX } from './kv-service.ts';
import type { KvServiceOp } from './kv-service.ts';
import type {
  KvBucket,
  KvEntry,
  KvWatch,
  KvWatchOptions,
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
import { assertBucketName, assertKvFilter, assertKvKey, assertRevision } from './subject.ts';

export interface ServedKvOptions {
  /** Subject prefix of the service (default `$CIRRUS.KV`). */
  prefix?: string;
  /** Deadline of one key-value operation (default: the connection's request deadline). */
  timeoutMs?: number;
}

/**
 * `connection` with its key-value buckets served over request/reply by `serveKv` on the lattice's
 * host, for connections that reach an in-memory lattice through a bridge without JetStream. Everything
 * else is the connection's own.
 */
export function withServedKv(
  connection: LatticeConnection,
  options: ServedKvOptions = {},
): LatticeConnection {
  return new ServedKvConnection(connection, new KvCaller(connection, options));
}

/** A reply's error header as the typed error it names. */
function errorOf(text: string): Error {
  let json: Partial<ErrorJSON> | undefined;
  try {
    json = JSON.parse(text) as Partial<ErrorJSON>;
  } catch {
    json = undefined;
  }
  if (typeof json?.code !== 'string' || typeof json.message !== 'string') {
    return new KvUnavailableError('the key-value service answered with an unreadable error', {
      details: { error: text.slice(0, 200) },
    });
  }
  return errorFromJSON(json as ErrorJSON);
}

class KvCaller {
  readonly connection: LatticeConnection;
  readonly prefix: string;
  readonly #timeoutMs: number | undefined;

  constructor(connection: LatticeConnection, options: ServedKvOptions) {
    this.connection = connection;
    this.prefix = options.prefix ?? KV_SERVICE_PREFIX;
    this.#timeoutMs = options.timeoutMs;
  }

  async call(op: KvServiceOp, bucket: string, headers: MsgHeaders, data: Uint8Array = EMPTY): Promise<Msg> {
    const subject = `${this.prefix}.${op}.${bucket}`;
    const options: RequestOptions = { headers };
    if (this.#timeoutMs !== undefined) options.timeoutMs = this.#timeoutMs;
    let reply: Msg;
    try {
      reply = await this.connection.request(subject, data, options);
    } catch (err) {
      // What the NATS adapter reports when JetStream does not answer: the same code whatever the transport.
      if (err instanceof NoRespondersError || err instanceof RequestTimeoutError) {
        throw new KvUnavailableError(`key-value ${op} on bucket ${bucket}: ${err.message}`, {
          hint: 'the lattice serves no key-value here: connect to a host running the embedded lattice, or check its prefix',
          cause: err,
        });
      }
      throw err;
    }
    const error = reply.headers?.[KV_HEADER.error];
    if (error !== undefined) throw errorOf(error);
    return reply;
  }
}

function revisionOf(reply: Msg): number | undefined {
  const raw = reply.headers?.[KV_HEADER.revision];
  return raw === undefined ? undefined : Number(raw);
}

class ServedBucket implements KvBucket {
  readonly name: string;
  readonly #caller: KvCaller;

  constructor(name: string, caller: KvCaller) {
    this.name = name;
    this.#caller = caller;
  }

  async get(key: string): Promise<KvEntry | null> {
    assertKvKey(key);
    const reply = await this.#caller.call('GET', this.name, { [KV_HEADER.key]: key });
    const revision = revisionOf(reply);
    return revision === undefined ? null : new KvEntryImpl(this.name, key, reply.data, revision, 'PUT');
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    assertKvKey(key);
    return this.#written(await this.#caller.call('PUT', this.name, { [KV_HEADER.key]: key }, value));
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | null> {
    assertKvKey(key);
    assertRevision(revision);
    const headers = { [KV_HEADER.key]: key, [KV_HEADER.revision]: String(revision) };
    try {
      return this.#written(await this.#caller.call('UPDATE', this.name, headers, value));
    } catch (err) {
      if (err instanceof KvConflictError) return null;
      throw err;
    }
  }

  #written(reply: Msg): number {
    const revision = revisionOf(reply);
    if (revision === undefined || !Number.isSafeInteger(revision)) {
      throw new KvUnavailableError(
        `the key-value service confirmed a write to ${this.name} without a revision`,
      );
    }
    return revision;
  }

  async delete(key: string): Promise<void> {
    assertKvKey(key);
    await this.#caller.call('DEL', this.name, { [KV_HEADER.key]: key });
  }

  async keys(filter = '>'): Promise<string[]> {
    assertKvFilter(filter);
    const reply = await this.#caller.call('KEYS', this.name, { [KV_HEADER.key]: filter });
    return decodeJson<string[]>(reply.data);
  }

  async watch(options: KvWatchOptions = {}): Promise<KvWatch> {
    const filter = options.key ?? '>';
    assertKvFilter(filter);
    const watch = new ServedWatch(this.name, this.#caller);
    await watch.start(filter, options.replay ?? true);
    return watch;
  }
}

/** Entries the service delivers to an inbox of this connection, until either side ends the watch. */
class ServedWatch implements KvWatch {
  readonly replayed: Promise<void>;
  readonly #bucket: string;
  readonly #caller: KvCaller;
  readonly #inbox: string;
  readonly #queue = new AsyncQueue<KvEntry>();
  readonly #sub: Subscription;
  #resolveReplayed!: () => void;
  #stopped = false;

  constructor(bucket: string, caller: KvCaller) {
    this.#bucket = bucket;
    this.#caller = caller;
    this.replayed = new Promise<void>((resolve) => (this.#resolveReplayed = resolve));
    this.#inbox = caller.connection.newInbox();
    // Subscribed before the watch is asked for, so that nothing the service sends is missed.
    this.#sub = caller.connection.subscribe(this.#inbox, { callback: (msg) => this.#receive(msg) });
    // The connection closed: the service drops the watch once it notices nobody listens.
    void this.#sub.closed.then(() => this.#finish());
  }

  async start(filter: string, replay: boolean): Promise<void> {
    const headers: Record<string, string> = { [KV_HEADER.watch]: this.#inbox, [KV_HEADER.key]: filter };
    if (!replay) headers[KV_HEADER.replay] = 'false';
    try {
      await this.#caller.call('WATCH', this.#bucket, headers);
    } catch (err) {
      this.#sub.unsubscribe();
      throw err;
    }
  }

  #receive(msg: Msg): void {
    const headers = msg.headers ?? {};
    const marker = headers[KV_HEADER.marker];
    if (marker === 'replayed') {
      this.#resolveReplayed();
      return;
    }
    if (marker === 'end') {
      const error = headers[KV_HEADER.error];
      if (error !== undefined) this.#queue.fail(errorOf(error));
      this.#finish();
      return;
    }
    const key = headers[KV_HEADER.key];
    const revision = Number(headers[KV_HEADER.revision]);
    // Anything else on the inbox is not the service's: it has no place in the watch.
    if (key === undefined || !Number.isSafeInteger(revision)) return;
    const operation = headers[KV_HEADER.operation] === 'DEL' ? 'DEL' : 'PUT';
    this.#queue.push(new KvEntryImpl(this.#bucket, key, msg.data, revision, operation));
  }

  /** Ends the iteration (what is buffered is still handed out) and the subscription. */
  #finish(): void {
    this.#stopped = true;
    this.#queue.end();
    this.#resolveReplayed();
    this.#sub.unsubscribe();
  }

  stop(): void {
    if (this.#stopped) return;
    this.#finish();
    try {
      const subject = `${this.#caller.prefix}.UNWATCH.${this.#bucket}`;
      this.#caller.connection.publish(subject, EMPTY, { headers: { [KV_HEADER.watch]: this.#inbox } });
    } catch {
      // A closed connection: the service drops the watch when its sweep finds the inbox gone.
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<KvEntry> {
    return this.#queue[Symbol.asyncIterator]();
  }
}

/** The connection itself, but for `kv()`. */
class ServedKvConnection implements LatticeConnection {
  // Declared only: the member exists exactly when the connection has one (its absence means no network).
  declare readonly status?: () => AsyncIterable<LatticeStatus>;
  readonly #inner: LatticeConnection;
  readonly #caller: KvCaller;

  constructor(inner: LatticeConnection, caller: KvCaller) {
    this.#inner = inner;
    this.#caller = caller;
    if (inner.status !== undefined) this.status = inner.status.bind(inner);
  }

  async kv(bucket: string): Promise<KvBucket> {
    // The name becomes a subject token: checked here, before it could split into several.
    assertBucketName(bucket);
    await this.#caller.call('OPEN', bucket, {});
    return new ServedBucket(bucket, this.#caller);
  }

  publish(subject: string, data?: Uint8Array, options?: PublishOptions): void {
    this.#inner.publish(subject, data, options);
  }

  subscribe(subject: string, options?: SubscribeOptions): Subscription {
    return this.#inner.subscribe(subject, options);
  }

  request(subject: string, data?: Uint8Array, options?: RequestOptions): Promise<Msg> {
    return this.#inner.request(subject, data, options);
  }

  requestMany(
    subject: string,
    data: Uint8Array | undefined,
    options: RequestManyOptions,
  ): AsyncIterable<Msg> {
    return this.#inner.requestMany(subject, data, options);
  }

  flush(): Promise<void> {
    return this.#inner.flush();
  }

  newInbox(): string {
    return this.#inner.newInbox();
  }

  traffic(): LatticeTraffic {
    return this.#inner.traffic();
  }

  get maxPayload(): number {
    return this.#inner.maxPayload;
  }

  get isClosed(): boolean {
    return this.#inner.isClosed;
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
