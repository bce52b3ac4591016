/**
 * The embedded default: buckets in this process's memory, gone when the host stops. Bounded, because
 * components fill it: at most `kvMemoryMaxKeysPerBucket` keys per bucket and `kvMemoryMaxBytes` of keys
 * plus values in all buckets together; a write past either fails with KV_STORE_FULL and changes
 * nothing.
 *
 * Every operation checks, computes and writes without awaiting in between, so on Node's single thread
 * it is atomic — increment included — without locks.
 */
import { KvStoreFullError } from '@cirrus/protocol';
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
  utf8Length,
} from './rules.ts';

interface Slot {
  value: Uint8Array;
  /** Key plus value bytes, what the slot counts against kvMemoryMaxBytes. */
  bytes: number;
  /**
   * When the key was added. A Map iterates in insertion order and an overwrite keeps its place, so the
   * entries are always in ascending `seq`: a cursor is the `seq` of the last key handed out, and keys
   * that stay put are neither skipped nor repeated whatever else is added or deleted meanwhile.
   */
  seq: number;
}

/**
 * Values go in and out as plain copies: the caller may reuse its buffer, must not be able to change
 * what is stored, and gets a Uint8Array even if it stored a Buffer.
 */
const copy = (value: Uint8Array | undefined): Uint8Array | undefined =>
  value === undefined ? undefined : new Uint8Array(value);

class MemoryBackend implements KeyValueBackend {
  readonly kind = 'memory';
  readonly #limits: KeyValueLimits;
  readonly #buckets = new Map<string, Map<string, Slot>>();
  #bytes = 0;
  #seq = 0;
  #closed = false;

  constructor(limits: KeyValueLimits) {
    this.#limits = limits;
  }

  #open(bucket: string): Map<string, Slot> | undefined {
    if (this.#closed) throw closedError(this.kind);
    assertBucketId(bucket, this.#limits);
    return this.#buckets.get(bucket);
  }

  #key(bucket: string, key: string): void {
    assertKey(bucket, key, this.#limits);
  }

  async open(bucket: string): Promise<void> {
    this.#open(bucket);
  }

  async get(bucket: string, key: string): Promise<Uint8Array | undefined> {
    const slots = this.#open(bucket);
    this.#key(bucket, key);
    return copy(slots?.get(key)?.value);
  }

  async set(bucket: string, key: string, value: Uint8Array): Promise<void> {
    await this.setMany(bucket, [[key, value]]);
  }

  async delete(bucket: string, key: string): Promise<void> {
    await this.deleteMany(bucket, [key]);
  }

  async exists(bucket: string, key: string): Promise<boolean> {
    const slots = this.#open(bucket);
    this.#key(bucket, key);
    return slots?.has(key) ?? false;
  }

  async listKeys(bucket: string, cursor?: string): Promise<KeyPage> {
    const slots = this.#open(bucket);
    const after = parseCursor(bucket, cursor) ?? 0n;
    const keys: string[] = [];
    if (slots === undefined) return { keys };
    let last = 0;
    for (const [key, slot] of slots) {
      if (BigInt(slot.seq) <= after) continue;
      // One more key than fits means there is a next page, and the cursor says where it starts.
      if (keys.length === this.#limits.kvListPageSize) return { keys, cursor: String(last) };
      keys.push(key);
      last = slot.seq;
    }
    return { keys };
  }

  async increment(bucket: string, key: string, delta: bigint): Promise<bigint> {
    const slots = this.#open(bucket);
    this.#key(bucket, key);
    assertDelta(bucket, key, delta);
    const next = addChecked(bucket, key, parseCounter(bucket, key, slots?.get(key)?.value), delta);
    this.#write(bucket, [[key, encodeCounter(next)]]);
    return next;
  }

  async getMany(bucket: string, keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const slots = this.#open(bucket);
    assertBatch(bucket, keys.length, this.#limits);
    for (const key of keys) this.#key(bucket, key);
    return keys.map((key) => copy(slots?.get(key)?.value));
  }

  async setMany(bucket: string, entries: readonly (readonly [string, Uint8Array])[]): Promise<void> {
    this.#open(bucket);
    assertBatch(bucket, entries.length, this.#limits);
    for (const [key, value] of entries) {
      this.#key(bucket, key);
      assertValue(bucket, key, value, this.#limits);
    }
    this.#write(bucket, entries);
  }

  async deleteMany(bucket: string, keys: readonly string[]): Promise<void> {
    const slots = this.#open(bucket);
    assertBatch(bucket, keys.length, this.#limits);
    for (const key of keys) this.#key(bucket, key);
    if (slots === undefined) return;
    for (const key of keys) {
      const slot = slots.get(key);
      if (slot === undefined) continue;
      slots.delete(key);
      this.#bytes -= slot.bytes;
    }
    // An empty bucket holds no memory: identifiers that components open and abandon do not pile up.
    if (slots.size === 0) this.#buckets.delete(bucket);
  }

  /** Writes validated entries all together, or none when they would not fit. */
  #write(bucket: string, entries: readonly (readonly [string, Uint8Array])[]): void {
    const slots = this.#buckets.get(bucket) ?? new Map<string, Slot>();
    // The batch's own duplicates count once, with the last value, as they will be stored.
    const final = new Map<string, Uint8Array>();
    for (const [key, value] of entries) {
      final.delete(key);
      final.set(key, value);
    }
    let bytes = this.#bytes;
    let count = slots.size;
    for (const [key, value] of final) {
      const old = slots.get(key);
      bytes += utf8Length(key) + value.byteLength - (old?.bytes ?? 0);
      if (old === undefined) count++;
    }
    if (count > this.#limits.kvMemoryMaxKeysPerBucket) {
      throw new KvStoreFullError(
        `bucket ${shown(bucket)} of the in-memory key-value store is full: ${count} keys would exceed the ${this.#limits.kvMemoryMaxKeysPerBucket}-key limit`,
        { hint: 'delete keys, use another bucket, or raise kvMemoryMaxKeysPerBucket' },
      );
    }
    if (bytes > this.#limits.kvMemoryMaxBytes) {
      throw new KvStoreFullError(
        `the in-memory key-value store is full: writing to bucket ${shown(bucket)} would take it to ${bytes} bytes, above the ${this.#limits.kvMemoryMaxBytes}-byte limit`,
        { hint: 'delete keys, use the redis or nats backend, or raise kvMemoryMaxBytes' },
      );
    }
    for (const [key, value] of final) {
      const old = slots.get(key);
      const size = utf8Length(key) + value.byteLength;
      slots.set(key, { value: new Uint8Array(value), bytes: size, seq: old?.seq ?? ++this.#seq });
    }
    this.#bytes = bytes;
    if (slots.size > 0) this.#buckets.set(bucket, slots);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#buckets.clear();
    this.#bytes = 0;
  }
}

/** The in-memory backend; each call returns an independent store. */
export function createMemoryBackend(limits: KeyValueLimits): KeyValueBackend {
  return new MemoryBackend(limits);
}
