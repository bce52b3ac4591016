/**
 * Buckets as JetStream key-value buckets on the host's own lattice connection (on the embedded lattice
 * that is its in-memory KV), or on a NATS connection the backend owns (wasmCloud's `cluster_uri`). A
 * bucket identifier is the JetStream bucket name itself, as in wasmCloud's NATS key-value provider, so
 * both see the same data: it must be a valid bucket name (letters, digits, `-`, `_`), and the host's
 * own buckets (`LATTICEDATA_*`, `CONFIGDATA_*`, `wadm_*`) are refused — links, config and wadm state
 * would otherwise be writable by any linked component (a connection of its own may reach the same
 * server).
 *
 * Keys that are valid NATS key-value keys (letters, digits, `-`, `/`, `_`, `.` without empty tokens)
 * are stored as they are; any other key is stored escaped: every UTF-8 byte outside `[-/_0-9A-Za-z]`
 * becomes `=XX` (upper-case hex). A stored key with a `=` is therefore always an escaped one, the
 * mapping is one-to-one, and `listKeys` turns keys back. Escaping can triple a key's length; NATS
 * bounds subjects by the server's `max_control_line` (4 KiB by default).
 *
 * Increment is a compare-and-swap loop on the bucket's revisions (`KvBucket.update`): read, add,
 * write only if nobody wrote since; a lost race reads again, up to `kvIncrementMaxAttempts` times.
 * Batches are single operations run concurrently, not a transaction.
 */
import type { KvBucket, LatticeConnection } from '@cirrus/lattice';
import {
  isCirrusError,
  KvAccessDeniedError,
  KvConflictError,
  KvNoSuchStoreError,
  KvUnavailableError,
} from '@cirrus/protocol';
import type { KeyPage, KeyValueBackend } from './backend.ts';
import type { KeyValueLimits } from './rules.ts';
import {
  addChecked,
  assertBatch,
  assertBucketId,
  assertDelta,
  assertKey,
  assertValue,
  closedError,
  encodeCounter,
  parseCounter,
  parseCursor,
  shown,
} from './rules.ts';

const BUCKET_NAME = /^[-_A-Za-z0-9]+$/;
/** The server keeps a stream in a directory named `KV_<bucket>`, and file names stop at 255 bytes. */
const MAX_BUCKET_NAME = 252;
const RESERVED = /^(LATTICEDATA_|CONFIGDATA_|wadm_)/i;

