/**
 * Key-value over plain request/reply: the buckets of an in-memory lattice served to clients that reach
 * it through a bridge speaking only core NATS (the local endpoint: no JetStream). `withServedKv` in
 * kv-client.ts is the other end.
 *
 * Wire format: requests go to `<prefix>.<OP>.<bucket>`; keys may contain dots, so they travel in
 * headers, never in the subject. Values are the payload as they are. A failed operation is answered
 * with an empty payload and the typed error's JSON in `Cirrus-Kv-Error`, so the client rethrows the
 * same code. A watch delivers to an inbox the client subscribed before asking for it: the replay, a
 * `replayed` marker, then live changes; an `end` marker (with the error, if any) when the service ends it.
 */
import {
  DEFAULT_LIMITS,
  InvalidArgumentError,
  KvConflictError,
  KvUnavailableError,
  toErrorJSON,
  unrefTimer,
} from '@cirrus/protocol';
import { EMPTY, encodeJson } from './codec.ts';
import type { MemoryLattice } from './memory.ts';
import type { KvBucket, KvEntry, KvWatch, LatticeConnection, Msg, MsgHeaders } from './port.ts';
import { assertBucketName, assertPublishSubject, assertRevision } from './subject.ts';

/** The subjects under which the service answers unless told otherwise. */
export const KV_SERVICE_PREFIX = '$CIRRUS.KV';

/** Header names of the wire format. */
export const KV_HEADER = {
  /** The key of a get/put/update/delete and of a watched entry; the key filter of keys and watch. */
  key: 'Cirrus-Kv-Key',
  /** The revision of an entry; the revision an update expects. */
  revision: 'Cirrus-Kv-Revision',
  /** `PUT` or `DEL`, on watched entries. */
  operation: 'Cirrus-Kv-Operation',
  /** The inbox a watch delivers to (watch and unwatch requests). */
  watch: 'Cirrus-Kv-Watch',
  /** `false`: a watch starts without replaying current values. */
  replay: 'Cirrus-Kv-Replay',
  /** On a watch's inbox: `replayed` once the replay is complete, `end` when the service ends the watch. */
  marker: 'Cirrus-Kv-Marker',
  /** The JSON of the typed error an operation failed with (also on an `end` marker). */
  error: 'Cirrus-Kv-Error',
} as const;

const OPS = ['OPEN', 'GET', 'PUT', 'UPDATE', 'DEL', 'KEYS', 'WATCH', 'UNWATCH'] as const;
export type KvServiceOp = (typeof OPS)[number];

function isOp(op: string): op is KvServiceOp {
  return (OPS as readonly string[]).includes(op);
}

/**
 * How often watches whose inbox lost its last subscriber are dropped. A watch of a bucket that changes
 * is dropped at its next delivery anyway; the sweep reclaims those of quiet buckets, so that clients
 * which come and go (browser tabs) do not use up `kvServiceMaxWatches`. One pass is a subscription
 * lookup per watch, so a second costs next to nothing and frees a slot soon after a client leaves.
 */
const SWEEP_INTERVAL_MS = 1_000;

export interface ServeKvOptions {
  /** Subject prefix of the service (default `$CIRRUS.KV`). */
  prefix?: string;
  /** Watches served at once (default `kvServiceMaxWatches`); more are refused with KV_UNAVAILABLE. */
  maxWatches?: number;
}

export interface KvService {
  /** Ends every watch (clients see their iteration end) and stops answering. */
  close(): Promise<void>;
}

interface ServedWatch {
  readonly inbox: string;
  readonly bucket: string;
  /** The bucket watch, once it is open. */
  live: KvWatch | undefined;
  stopped: boolean;
}

export function serveKv(lattice: MemoryLattice, options: ServeKvOptions = {}): KvService {
  return new KvServiceImpl(lattice, options.prefix ?? KV_SERVICE_PREFIX, options.maxWatches);
}

function requiredHeader(msg: Msg, name: string): string {
  const value = msg.headers?.[name];
  if (value === undefined) {
    throw new InvalidArgumentError(`key-value request to ${msg.subject} lacks the ${name} header`, {
      hint: 'use withServedKv() from @cirrus/lattice, or follow the wire format in docs/lattice.md',
    });
  }
  return value;
}

function entryHeaders(entry: KvEntry): MsgHeaders {
  return {
    [KV_HEADER.key]: entry.key,
    [KV_HEADER.revision]: String(entry.revision),
    [KV_HEADER.operation]: entry.operation,
  };
}

