/**
 * The rules every key-value backend applies before it touches its store, so that a component sees the
 * same answer whichever backend a link chose.
 */
import type { Limits } from '@cirrus/protocol';
import {
  InvalidArgumentError,
  InvalidKeyError,
  KvNoSuchStoreError,
  KvNotAnIntegerError,
  KvUnavailableError,
  PayloadTooLargeError,
} from '@cirrus/protocol';

export type KeyValueLimits = Pick<
  Limits,
  | 'kvMaxKeyBytes'
  | 'kvMaxValueBytes'
  | 'kvListPageSize'
  | 'kvBatchMaxKeys'
  | 'kvMemoryMaxKeysPerBucket'
  | 'kvMemoryMaxBytes'
  | 'kvIncrementMaxAttempts'
  | 'kvRedisConnectTimeoutMs'
  | 'kvRedisCommandTimeoutMs'
  | 'kvRedisReconnectWaitMs'
>;

const encoder = new TextEncoder();

export function utf8Length(text: string): number {
  return encoder.encode(text).byteLength;
}

/** A key or identifier for a message: quoted, and cut so that a 64 KiB key cannot flood a log line. */
export function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

export function assertBucketId(bucket: string, limits: KeyValueLimits): void {
  // A lone surrogate cannot come from a component (WIT strings are Unicode), and Redis and NATS
  // would store it as U+FFFD: two identifiers would then share one bucket.
  if (typeof bucket !== 'string' || bucket === '' || !bucket.isWellFormed()) {
    throw new KvNoSuchStoreError(`bucket identifier ${shown(String(bucket))} is not valid`, {
      hint: 'open a bucket with a non-empty identifier, e.g. "default"',
    });
  }
  const bytes = utf8Length(bucket);
  if (bytes > limits.kvMaxKeyBytes) {
    throw new KvNoSuchStoreError(
      `bucket identifier ${shown(bucket)} is ${bytes} bytes long, above the ${limits.kvMaxKeyBytes}-byte limit`,
      { hint: 'use a shorter identifier or raise kvMaxKeyBytes' },
    );
  }
}

export function assertKey(bucket: string, key: string, limits: KeyValueLimits): void {
  if (typeof key !== 'string' || key === '' || !key.isWellFormed()) {
    throw new InvalidKeyError(`key ${shown(String(key))} in bucket ${shown(bucket)} is not valid`, {
      hint: 'keys are non-empty Unicode strings',
    });
  }
  const bytes = utf8Length(key);
  if (bytes > limits.kvMaxKeyBytes) {
    throw new InvalidKeyError(
      `key ${shown(key)} in bucket ${shown(bucket)} is ${bytes} bytes long, above the ${limits.kvMaxKeyBytes}-byte limit`,
      { hint: 'use shorter keys or raise kvMaxKeyBytes' },
    );
  }
}

export function assertValue(bucket: string, key: string, value: Uint8Array, limits: KeyValueLimits): void {
  if (!(value instanceof Uint8Array)) {
    throw new InvalidArgumentError(`value for ${shown(bucket)}/${shown(key)} is not bytes`);
  }
  if (value.byteLength > limits.kvMaxValueBytes) {
    throw new PayloadTooLargeError(
      `value of ${value.byteLength} bytes for ${shown(bucket)}/${shown(key)} exceeds the ${limits.kvMaxValueBytes}-byte limit`,
      { hint: 'store smaller values or raise kvMaxValueBytes' },
    );
  }
}

export function assertBatch(bucket: string, count: number, limits: KeyValueLimits): void {
  if (count > limits.kvBatchMaxKeys) {
    throw new InvalidArgumentError(
      `a batch of ${count} keys for bucket ${shown(bucket)} is above the ${limits.kvBatchMaxKeys}-key limit`,
      { hint: 'split the batch or raise kvBatchMaxKeys' },
    );
  }
}

export const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const U64_TEXT = /^(0|[1-9][0-9]{0,19})$/;

/** Parses a cursor a previous page handed out; anything else is the caller's mistake. */
export function parseCursor(bucket: string, cursor: string | undefined): bigint | undefined {
  if (cursor === undefined) return undefined;
  const value = typeof cursor === 'string' && U64_TEXT.test(cursor) ? BigInt(cursor) : -1n;
  if (value < 0n || value > U64_MAX) {
    throw new InvalidArgumentError(
      `cursor ${shown(String(cursor))} for bucket ${shown(bucket)} is not valid`,
      {
        hint: 'pass the cursor the previous list-keys call returned, or none to start',
      },
    );
  }
  return value;
}

export function assertDelta(bucket: string, key: string, delta: bigint): void {
  if (typeof delta !== 'bigint' || delta < I64_MIN || delta > I64_MAX) {
    throw new InvalidArgumentError(
      `increment of ${shown(bucket)}/${shown(key)} by ${String(delta)}: the delta is not a 64-bit integer`,
    );
  }
}

/** The canonical decimal form Redis INCRBY reads and writes: no `+`, no spaces, no leading zeros. */
const INTEGER_TEXT = /^(0|-?[1-9][0-9]{0,18})$/;
const decoder = new TextDecoder('utf-8', { fatal: false });

/** The integer a counter's stored value holds; a missing value is 0. */
export function parseCounter(bucket: string, key: string, value: Uint8Array | undefined): bigint {
  if (value === undefined) return 0n;
  const text = value.byteLength <= 20 ? decoder.decode(value) : '';
  const parsed = INTEGER_TEXT.test(text) ? BigInt(text) : undefined;
  if (parsed === undefined || parsed < I64_MIN || parsed > I64_MAX) throw notAnInteger(bucket, key);
  return parsed;
}

/** `current + delta`, refused when it would leave the signed 64-bit range (Redis refuses the same). */
export function addChecked(bucket: string, key: string, current: bigint, delta: bigint): bigint {
  const next = current + delta;
  if (next < I64_MIN || next > I64_MAX) throw overflow(bucket, key, delta);
  return next;
}

export function notAnInteger(bucket: string, key: string, cause?: unknown): KvNotAnIntegerError {
  return new KvNotAnIntegerError(
    `cannot increment ${shown(bucket)}/${shown(key)}: its value is not a decimal 64-bit integer`,
    { hint: 'increment only keys that hold a number written as decimal text, or no value', cause },
  );
}

export function overflow(bucket: string, key: string, delta: bigint, cause?: unknown): KvNotAnIntegerError {
  return new KvNotAnIntegerError(
    `cannot increment ${shown(bucket)}/${shown(key)} by ${delta}: the result would leave the 64-bit range`,
    { hint: 'counters hold signed 64-bit integers', cause },
  );
}

export function encodeCounter(value: bigint): Uint8Array {
  return encoder.encode(value.toString());
}

export function closedError(kind: string): KvUnavailableError {
  return new KvUnavailableError(`the ${kind} key-value backend is closed`, {
    hint: 'the provider or link that owned it was stopped',
  });
}