const VERBATIM_KEY = /^[-/_.0-9A-Za-z]+$/;
const UNESCAPED_BYTE = /^[-/_0-9A-Za-z]$/;
const ESCAPED_KEY = /^(?:[-/_0-9A-Za-z]|=[0-9A-F]{2})+$/;
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function encodeNatsKey(key: string): string {
  const tokensOk = !key.startsWith('.') && !key.endsWith('.') && !key.includes('..');
  if (VERBATIM_KEY.test(key) && tokensOk) return key;
  let out = '';
  for (const byte of encoder.encode(key)) {
    const char = String.fromCharCode(byte);
    out += UNESCAPED_BYTE.test(char) ? char : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The key a stored key stands for; a key another client stored in some other form is shown as it is. */
export function decodeNatsKey(stored: string): string {
  if (!stored.includes('=') || !ESCAPED_KEY.test(stored)) return stored;
  const bytes: number[] = [];
  for (let i = 0; i < stored.length; i++) {
    if (stored[i] === '=') {
      bytes.push(Number.parseInt(stored.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(stored.charCodeAt(i));
    }
  }
  try {
    const key = strictDecoder.decode(new Uint8Array(bytes));
    // Only the form encodeNatsKey writes counts: "=41" (an escaped "A") must not alias "A".
    return encodeNatsKey(key) === stored ? key : stored;
  } catch {
    return stored;
  }
}

const isClosedOrTimeout = (code: string): boolean =>
  code === 'LATTICE_CLOSED' || code === 'REQUEST_TIMEOUT' || code === 'NO_RESPONDERS';

/** Lattice errors in the provider's terms: a refusal is access-denied, an outage KV_UNAVAILABLE. */
function translate(err: unknown, what: string): Error {
  if (isCirrusError(err)) {
    if (err.code === 'LATTICE_PERMISSION_DENIED') {
      return new KvAccessDeniedError(`${what}: ${err.message}`, { hint: err.hint, cause: err });
    }
    if (isClosedOrTimeout(err.code)) {
      return new KvUnavailableError(`${what}: ${err.message}`, { hint: err.hint, cause: err });
    }
    // KV_UNAVAILABLE, and PAYLOAD_TOO_LARGE for a value above the server's max_payload, already say it.
    return err;
  }
  return new KvUnavailableError(`${what} failed: ${err instanceof Error ? err.message : String(err)}`, {
    cause: err,
  });
}

class NatsBackend implements KeyValueBackend {
  readonly kind = 'nats';
  readonly #lattice: LatticeConnection;
  readonly #limits: KeyValueLimits;
  readonly #ownsConnection: boolean;
  #closed = false;

  constructor(lattice: LatticeConnection, limits: KeyValueLimits, ownsConnection: boolean) {
    this.#lattice = lattice;
    this.#limits = limits;
    this.#ownsConnection = ownsConnection;
  }

  async #open(bucket: string): Promise<KvBucket> {
    if (this.#closed) throw closedError(this.kind);
    assertBucketId(bucket, this.#limits);
    if (!BUCKET_NAME.test(bucket) || bucket.length > MAX_BUCKET_NAME) {
      throw new KvNoSuchStoreError(`bucket identifier ${shown(bucket)} is not a valid NATS bucket name`, {
        hint: `on the nats backend a bucket identifier is a JetStream bucket name: letters, digits, - and _, at most ${MAX_BUCKET_NAME} characters`,
      });
    }
    if (RESERVED.test(bucket)) {
      throw new KvAccessDeniedError(`bucket ${shown(bucket)} is reserved for the lattice's own data`, {
        hint: 'buckets starting with LATTICEDATA_, CONFIGDATA_ or wadm_ hold links, config and wadm state; use another name',
      });
    }
    try {
      return await this.#lattice.kv(bucket);
    } catch (err) {
      throw translate(err, `opening NATS bucket ${shown(bucket)}`);
    }
  }

  #key(bucket: string, key: string): string {
    assertKey(bucket, key, this.#limits);
    return encodeNatsKey(key);
  }

  async #get(kv: KvBucket, bucket: string, key: string): Promise<Uint8Array | undefined> {
    try {
      const entry = await kv.get(this.#key(bucket, key));
      // A plain Uint8Array copy: nats.js may hand out a Buffer view of its message.
      return entry === null ? undefined : new Uint8Array(entry.value);
    } catch (err) {
      throw translate(err, `get of ${shown(bucket)}/${shown(key)}`);
    }
  }

  async open(bucket: string): Promise<void> {
    await this.#open(bucket);
  }

  async get(bucket: string, key: string): Promise<Uint8Array | undefined> {
    const kv = await this.#open(bucket);
    return this.#get(kv, bucket, key);
  }

  async set(bucket: string, key: string, value: Uint8Array): Promise<void> {
    await this.setMany(bucket, [[key, value]]);
  }

  async delete(bucket: string, key: string): Promise<void> {
    await this.deleteMany(bucket, [key]);
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    return (await this.get(bucket, key)) !== undefined;
  }

  /**
   * JetStream lists a bucket's keys only all at once, so a page is a slice of the sorted list and the
   * cursor is an offset into it: each page costs a full listing, and a key deleted before the offset
   * while paging shifts the rest, so one key may be skipped (one added before it may be repeated).
   */
  async listKeys(bucket: string, cursor?: string): Promise<KeyPage> {
    const kv = await this.#open(bucket);
    const offset = parseCursor(bucket, cursor) ?? 0n;
    let stored: string[];
    try {
      stored = (await kv.keys()).sort();
    } catch (err) {
      throw translate(err, `listing the keys of ${shown(bucket)}`);
    }
    if (offset >= BigInt(stored.length)) return { keys: [] };
    const start = Number(offset);
    const end = start + this.#limits.kvListPageSize;
    const keys = stored.slice(start, end).map(decodeNatsKey);
    return end < stored.length ? { keys, cursor: String(end) } : { keys };
  }

  async increment(bucket: string, key: string, delta: bigint): Promise<bigint> {
    const kv = await this.#open(bucket);
    const stored = this.#key(bucket, key);
    assertDelta(bucket, key, delta);
    const what = `increment of ${shown(bucket)}/${shown(key)}`;
    for (let attempt = 0; attempt < this.#limits.kvIncrementMaxAttempts; attempt++) {
      try {
        const entry = await kv.get(stored);
        const next = addChecked(bucket, key, parseCounter(bucket, key, entry?.value), delta);
        if ((await kv.update(stored, encodeCounter(next), entry?.revision ?? 0)) !== null) return next;
      } catch (err) {
        throw translate(err, what);
      }
    }
    throw new KvConflictError(
      `${what} lost the race to other writers ${this.#limits.kvIncrementMaxAttempts} times in a row`,
      { hint: 'the key is under heavy concurrent writes; retry, or raise kvIncrementMaxAttempts' },
    );
  }

  async getMany(bucket: string, keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const kv = await this.#open(bucket);
    assertBatch(bucket, keys.length, this.#limits);
    for (const key of keys) this.#key(bucket, key);
    return Promise.all(keys.map((key) => this.#get(kv, bucket, key)));
  }

  async setMany(bucket: string, entries: readonly (readonly [string, Uint8Array])[]): Promise<void> {
    const kv = await this.#open(bucket);
    assertBatch(bucket, entries.length, this.#limits);
    const final = new Map<string, [string, Uint8Array]>();
    for (const [key, value] of entries) {
      const stored = this.#key(bucket, key);
      assertValue(bucket, key, value, this.#limits);
      // Concurrent puts land in any order; the last entry for a key must win, so only it is sent.
      final.set(stored, [key, value]);
    }
    await Promise.all(
      [...final].map(async ([stored, [key, value]]) => {
        try {
          await kv.put(stored, value);
        } catch (err) {
          throw translate(err, `set of ${shown(bucket)}/${shown(key)}`);
        }
      }),
    );
  }

  async deleteMany(bucket: string, keys: readonly string[]): Promise<void> {
    const kv = await this.#open(bucket);
    assertBatch(bucket, keys.length, this.#limits);
    const stored = new Map(keys.map((key) => [this.#key(bucket, key), key]));
    await Promise.all(
      [...stored].map(async ([encoded, key]) => {
        try {
          await kv.delete(encoded);
        } catch (err) {
          throw translate(err, `delete of ${shown(bucket)}/${shown(key)}`);
        }
      }),
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The host's lattice connection stays open: only this backend's use of it ends.
    if (this.#ownsConnection) await this.#lattice.close();
  }
}

/**
 * The NATS backend on `lattice`: the host's connection (NATS JetStream, or the embedded lattice), or
 * with `ownsConnection` one opened for the backend alone, which closing the backend closes.
 */
export function createNatsBackend(
  lattice: LatticeConnection,
  limits: KeyValueLimits,
  options: { ownsConnection?: boolean } = {},
): KeyValueBackend {
  return new NatsBackend(lattice, limits, options.ownsConnection ?? false);
}
