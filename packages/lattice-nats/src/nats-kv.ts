/**
 * Key-value buckets as JetStream KV, the layout wasmCloud 1.x hosts use (`KV_<bucket>` streams,
 * `$KV.<bucket>.<key>` subjects), so a Cirrus host and a wasmCloud host on one NATS share
 * `LATTICEDATA_<lattice>` and `CONFIGDATA_<lattice>`.
 */
import { PayloadTooLargeError } from '@cirrus/protocol';
import type { ConsumerMessages, JetStreamClient, JsMsg, PushConsumer } from '@nats-io/jetstream';
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Kvm } from '@nats-io/kv';
import type { MsgHdrs } from '@nats-io/nats-core';
import type { KvBucket, KvEntry, KvOperation, KvWatch, KvWatchOptions } from '@cirrus/lattice';
import {
  assertKvFilter,
  assertKvKey,
  assertRevision,
  AsyncQueue,
  KvEntryImpl,
} from '@cirrus/lattice/adapter';
import { causeChain, isClosed, isPermissionViolation, kvError } from './nats-errors.ts';

export interface NatsKvSettings {
  readonly maxValueBytes: number;
  /** Server's largest message; a value must also fit in one. */
  readonly maxPayload: () => number;
  readonly timeoutMs: number;
  /** The JetStream domain requests go to, named in errors; undefined: the server's own JetStream. */
  readonly jsDomain: string | undefined;
  /** Pause between attempts to replace a watch's lost consumer. */
  readonly retryWaitMs: number;
  /** Whether the connection is closed for good (a watch then ends). */
  readonly isClosed: () => boolean;
}

/** JetStream KV marks deletes with a header; a purge (or a server-side expiry marker) is a delete too. */
function operationOf(headers: MsgHdrs | undefined): KvOperation {
  if (headers === undefined) return 'PUT';
  const op = headers.get('KV-Operation');
  if (op === 'DEL' || op === 'PURGE' || headers.has('Nats-Marker-Reason')) return 'DEL';
  return 'PUT';
}

/** JetStream's answer when the expected last revision of a key did not match: a lost race. */
function isWrongLastSequence(err: unknown): boolean {
  return causeChain(err).some(
    (e) =>
      e instanceof JetStreamApiError &&
      (e.code === JetStreamApiCodes.StreamWrongLastSequence ||
        e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown),
  );
}

/**
 * Opens the bucket, creating it with wasmCloud's settings (history 1, file storage, 1 replica, the
 * client library's defaults) when it does not exist. An existing bucket is used as it is.
 */
export async function openNatsBucket(
  js: JetStreamClient,
  name: string,
  settings: NatsKvSettings,
): Promise<KvBucket> {
  try {
    const kv = await new Kvm(js).create(name);
    return new NatsBucket(name, kv, js, settings);
  } catch (err) {
    throw kvError(err, `open of bucket ${name}`, settings);
  }
}

class NatsBucket implements KvBucket {
  readonly name: string;
  readonly #kv: KV;
  readonly #js: JetStreamClient;
  readonly #settings: NatsKvSettings;
  readonly #stream: string;
  readonly #subjectPrefix: string;

  constructor(name: string, kv: KV, js: JetStreamClient, settings: NatsKvSettings) {
    this.name = name;
    this.#kv = kv;
    this.#js = js;
    this.#settings = settings;
    this.#stream = `KV_${name}`;
    this.#subjectPrefix = `$KV.${name}.`;
  }

  #fail(err: unknown, operation: string, key?: string): Error {
    const what = key === undefined ? `${operation} on ${this.name}` : `${operation} of ${this.name}/${key}`;
    return kvError(err, what, this.#settings);
  }

  async get(key: string): Promise<KvEntry | null> {
    assertKvKey(key);
    let entry;
    try {
      entry = await this.#kv.get(key);
    } catch (err) {
      throw this.#fail(err, 'get', key);
    }
    // JetStream keeps a delete marker as the key's last entry; to callers a deleted key is absent.
    if (entry === null || entry.operation !== 'PUT') return null;
    return new KvEntryImpl(this.name, key, entry.value, entry.revision, 'PUT');
  }

