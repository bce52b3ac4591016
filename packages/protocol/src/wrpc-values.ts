/**
 * What the wRPC value codec and its compiled form share: the public shapes of encoded and decoded
 * values, facts about WIT types, and the byte writer.
 */
import type { WitFuture, WitPrimitiveKind, WitStream, WitType } from './wit-types.ts';

/** The index path of a nested value, e.g. `[0, 1]` → subject `<inbox>.results.0.1`. */
export type WrpcPath = readonly number[];

export interface WrpcPending {
  readonly tag: 'pending';
  readonly path: WrpcPath;
}

export interface WrpcReady<T = unknown> {
  readonly tag: 'ready';
  readonly val: T;
}

/** How a decoded `stream<T>` (`val` is the items) or `future<T>` looks in JavaScript. */
export type WrpcAsyncValue<T = unknown> = WrpcReady<T> | WrpcPending;

export interface WrpcDeferred {
  /** Absolute index path: the nested subject suffix where this value's contents travel. */
  readonly path: WrpcPath;
  readonly type: WitStream | WitFuture;
  /**
   * Encoding only: the JavaScript value given for the stream or future (an async iterable, a promise,
   * `{ tag: 'pending' }`, or a complete but empty stream, which cannot travel inline and must be sent
   * as a single end-of-stream chunk on the nested subject).
   */
  readonly value?: unknown;
}

export interface WrpcEncoded {
  readonly bytes: Uint8Array;
  readonly deferred: readonly WrpcDeferred[];
}

export interface WrpcDecodeOptions {
  /** Largest input accepted, and largest declared string/byte length. Default `wrpcMaxValueBytes`. */
  readonly maxValueBytes?: number;
  /** Most elements of one list whose elements become JavaScript values. Default `wrpcMaxListLength`. */
  readonly maxListLength?: number;
  /** Index path of the value being decoded (nested values found in it extend it). Default `[]`. */
  readonly path?: WrpcPath;
  /** Accept bytes after the value instead of failing; `bytesRead` says where it ended. */
  readonly allowTrailing?: boolean;
  /**
   * What each decoded stream or future becomes, pending or complete: a transport hands out live
   * values (an async iterable, a promise) in place of `{ tag: 'pending' | 'ready' }`. Pending ones
   * are still listed in `deferred`.
   */
  readonly revive?: (value: WrpcAsyncValue, type: WitStream | WitFuture) => unknown;
}

export type WrpcDecodeFailure = 'truncated' | 'limit' | 'malformed';

export interface WrpcDecodedValue {
  readonly value: unknown;
  readonly deferred: readonly WrpcDeferred[];
  readonly bytesRead: number;
}

export interface WrpcDecodedTuple {
  readonly values: unknown[];
  readonly deferred: readonly WrpcDeferred[];
  readonly bytesRead: number;
}

// --- shared type facts -------------------------------------------------------------------------

export type NumericKind = Exclude<WitPrimitiveKind, 'bool' | 'char' | 'string'>;

type TypedArrayCtor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | BigUint64ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

// jco lifts lists of these element types into typed arrays (its `array_ty`).
export const TYPED_ARRAYS: Readonly<Record<NumericKind, TypedArrayCtor>> = {
  u8: Uint8Array,
  s8: Int8Array,
  u16: Uint16Array,
  s16: Int16Array,
  u32: Uint32Array,
  s32: Int32Array,
  u64: BigUint64Array,
  s64: BigInt64Array,
  f32: Float32Array,
  f64: Float64Array,
};

export function numericKind(type: WitType): NumericKind | undefined {
  return Object.hasOwn(TYPED_ARRAYS, type.kind) ? (type.kind as NumericKind) : undefined;
}

export const INT_RANGE: Readonly<
  Record<'u8' | 's8' | 'u16' | 's16' | 'u32' | 's32', readonly [number, number]>
> = {
  u8: [0, 0xff],
  s8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  s16: [-0x8000, 0x7fff],
  u32: [0, 0xffff_ffff],
  s32: [-0x8000_0000, 0x7fff_ffff],
};

export const U64_MAX = (1n << 64n) - 1n;
export const S64_MIN = -(1n << 63n);
export const S64_MAX = (1n << 63n) - 1n;
export const U32_MAX = 0xffff_ffff;

/**
 * jco writes `option<T>` as `T | undefined` unless `T` itself may be `undefined`; then it uses
 * `{ tag: 'some' | 'none' }`. `maybeUndefined(T)` is jco's `maybe_null`.
 */
export function maybeUndefined(type: WitType): boolean {
  return type.kind === 'option' && !maybeUndefined(type.type);
}

const minSizes = new WeakMap<WitType, number>();

/** The fewest bytes any value of `type` encodes to; bounds list counts against the remaining input. */
export function minEncodedSize(type: WitType): number {
  const cached = minSizes.get(type);
  if (cached !== undefined) return cached;
  let size: number;
  switch (type.kind) {
    case 'f32':
      size = 4;
      break;
    case 'f64':
      size = 8;
      break;
    case 'record':
      size = type.fields.reduce((sum, f) => sum + minEncodedSize(f.type), 0);
      break;
    case 'tuple':
      size = type.types.reduce((sum, t) => sum + minEncodedSize(t), 0);
      break;
    case 'variant':
      size = 1 + Math.min(...type.cases.map((c) => (c.type === undefined ? 0 : minEncodedSize(c.type))));
      break;
    case 'flags':
      size = Math.ceil(type.flags.length / 8);
      break;
    default:
      // Every other type starts with at least one byte: a raw byte, LEB128, a length or a tag.
      size = 1;
  }
  minSizes.set(type, size);
  return size;
}