class KvServiceImpl implements KvService {
  readonly #lattice: MemoryLattice;
  readonly #conn: LatticeConnection;
  readonly #prefix: string;
  readonly #maxWatches: number;
  /** By inbox: a client names a watch by the inbox it receives it on. */
  readonly #watches = new Map<string, ServedWatch>();
  readonly #sweep: ReturnType<typeof setInterval>;

  constructor(lattice: MemoryLattice, prefix: string, maxWatches = DEFAULT_LIMITS.kvServiceMaxWatches) {
    this.#lattice = lattice;
    this.#prefix = prefix;
    this.#maxWatches = maxWatches;
    this.#conn = lattice.connect();
    // A queue group, so that a second service on the same lattice never carries out a write twice.
    this.#conn.subscribe(`${prefix}.>`, { queue: prefix, callback: (msg) => void this.#serve(msg) });
    // A service nobody closed must not keep the process alive.
    this.#sweep = unrefTimer(setInterval(() => this.#sweepWatches(), SWEEP_INTERVAL_MS));
  }

  async #serve(msg: Msg): Promise<void> {
    try {
      const [op = '', ...bucket] = msg.subject.slice(this.#prefix.length + 1).split('.');
      if (!isOp(op)) {
        throw new InvalidArgumentError(`unknown key-value operation in ${msg.subject}`, {
          hint: `operations are ${OPS.join(', ')}`,
        });
      }
      // A bucket name has no dots: more tokens than one make it invalid.
      const name = bucket.join('.');
      assertBucketName(name);
      await this.#answer(msg, op, name);
    } catch (err) {
      this.#fail(msg, err);
    }
  }