  #checkValue(key: string, value: Uint8Array): void {
    assertKvKey(key);
    const limit = Math.min(this.#settings.maxValueBytes, this.#settings.maxPayload());
    if (value.byteLength > limit) {
      throw new PayloadTooLargeError(
        `value of ${value.byteLength} bytes for ${this.name}/${key} exceeds the ${limit}-byte limit`,
        { hint: 'store smaller values or raise kvMaxValueBytes (and the NATS server max_payload)' },
      );
    }
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    this.#checkValue(key, value);
    try {
      return await this.#kv.put(key, value);
    } catch (err) {
      throw this.#fail(err, 'put', key);
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | null> {
    this.#checkValue(key, value);
    assertRevision(revision);
    try {
      // create() also succeeds over a delete marker, which is what "no value" means to our callers.
      return revision === 0 ? await this.#kv.create(key, value) : await this.#kv.update(key, value, revision);
    } catch (err) {
      if (isWrongLastSequence(err)) return null;
      throw this.#fail(err, 'update', key);
    }
  }

  async delete(key: string): Promise<void> {
    assertKvKey(key);
    try {
      await this.#kv.delete(key);
    } catch (err) {
      throw this.#fail(err, 'delete', key);
    }
  }

  async keys(filter = '>'): Promise<string[]> {
    assertKvFilter(filter);
    try {
      const out: string[] = [];
      for await (const key of await this.#kv.keys(filter)) out.push(key);
      return out;
    } catch (err) {
      throw this.#fail(err, 'keys');
    }
  }

  /** A watch of this bucket; it outlives the loss of its consumer (see NatsWatch). */
  async watch(options: KvWatchOptions = {}): Promise<KvWatch> {
    const filter = options.key ?? '>';
    assertKvFilter(filter);
    const watch = new NatsWatch({
      bucket: this.name,
      stream: this.#stream,
      subjectPrefix: this.#subjectPrefix,
      filter,
      js: this.#js,
      settings: this.#settings,
      fail: (err) => this.#fail(err, 'watch'),
    });
    await watch.start(options.replay ?? true);
    return watch;
  }
}

interface WatchContext {
  readonly bucket: string;
  readonly stream: string;
  readonly subjectPrefix: string;
  readonly filter: string;
  readonly js: JetStreamClient;
  readonly settings: NatsKvSettings;
  readonly fail: (err: unknown) => Error;
}

/**
 * Our own ordered push consumer rather than nats.js `kv.watch()`: the lattice promises `replayed`,
 * which needs the number of entries the replay holds, and only the consumer's creation answer says
 * that (`num_pending`). nats.js re-creates an ordered consumer after a reconnect, a server restart or
 * two missed heartbeats, from the last sequence it saw.
 *
 * It gives up, though, after 30 failed re-creations when the consumer never delivered anything: about
 * 2.5 minutes of a leaf node cut off from the hub whose JetStream it uses, for a watch of a bucket
 * that did not change meanwhile (measured: test/failure/slow/leaf-link-outage.test.ts). A lattice
 * watch must last as long as its host, so when nats.js gives up the watch opens a new consumer after
 * the last sequence it delivered, every `retryWaitMs`, until that works or the watch is stopped. Only
 * a closed connection or a permission refusal ends it.
 */
class NatsWatch implements KvWatch {
  readonly replayed: Promise<void>;
  readonly #context: WatchContext;
  readonly #queue = new AsyncQueue<KvEntry>();
  #resolveReplayed!: () => void;
  /**
   * The stream sequence a new consumer starts after: the stream's last one when the watch began, then
   * each delivered entry's.
   */
  #lastSeq = 0;
  /** Entries the replay still holds. */
  #remaining = 0;
  /** Which consumer is current; deliveries from an earlier one are ignored. */
  #generation = 0;
  #current: { consumer: PushConsumer; messages: ConsumerMessages } | undefined;
  #retry: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;
  #stopped = false;

  constructor(context: WatchContext) {
    this.#context = context;
    this.replayed = new Promise<void>((resolve) => (this.#resolveReplayed = resolve));
  }

  /** Opens the first consumer; rejects (KV_UNAVAILABLE and the like) when that fails. */
  async start(replay: boolean): Promise<void> {
    const { js, stream } = this.#context;
    try {
      // Where the stream stands now: a watch without replay starts after it (nats.js would start a
      // re-created "new messages only" consumer at sequence 1, replaying the whole bucket).
      this.#lastSeq = (await (await js.streams.get(stream)).info(true)).state.last_seq;
      await this.#open(replay);
    } catch (err) {
      throw this.#context.fail(err);
    }
  }

  async #open(replay: boolean): Promise<void> {
    const { js, stream, subjectPrefix, filter } = this.#context;
    const consumer = await js.consumers.getPushConsumer(stream, {
      filter_subjects: `${subjectPrefix}${filter}`,
      ...(replay
        ? { deliver_policy: DeliverPolicy.LastPerSubject }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.#lastSeq + 1 }),
    });
    const generation = ++this.#generation;
    this.#remaining = replay ? (await consumer.info(true)).num_pending : 0;
    if (this.#remaining === 0) this.#resolveReplayed();
    let messages: ConsumerMessages;
    try {
      messages = await consumer.consume({ callback: (m) => this.#deliver(m, generation) });
    } catch (err) {
      void consumer.delete().catch(() => {});
      throw err;
    }
    if (this.#stopped) {
      void messages.close().catch(() => {});
      void consumer.delete().catch(() => {});
      return;
    }
    this.#current = { consumer, messages };
    void messages.closed().then((err) => this.#lost(err, generation));
  }

  #deliver(m: JsMsg, generation: number): void {
    if (generation !== this.#generation) return;
    this.#lastSeq = m.seq;
    const entry = new KvEntryImpl(
      this.#context.bucket,
      m.subject.slice(this.#context.subjectPrefix.length),
      m.data,
      m.seq,
      operationOf(m.headers),
    );
    if (this.#remaining > 0) {
      // The replay holds the last entry of every key, delete markers included; like the in-memory
      // lattice it shows only keys that currently have a value.
      this.#remaining--;
      if (entry.operation === 'PUT') this.#queue.push(entry);
      if (this.#remaining === 0) this.#resolveReplayed();
      return;
    }
    this.#queue.push(entry);
  }

  /** The current consumer's messages ended: end the watch, or replace the consumer. */
  #lost(err: void | Error, generation: number): void {
    if (this.#stopped || generation !== this.#generation) return;
    const lost = this.#current;
    this.#current = undefined;
    // Best effort: unreachable during an outage, and then the server drops it after its inactivity
    // threshold (5 minutes).
    void lost?.consumer.delete().catch(() => {});
    // A replay cut short: what it still held arrives with the live entries.
    this.#remaining = 0;
    this.#resolveReplayed();
    if (this.#ends(err)) return;
    void this.#resume();
  }

  /** Ends the watch for a closed connection or a refused permission; says whether it did. */
  #ends(err: unknown): boolean {
    // nats.js ends a consumer without an error when its connection closes, or its subscription was refused.
    if (err === undefined || this.#context.settings.isClosed() || isClosed(err)) {
      this.#queue.end();
      return true;
    }
    if (isPermissionViolation(err)) {
      this.#queue.fail(this.#context.fail(err));
      return true;
    }
    return false;
  }

  async #resume(): Promise<void> {
    while (!this.#stopped) {
      await new Promise<void>((wake) => {
        this.#retry = { timer: setTimeout(wake, this.#context.settings.retryWaitMs), wake };
      });
      this.#retry = undefined;
      if (this.#stopped) return;
      try {
        await this.#open(false);
        return;
      } catch (err) {
        if (this.#ends(err)) return;
      }
    }
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#queue.end();
    this.#resolveReplayed();
    if (this.#retry !== undefined) {
      clearTimeout(this.#retry.timer);
      this.#retry.wake();
    }
    const current = this.#current;
    this.#current = undefined;
    if (current === undefined) return;
    void current.messages.close().catch(() => {});
    // The server would drop the consumer after its inactivity threshold; do not make it wait.
    void current.consumer.delete().catch(() => {});
  }

  [Symbol.asyncIterator](): AsyncIterator<KvEntry> {
    return this.#queue[Symbol.asyncIterator]();
  }
}