// --- writing ----------------------------------------------------------------------------------

/** A writer's first buffer; one is kept between writers (it only holds bytes until `result`). */
const FIRST_BUFFER_BYTES = 1024;
/** A buffer that grew beyond this is not kept for the next writer. */
const KEPT_BUFFER_BYTES = 64 * 1024;
let spare: Uint8Array | undefined;

/**
 * Results up to this size are cut from a shared slab rather than given a buffer each: allocating a
 * buffer costs more than encoding a small value. A slab is never written again once cut, so a result
 * stays as it was written; it is a view, not a buffer of its own, and must not be transferred.
 */
const SLAB_RESULT_BYTES = 1024;
const SLAB_BYTES = 32 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

function copyOut(src: Uint8Array, length: number): Uint8Array {
  if (length > SLAB_RESULT_BYTES) return src.slice(0, length);
  if (slabUsed + length > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + length);
  out.set(src.subarray(0, length));
  // Eight-byte aligned, so that a reader may view a result as any typed array.
  slabUsed += (length + 7) & ~7;
  return out;
}

/**
 * Bytes written in order into a growing buffer. Allocating a buffer costs more than most values
 * take to encode, so a writer starts from the buffer the last one gave back.
 */
export class Writer {
  private buf: Uint8Array;
  length = 0;

  constructor() {
    this.buf = spare ?? new Uint8Array(FIRST_BUFFER_BYTES);
    spare = undefined;
  }

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.length++] = b;
  }

  bytes(src: Uint8Array): void {
    this.reserve(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
  }

  /** Unsigned LEB128 of a whole number below 2^53 (lengths, discriminants, u16, u32). */
  uleb(n: number): void {
    while (n >= 0x80) {
      this.byte((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.byte(n);
  }

  ulebBig(n: bigint): void {
    while (n >= 0x80n) {
      this.byte(Number(n & 0x7fn) | 0x80);
      n >>= 7n;
    }
    this.byte(Number(n));
  }

  /** Signed LEB128 of an s16/s32 (the shortest form, as every encoder writes it). */
  sleb(n: number): void {
    for (;;) {
      const b = n & 0x7f;
      n >>= 7;
      if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }

  slebBig(n: bigint): void {
    for (;;) {
      const b = Number(n & 0x7fn);
      n >>= 7n;
      if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
  }

  /** A length-prefixed UTF-8 string (well-formed: the caller checked). */
  string(value: string): void {
    // Up to 42 UTF-16 units encode to at most 126 bytes: the one-byte prefix is written after the text.
    if (value.length <= 42) {
      this.reserve(1 + value.length * 3);
      if (this.#ascii(value)) return;
      const { written } = utf8.encodeInto(value, this.buf.subarray(this.length + 1));
      this.buf[this.length] = written;
      this.length += 1 + written;
      return;
    }
    const bytes = utf8.encode(value);
    this.uleb(bytes.length);
    this.bytes(bytes);
  }

  /** Writes a short all-ASCII string with its length byte; false (nothing written) otherwise. */
  #ascii(value: string): boolean {
    const buf = this.buf;
    const start = this.length + 1;
    for (let i = 0; i < value.length; i += 1) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) return false;
      buf[start + i] = c;
    }
    buf[this.length] = value.length;
    this.length = start + value.length;
    return true;
  }

  f32(n: number): void {
    this.reserve(4);
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.length, 4);
    // wrpc writes the component model's canonical NaN; decoding accepts any NaN.
    if (Number.isNaN(n)) view.setUint32(0, 0x7fc0_0000, true);
    else view.setFloat32(0, n, true);
    this.length += 4;
  }

  f64(n: number): void {
    this.reserve(8);
    const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.length, 8);
    if (Number.isNaN(n)) view.setBigUint64(0, 0x7ff8_0000_0000_0000n, true);
    else view.setFloat64(0, n, true);
    this.length += 8;
  }

  /** The bytes written; the writer is done. */
  result(): Uint8Array {
    const out = copyOut(this.buf, this.length);
    if (this.buf.length <= KEPT_BUFFER_BYTES) spare = this.buf;
    this.buf = new Uint8Array(0);
    this.length = 0;
    return out;
  }
}

/**
 * A copy of `src[start, end)` in a plain Uint8Array of its own, whatever `src` is: a Node Buffer's
 * `slice` is a view, not a copy, and decoded values must neither alias a transport's buffer nor be
 * Buffers.
 */
export function copyBytes(src: Uint8Array, start = 0, end = src.length): Uint8Array {
  const out = new Uint8Array(end - start);
  out.set(src.subarray(start, end));
  return out;
}

export const utf8 = new TextEncoder();
// `ignoreBOM` keeps a leading U+FEFF, which is part of the string, instead of dropping it.
export const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

export function own(obj: Record<string, unknown>, key: string): unknown {
  // Own properties only: a missing field named `constructor` must not read Object.prototype's.
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export type ArrayLikeValue = ArrayLike<unknown>;

export function isArrayLike(value: unknown): value is ArrayLikeValue {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}
