/**
 * Key-value buckets as JetStream KV, the layout wasmCloud 1.x hosts use (`KV_<bucket>` streams,
 * `$KV.<bucket>.<key>` subjects), so a Cirrus host and a wasmCloud host on one NATS share
 * `LATTICEDATA_<lattice>` and `CONFIGDATA_<lattice>`.
 */
import { PayloadTooLargeError } from '@cirrus/protocol';
import type { JetStreamClient, PushConsumer } from '@nats-io/jetstream';
import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { Kvm } from '@nats-io/kv';
import type { MsgHdrs } from '@nats-io/transport-node';
import { AsyncQueue } from './async-queue.ts';
import { KvEntryImpl } from './kv-entry.ts';
import { causeChain, kvError } from './nats-errors.ts';
import type { KvBucket, KvEntry, KvOperation, KvWatch, KvWatchOptions } from './port.ts';
import { assertKvFilter, assertKvKey, assertRevision } from './subject.ts';

export interface NatsKvSettings {
  readonly maxValueBytes: number;
  /** Server's largest message; a value must also fit in one. */
  readonly maxPayload: () => number;
  readonly timeoutMs: number;
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
    throw kvError(err, `open of bucket ${name}`, settings.timeoutMs);
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
    return kvError(err, what, this.#settings.timeoutMs);
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

  /**
   * Our own ordered push consumer rather than nats.js `kv.watch()`: the lattice promises `replayed`,
   * which needs the number of entries the replay holds, and only the consumer's creation answer says
   * that (`num_pending`). Same consumer kind as `kv.watch()`, so it survives reconnects and server
   * restarts the same way (the client re-creates it from the last sequence it saw).
   */
  async watch(options: KvWatchOptions = {}): Promise<KvWatch> {
    const filter = options.key ?? '>';
    assertKvFilter(filter);
    const replay = options.replay ?? true;
    let consumer: PushConsumer;
    let remaining: number;
    try {
      consumer = await this.#js.consumers.getPushConsumer(this.#stream, {
        filter_subjects: `${this.#subjectPrefix}${filter}`,
        deliver_policy: replay ? DeliverPolicy.LastPerSubject : DeliverPolicy.New,
      });
      remaining = replay ? (await consumer.info(true)).num_pending : 0;
    } catch (err) {
      throw this.#fail(err, 'watch');
    }

    const queue = new AsyncQueue<KvEntry>();
    let resolveReplayed!: () => void;
    const replayed = new Promise<void>((resolve) => (resolveReplayed = resolve));
    if (remaining === 0) resolveReplayed();

    let messages;
    try {
      messages = await consumer.consume({
        callback: (m) => {
          const entry = new KvEntryImpl(
            this.name,
            m.subject.slice(this.#subjectPrefix.length),
            m.data,
            m.seq,
            operationOf(m.headers),
          );
          if (remaining > 0) {
            // The replay holds the last entry of every key, delete markers included; like the
            // in-memory lattice it shows only keys that currently have a value.
            remaining--;
            if (entry.operation === 'PUT') queue.push(entry);
            if (remaining === 0) resolveReplayed();
            return;
          }
          queue.push(entry);
        },
      });
    } catch (err) {
      void consumer.delete().catch(() => {});
      throw this.#fail(err, 'watch');
    }
    void messages.closed().then((err) => {
      if (err instanceof Error) queue.fail(this.#fail(err, 'watch'));
      else queue.end();
      resolveReplayed();
    });

    return {
      replayed,
      stop: () => {
        queue.end();
        resolveReplayed();
        void messages.close().catch(() => {});
        // The server would drop the consumer after its inactivity threshold; do not make it wait.
        void consumer.delete().catch(() => {});
      },
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
    };
  }
}