  async #answer(msg: Msg, op: KvServiceOp, name: string): Promise<void> {
    if (op === 'UNWATCH') {
      const served = this.#watches.get(requiredHeader(msg, KV_HEADER.watch));
      if (served !== undefined && served.bucket === name) this.#drop(served);
      msg.respond();
      return;
    }
    if (op === 'WATCH') return this.#watch(msg, name);
    const bucket = await this.#conn.kv(name);
    switch (op) {
      case 'OPEN':
        msg.respond();
        return;
      case 'GET': {
        const entry = await bucket.get(requiredHeader(msg, KV_HEADER.key));
        if (entry === null) msg.respond();
        else msg.respond(entry.value, { headers: { [KV_HEADER.revision]: String(entry.revision) } });
        return;
      }
      case 'PUT': {
        const revision = await bucket.put(requiredHeader(msg, KV_HEADER.key), msg.data);
        msg.respond(EMPTY, { headers: { [KV_HEADER.revision]: String(revision) } });
        return;
      }
      case 'UPDATE':
        return this.#update(msg, bucket);
      case 'DEL':
        await bucket.delete(requiredHeader(msg, KV_HEADER.key));
        msg.respond();
        return;
      case 'KEYS':
        msg.respond(encodeJson(await bucket.keys(msg.headers?.[KV_HEADER.key])));
        return;
    }
  }

  async #update(msg: Msg, bucket: KvBucket): Promise<void> {
    const key = requiredHeader(msg, KV_HEADER.key);
    const raw = requiredHeader(msg, KV_HEADER.revision);
    // Plain decimal digits only: Number() would also take "0x10" or "1e3".
    const expected = /^[0-9]+$/.test(raw) ? Number(raw) : Number.NaN;
    assertRevision(expected);
    const revision = await bucket.update(key, msg.data, expected);
    if (revision === null) {
      // The port reports a lost race as null; on the wire it is a typed answer the client turns back.
      throw new KvConflictError(`${bucket.name}/${key} is no longer at revision ${expected}`, {
        hint: 'read the key again and retry the update',
      });
    }
    msg.respond(EMPTY, { headers: { [KV_HEADER.revision]: String(revision) } });
  }

  async #watch(msg: Msg, name: string): Promise<void> {
    const inbox = requiredHeader(msg, KV_HEADER.watch);
    assertPublishSubject(inbox);
    if (this.#watches.size >= this.#maxWatches) {
      throw new KvUnavailableError(`the key-value service already serves ${this.#maxWatches} watches`, {
        hint: 'stop watches that are no longer needed, or raise kvServiceMaxWatches',
      });
    }
    if (this.#watches.has(inbox)) {
      throw new InvalidArgumentError(`a watch already delivers to ${inbox}`, {
        hint: 'use a new inbox for every watch',
      });
    }
    if (!this.#lattice.hasInterest(inbox)) {
      throw new InvalidArgumentError(`nothing is subscribed to the watch inbox ${inbox}`, {
        hint: 'subscribe to the inbox before asking for the watch',
      });
    }
    const filter = msg.headers?.[KV_HEADER.key] ?? '>';
    const replay = msg.headers?.[KV_HEADER.replay] !== 'false';
    // Taken before the first await, so that concurrent requests cannot pass the bound together.
    const served: ServedWatch = { inbox, bucket: name, live: undefined, stopped: false };
    this.#watches.set(inbox, served);
    try {
      const bucket = await this.#conn.kv(name);
      const live = await bucket.watch({ key: filter, replay: false });
      served.live = live;
      const current = replay ? await this.#current(bucket, filter) : [];
      if (served.stopped) {
        // Dropped meanwhile (unwatched, its inbox gone, the service closing) before `live` was known.
        live.stop();
        throw new KvUnavailableError(`the watch of ${name} for ${inbox} ended while it started`, {
          hint: 'start the watch again',
        });
      }
      msg.respond();
      for (const entry of current) this.#deliver(served, entry.value, entryHeaders(entry));
      this.#deliver(served, EMPTY, { [KV_HEADER.marker]: 'replayed' });
      void this.#pump(served, live, current);
    } catch (err) {
      this.#drop(served);
      throw err;
    }
  }

  /**
   * The current value of every matching key, oldest first. Read after the live watch opened, so a
   * change in between shows up in both; `#pump` leaves out the live copy.
   */
  async #current(bucket: KvBucket, filter: string): Promise<KvEntry[]> {
    const entries = await Promise.all((await bucket.keys(filter)).map((key) => bucket.get(key)));
    return entries.filter((e): e is KvEntry => e !== null).sort((a, b) => a.revision - b.revision);
  }

  async #pump(served: ServedWatch, live: KvWatch, replayed: readonly KvEntry[]): Promise<void> {
    let seen: Map<string, number> | undefined = new Map(replayed.map((e) => [e.key, e.revision]));
    const newest = replayed.reduce((max, e) => Math.max(max, e.revision), 0);
    let error: unknown;
    try {
      for await (const entry of live) {
        if (served.stopped) return;
        if (seen !== undefined) {
          // Revisions only grow: past the newest replayed one, no live entry can repeat the replay.
          if (entry.revision > newest) seen = undefined;
          else if (entry.revision <= (seen.get(entry.key) ?? 0)) continue;
        }
        if (!this.#deliver(served, entry.value, entryHeaders(entry))) return;
      }
    } catch (err) {
      error = err;
    }
    this.#end(served, error);
  }

  /** Publishes to the watch's inbox; drops the watch and says false when nobody is there any more. */
  #deliver(served: ServedWatch, data: Uint8Array, headers: MsgHeaders): boolean {
    if (served.stopped) return false;
    if (!this.#lattice.hasInterest(served.inbox)) {
      this.#drop(served);
      return false;
    }
    try {
      this.#conn.publish(served.inbox, data, { headers });
      return true;
    } catch (err) {
      // An entry too large for a message: the client learns why its watch ended.
      this.#end(served, err);
      return false;
    }
  }

  /** Tells the client the watch is over (why, when it failed), then drops it. */
  #end(served: ServedWatch, error?: unknown): void {
    if (served.stopped) return;
    const headers: Record<string, string> = { [KV_HEADER.marker]: 'end' };
    if (error !== undefined) headers[KV_HEADER.error] = JSON.stringify(toErrorJSON(error, 'KV_UNAVAILABLE'));
    this.#drop(served);
    if (this.#conn.isClosed || !this.#lattice.hasInterest(served.inbox)) return;
    try {
      this.#conn.publish(served.inbox, EMPTY, { headers });
    } catch {
      // The connection closed under us: the client's subscription ends with it.
    }
  }

  #drop(served: ServedWatch): void {
    if (served.stopped) return;
    served.stopped = true;
    served.live?.stop();
    this.#watches.delete(served.inbox);
  }

  #sweepWatches(): void {
    // The lattice was closed without the service: nothing left to sweep.
    if (this.#conn.isClosed) clearInterval(this.#sweep);
    for (const served of [...this.#watches.values()]) {
      if (this.#conn.isClosed || !this.#lattice.hasInterest(served.inbox)) this.#drop(served);
    }
  }

  #fail(msg: Msg, err: unknown): void {
    const error = JSON.stringify(toErrorJSON(err, 'KV_UNAVAILABLE'));
    try {
      msg.respond(EMPTY, { headers: { [KV_HEADER.error]: error } });
    } catch {
      // The connection closed under us: the client's request ends with REQUEST_TIMEOUT or LATTICE_CLOSED.
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const served of [...this.#watches.values()]) this.#end(served);
    await this.#conn.close();
  }
}
