/**
 * The storage seam of the built-in key-value provider: what `wasi:keyvalue@0.2.0-draft` (store,
 * atomics, batch — the shapes wasmCloud 1.x forwards as `wrpc:keyvalue/*`) needs from a store, one
 * call per operation with the bucket identifier the component opened. The bridge that serves a
 * component's imports talks only to this interface; memory, Redis and NATS are adapters behind it, and
 * one contract suite holds all three to the same behaviour.
 *
 * Errors are typed, and the bridge maps them onto the WIT `error` variant:
 * - KV_NO_SUCH_STORE → `no-such-store`: the identifier cannot name a bucket of this backend;
 * - KV_ACCESS_DENIED → `access-denied`: the bucket is reserved, or the server refused the credentials;
 * - everything else → `other(<code>: <message>)`: INVALID_KEY (empty or too long key),
 *   PAYLOAD_TOO_LARGE (value above kvMaxValueBytes), INVALID_ARGUMENT (bad cursor, delta or batch size),
 *   KV_NOT_AN_INTEGER, KV_STORE_FULL, KV_CONFLICT, KV_UNAVAILABLE (the store is down or failed).
 */

/** One page of a bucket's keys. */
export interface KeyPage {
  keys: string[];
  /**
   * Pass it to the next `listKeys` call; absent on the last page. Always the decimal form of an
   * unsigned 64-bit integer, because wasi:keyvalue 0.2.0-draft carries the cursor as `option<u64>`.
   */
  cursor?: string;
}

export type BackendKind = 'memory' | 'redis' | 'nats';

export interface KeyValueBackend {
  readonly kind: BackendKind;
  /**
   * Checks that `bucket` names a bucket this backend can serve (on NATS it also opens, and if need be
   * creates, the JetStream bucket), so that `store.open` answers no-such-store or access-denied at
   * once rather than at the first operation. Every other call checks the identifier too.
   */
  open(bucket: string): Promise<void>;
  /** The value, or undefined when the key has none. */
  get(bucket: string, key: string): Promise<Uint8Array | undefined>;
  set(bucket: string, key: string, value: Uint8Array): Promise<void>;
  /** Deleting a key that has no value is not an error. */
  delete(bucket: string, key: string): Promise<void>;
  exists(bucket: string, key: string): Promise<boolean>;
  /**
   * Keys in pages of about `kvListPageSize` (on Redis the size is SCAN's hint, so a page can be a
   * little larger, or empty with a cursor). A key present for the whole listing is returned; one added
   * or removed meanwhile may or may not be. Order is unspecified.
   */
  listKeys(bucket: string, cursor?: string): Promise<KeyPage>;
  /**
   * Adds `delta` to the decimal integer stored under `key` atomically and returns the new value; a
   * key without a value counts as 0. Values are signed 64-bit decimal text without sign or leading
   * zeros except `-` for negatives (what Redis INCRBY accepts); anything else, or a result outside the
   * 64-bit range, fails with KV_NOT_AN_INTEGER and leaves the value unchanged.
   */
  increment(bucket: string, key: string, delta: bigint): Promise<bigint>;
  /** Values in the order of `keys`; undefined where a key has none. */
  getMany(bucket: string, keys: readonly string[]): Promise<(Uint8Array | undefined)[]>;
  /**
   * Stores every entry; a later entry for the same key wins. Everything is validated before anything
   * is written; the writes themselves are atomic on memory and Redis, one by one on NATS.
   */
  setMany(bucket: string, entries: readonly (readonly [string, Uint8Array])[]): Promise<void>;
  deleteMany(bucket: string, keys: readonly string[]): Promise<void>;
  /** Releases connections; later calls fail with KV_UNAVAILABLE. Idempotent. */
  close(): Promise<void>;
}
