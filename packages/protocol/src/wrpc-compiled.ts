/**
 * The wRPC value codec compiled per WIT type: a tree of closures made once per type, which encodes
 * and decodes without the reference codec's per-value dispatch and bookkeeping of the value path.
 *
 * A compiled codec accepts exactly the values and bytes the reference codec accepts and produces the
 * same bytes and values. It does not explain failures: anything it does not accept throws `MISS`, and
 * the caller runs the reference codec, whose error names the value path, the byte offset and the
 * reason. The wire index path (where a pending stream or future travels) is kept only inside values
 * that can hold one.
 */
import { witNameToJs } from './wit-types.ts';
import type { WitFuture, WitStream, WitType } from './wit-types.ts';
import { witHasAsync } from './wrpc.ts';
import {
  INT_RANGE,
  isArrayLike,
  isObject,
  maybeUndefined,
  minEncodedSize,
  numericKind,
  own,
  S64_MAX,
  S64_MIN,
  copyBytes,
  TYPED_ARRAYS,
  U32_MAX,
  U64_MAX,
  utf8,
  utf8Strict,
} from './wrpc-values.ts';
import type { WrpcAsyncValue, WrpcDecodeOptions, WrpcDeferred, Writer } from './wrpc-values.ts';

/** What a compiled codec throws for anything it does not accept: cheap, without a stack. */
export const MISS: unique symbol = Symbol('wrpc fast path missed');

function miss(): never {
  throw MISS;
}

// --- encoding ----------------------------------------------------------------------------------

export interface EncodeState {
  readonly out: Writer;
  /** The wire index path of the value being encoded, inside values that can hold a stream or future. */
  readonly wire: number[];
  readonly deferred: WrpcDeferred[];
}

type Encode = (value: unknown, s: EncodeState) => void;

const encoders = new WeakMap<WitType, Encode>();

export function compiledEncoder(type: WitType): Encode {
  let found = encoders.get(type);
  if (found === undefined) {
    found = compileEncoder(type);
    encoders.set(type, found);
  }
  return found;
}

/** Encodes `values` as a tuple of `types`; member `i` is at wire index `i`. */
export function compiledTupleEncoder(types: readonly WitType[]): Encode {
  const members = types.map(compiledEncoder);
  const tracked = types.map(witHasAsync);
  return (values, s) => {
    if (!Array.isArray(values) || values.length !== members.length) miss();
    for (let i = 0; i < members.length; i += 1) {
      if (tracked[i] === true) {
        s.wire.push(i);
        (members[i] as Encode)(values[i], s);
        s.wire.pop();
      } else {
        (members[i] as Encode)(values[i], s);
      }
    }
  };
}

function compileEncoder(type: WitType): Encode {
  switch (type.kind) {
    case 'bool':
      return (v, s) => {
        if (typeof v !== 'boolean') miss();
        s.out.byte(v ? 1 : 0);
      };
    case 'u8':
    case 's8':
    case 'u16':
    case 's16':
    case 'u32':
    case 's32': {
      const [min, max] = INT_RANGE[type.kind];
      const write =
        type.kind === 'u8' || type.kind === 's8'
          ? (w: Writer, n: number) => w.byte(n & 0xff)
          : type.kind[0] === 'u'
            ? (w: Writer, n: number) => w.uleb(n)
            : (w: Writer, n: number) => w.sleb(n);
      return (v, s) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) miss();
        write(s.out, v);
      };
    }
    case 'u64':
    case 's64': {
      const unsigned = type.kind === 'u64';
      const [min, max] = unsigned ? [0n, U64_MAX] : [S64_MIN, S64_MAX];
      return (v, s) => {
        const n = typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v;
        if (typeof n !== 'bigint' || n < min || n > max) miss();
        if (unsigned) s.out.ulebBig(n);
        else s.out.slebBig(n);
      };
    }
    case 'f32':
      return (v, s) => {
        if (typeof v !== 'number') miss();
        s.out.f32(v);
      };
    case 'f64':
      return (v, s) => {
        if (typeof v !== 'number') miss();
        s.out.f64(v);
      };
    case 'char':
      return (v, s) => {
        const cp = typeof v === 'string' ? v.codePointAt(0) : undefined;
        if (
          typeof v !== 'string' ||
          cp === undefined ||
          v.length !== (cp > 0xffff ? 2 : 1) ||
          !v.isWellFormed()
        ) {
          miss();
        }
        s.out.bytes(utf8.encode(v));
      };
    case 'string':
      return (v, s) => {
        if (typeof v !== 'string' || !v.isWellFormed()) miss();
        s.out.string(v);
      };
    case 'list':
      return listEncoder(type.element);
    case 'record': {
      const keys = type.fields.map((f) => witNameToJs(f.name));
      const known = new Set(keys);
      const fields = type.fields.map((f) => compiledEncoder(f.type));
      const tracked = type.fields.map((f) => witHasAsync(f.type));
      return (v, s) => {
        if (!isObject(v)) miss();
        for (const key in v) if (!known.has(key) && Object.hasOwn(v, key)) miss();
        for (let i = 0; i < fields.length; i += 1) {
          const field = own(v, keys[i] as string);
          if (tracked[i] === true) {
            s.wire.push(i);
            (fields[i] as Encode)(field, s);
            s.wire.pop();
          } else {
            (fields[i] as Encode)(field, s);
          }
        }
      };
    }
    case 'tuple':
      return compiledTupleEncoder(type.types);
    case 'variant': {
      const index = new Map(type.cases.map((c, i) => [c.name, i]));
      const payloads = type.cases.map((c) => (c.type === undefined ? undefined : compiledEncoder(c.type)));
      return (v, s) => {
        if (!isObject(v)) miss();
        const i = index.get(own(v, 'tag') as string);
        if (i === undefined) miss();
        s.out.uleb(i);
        payload(payloads[i], own(v, 'val'), s);
      };
    }
    case 'enum': {
      const index = new Map(type.cases.map((c, i) => [c, i]));
      return (v, s) => {
        const i = typeof v === 'string' ? index.get(v) : undefined;
        if (i === undefined) miss();
        s.out.uleb(i);
      };
    }
    case 'option': {
      const inner = compiledEncoder(type.type);
      if (maybeUndefined(type.type)) {
        return (v, s) => {
          if (!isObject(v)) miss();
          const tag = own(v, 'tag');
          if (tag === 'none' && own(v, 'val') === undefined) {
            s.out.byte(0);
          } else if (tag === 'some') {
            s.out.byte(1);
            inner(own(v, 'val'), s);
          } else {
            miss();
          }
        };
      }
      return (v, s) => {
        if (v === undefined || v === null) {
          s.out.byte(0);
        } else {
          s.out.byte(1);
          inner(v, s);
        }
      };
    }
    case 'result': {
      const ok = type.ok === undefined ? undefined : compiledEncoder(type.ok);
      const err = type.err === undefined ? undefined : compiledEncoder(type.err);
      return (v, s) => {
        if (!isObject(v)) miss();
        const tag = own(v, 'tag');
        if (tag === 'ok') {
          s.out.byte(0);
          payload(ok, own(v, 'val'), s);
        } else if (tag === 'err') {
          s.out.byte(1);
          payload(err, own(v, 'val'), s);
        } else {
          miss();
        }
      };
    }
    case 'flags': {
      const keys = type.flags.map(witNameToJs);
      const known = new Set(keys);
      const size = Math.ceil(keys.length / 8);
      return (v, s) => {
        if (v !== undefined && v !== null && !isObject(v)) miss();
        const obj = v ?? {};
        for (const key in obj) if (!known.has(key) && Object.hasOwn(obj, key)) miss();
        const bytes = new Uint8Array(size);
        for (let i = 0; i < keys.length; i += 1) {
          const bit = own(obj, keys[i] as string);
          if (bit !== undefined && typeof bit !== 'boolean') miss();
          if (bit === true) bytes[i >> 3] = (bytes[i >> 3] as number) | (1 << (i & 7));
        }
        s.out.bytes(bytes);
      };
    }
    case 'own':
    case 'borrow':
      return (v, s) => {
        if (!(v instanceof Uint8Array)) miss();
        s.out.uleb(v.length);
        s.out.bytes(v);
      };
    case 'stream': {
      const items = listEncoder(type.element);
      return (v, s) => {
        const val = isObject(v) && own(v, 'tag') === 'ready' ? own(v, 'val') : undefined;
        const ready = isArrayLike(v) ? v : isArrayLike(val) ? val : undefined;
        if (ready !== undefined && ready.length > 0) {
          items(ready, s);
        } else if (ready !== undefined || isObject(v) || typeof v === 'function') {
          // Empty or not yet complete: the elements follow on the nested subject.
          s.out.byte(0);
          s.deferred.push({ path: [...s.wire], type, value: v });
        } else {
          miss();
        }
      };
    }
    case 'future': {
      const ready = type.type === undefined ? undefined : compiledEncoder(type.type);
      return (v, s) => {
        if (isObject(v) && own(v, 'tag') === 'ready') {
          s.out.byte(1);
          payload(ready, own(v, 'val'), s);
        } else if (isObject(v) || typeof v === 'function') {
          s.out.byte(0);
          s.deferred.push({ path: [...s.wire], type, value: v });
        } else {
          miss();
        }
      };
    }
    default:
      return miss;
  }
}

/** The `val` of a variant case, result or ready future: absent when the case has no payload. */
function payload(encode: Encode | undefined, val: unknown, s: EncodeState): void {
  if (encode !== undefined) encode(val, s);
  else if (val !== undefined) miss();
}

function listEncoder(element: WitType): Encode {
  const kind = numericKind(element);
  const encode = compiledEncoder(element);
  const tracked = witHasAsync(element);
  return (v, s) => {
    if (kind === undefined ? !Array.isArray(v) : !isArrayLike(v)) miss();
    const items = v as ArrayLike<unknown>;
    if (items.length > U32_MAX) miss();
    s.out.uleb(items.length);
    if (kind === 'u8' && items instanceof Uint8Array) {
      s.out.bytes(items);
      return;
    }
    for (let i = 0; i < items.length; i += 1) {
      if (tracked) {
        s.wire.push(i);
        encode(items[i], s);
        s.wire.pop();
      } else {
        encode(items[i], s);
      }
    }
  };
}

// --- decoding ----------------------------------------------------------------------------------

export class DecodeState {
  pos = 0;
  readonly deferred: WrpcDeferred[] = [];
  readonly wire: number[];
  readonly bytes: Uint8Array;
  readonly maxValueBytes: number;
  readonly maxListLength: number;
  readonly revive: WrpcDecodeOptions['revive'];
  #view: DataView | undefined;

  constructor(bytes: Uint8Array, opts: WrpcDecodeOptions, maxValueBytes: number, maxListLength: number) {
    this.bytes = bytes;
    this.wire = opts.path === undefined ? [] : [...opts.path];
    this.maxValueBytes = maxValueBytes;
    this.maxListLength = maxListLength;
    this.revive = opts.revive;
  }

  get view(): DataView {
    this.#view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    return this.#view;
  }

  byte(): number {
    if (this.pos >= this.bytes.length) miss();
    return this.bytes[this.pos++] as number;
  }

  /** Unsigned LEB128 of at most `bits` (16 or 32) bits, as the reference codec bounds it. */
  uleb(bits: number): number {
    const b = this.byte();
    if (b < 0x80) return b;
    const maxBytes = Math.ceil(bits / 7);
    let result = b & 0x7f;
    let scale = 0x80;
    for (let i = 1; ; i += 1) {
      const next = this.byte();
      if (i === maxBytes - 1 && (next & 0x80 || next >= 1 << (bits - 7 * i))) miss();
      result += (next & 0x7f) * scale;
      if ((next & 0x80) === 0) return result;
      scale *= 0x80;
    }
  }

  /** A length prefix: within the value limit and, at `unitBytes` each, within the input. */
  length(unitBytes: number): number {
    const n = this.uleb(32);
    if (n > this.maxValueBytes || n * unitBytes > this.bytes.length - this.pos) miss();
    return n;
  }

  take(n: number): Uint8Array {
    const out = copyBytes(this.bytes, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  pending(type: WitStream | WitFuture): unknown {
    const path = Object.freeze([...this.wire]);
    this.deferred.push({ path, type });
    return this.revived({ tag: 'pending', path }, type);
  }

  revived(value: WrpcAsyncValue, type: WitStream | WitFuture): unknown {
    return this.revive === undefined ? value : this.revive(value, type);
  }
}

type Decode = (s: DecodeState) => unknown;

const decoders = new WeakMap<WitType, Decode>();

export function compiledDecoder(type: WitType): Decode {
  let found = decoders.get(type);
  if (found === undefined) {
    found = compileDecoder(type);
    decoders.set(type, found);
  }
  return found;
}

/** Decodes a tuple of `types`; member `i` is at wire index `i`. */
export function compiledTupleDecoder(types: readonly WitType[]): (s: DecodeState) => unknown[] {
  const members = types.map(compiledDecoder);
  const tracked = types.map(witHasAsync);
  return (s) => {
    const out = new Array<unknown>(members.length);
    for (let i = 0; i < members.length; i += 1) {
      if (tracked[i] === true) {
        s.wire.push(i);
        out[i] = (members[i] as Decode)(s);
        s.wire.pop();
      } else {
        out[i] = (members[i] as Decode)(s);
      }
    }
    return out;
  };
}

function compileDecoder(type: WitType): Decode {
  switch (type.kind) {
    case 'bool':
      return (s) => {
        const b = s.byte();
        if (b > 1) miss();
        return b === 1;
      };
    case 'u8':
      return (s) => s.byte();
    case 's8':
      return (s) => (s.byte() << 24) >> 24;
    case 'u16':
      return (s) => s.uleb(16);
    case 'u32':
      return (s) => s.uleb(32);
    case 's16':
      return (s) => sleb(s, 16);
    case 's32':
      return (s) => sleb(s, 32);
    case 'u64':
      return ulebBig;
    case 's64':
      return slebBig;
    case 'f32':
      return (s) => {
        if (s.bytes.length - s.pos < 4) miss();
        const n = s.view.getFloat32(s.pos, true);
        s.pos += 4;
        return n;
      };
    case 'f64':
      return (s) => {
        if (s.bytes.length - s.pos < 8) miss();
        const n = s.view.getFloat64(s.pos, true);
        s.pos += 8;
        return n;
      };
    case 'char':
      return char;
    case 'string':
      return string;
    case 'list':
      return listDecoder(type.element);
    case 'record': {
      const keys = type.fields.map((f) => witNameToJs(f.name));
      const fields = type.fields.map((f) => compiledDecoder(f.type));
      const tracked = type.fields.map((f) => witHasAsync(f.type));
      return (s) => {
        const out: Record<string, unknown> = {};
        for (let i = 0; i < fields.length; i += 1) {
          if (tracked[i] === true) {
            s.wire.push(i);
            out[keys[i] as string] = (fields[i] as Decode)(s);
            s.wire.pop();
          } else {
            out[keys[i] as string] = (fields[i] as Decode)(s);
          }
        }
        return out;
      };
    }
    case 'tuple':
      return compiledTupleDecoder(type.types);
    case 'variant': {
      const cases = type.cases.map((c) => ({
        tag: c.name,
        decode: c.type === undefined ? undefined : compiledDecoder(c.type),
      }));
      return (s) => {
        const c = cases[s.uleb(32)];
        if (c === undefined) miss();
        return c.decode === undefined ? { tag: c.tag } : { tag: c.tag, val: c.decode(s) };
      };
    }
    case 'enum': {
      const names = type.cases;
      return (s) => {
        const name = names[s.uleb(32)];
        if (name === undefined) miss();
        return name;
      };
    }
    case 'option': {
      const inner = compiledDecoder(type.type);
      const tagged = maybeUndefined(type.type);
      return (s) => {
        const tag = s.byte();
        if (tag > 1) miss();
        if (tag === 0) return tagged ? { tag: 'none' } : undefined;
        const val = inner(s);
        return tagged ? { tag: 'some', val } : val;
      };
    }
    case 'result': {
      const ok = type.ok === undefined ? undefined : compiledDecoder(type.ok);
      const err = type.err === undefined ? undefined : compiledDecoder(type.err);
      return (s) => {
        const tag = s.byte();
        if (tag > 1) miss();
        const decode = tag === 0 ? ok : err;
        return { tag: tag === 0 ? 'ok' : 'err', val: decode === undefined ? undefined : decode(s) };
      };
    }
    case 'flags': {
      const keys = type.flags.map(witNameToJs);
      const size = Math.ceil(keys.length / 8);
      const spare = keys.length % 8;
      return (s) => {
        if (s.bytes.length - s.pos < size) miss();
        const bytes = s.bytes.subarray(s.pos, s.pos + size);
        if (spare !== 0 && (bytes[size - 1] as number) >> spare !== 0) miss();
        s.pos += size;
        const out: Record<string, boolean> = {};
        for (let i = 0; i < keys.length; i += 1) {
          out[keys[i] as string] = (((bytes[i >> 3] as number) >> (i & 7)) & 1) === 1;
        }
        return out;
      };
    }
    case 'own':
    case 'borrow':
      return (s) => s.take(s.length(1));
    case 'stream': {
      const items = listDecoder(type.element);
      return (s) => {
        if (s.pos < s.bytes.length && s.bytes[s.pos] === 0) {
          s.pos += 1;
          return s.pending(type);
        }
        return s.revived({ tag: 'ready', val: items(s) }, type);
      };
    }
    case 'future': {
      const ready = type.type === undefined ? undefined : compiledDecoder(type.type);
      return (s) => {
        const tag = s.byte();
        if (tag > 1) miss();
        if (tag === 0) return s.pending(type);
        return s.revived({ tag: 'ready', val: ready === undefined ? undefined : ready(s) }, type);
      };
    }
    default:
      return miss;
  }
}

function sleb(s: DecodeState, bits: number): number {
  const maxBytes = Math.ceil(bits / 7);
  let result = 0;
  let scale = 1;
  for (let i = 0; ; i += 1) {
    const b = s.byte();
    if (i === maxBytes - 1) {
      if (b & 0x80) miss();
      const signBits = 0x7f & ~((1 << (bits - 7 * i - 1)) - 1);
      if ((b & signBits) !== 0 && (b & signBits) !== signBits) miss();
    }
    result += (b & 0x7f) * scale;
    scale *= 0x80;
    if ((b & 0x80) === 0) return b & 0x40 ? result - scale : result;
  }
}

function ulebBig(s: DecodeState): bigint {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; ; i += 1) {
    const b = s.byte();
    if (i === 9 && (b & 0x80 || b > 1)) miss();
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return result;
    shift += 7n;
  }
}

function slebBig(s: DecodeState): bigint {
  let result = 0n;
  let shift = 0n;
  for (let i = 0; ; i += 1) {
    const b = s.byte();
    if (i === 9 && (b & 0x80 || (b !== 0 && b !== 0x7f))) miss();
    result |= BigInt(b & 0x7f) << shift;
    shift += 7n;
    if ((b & 0x80) === 0) return b & 0x40 ? result - (1n << shift) : result;
  }
}

/** Strings this short and all ASCII are decoded by hand: TextDecoder's call costs more than they do. */
const SHORT_STRING = 64;

function string(s: DecodeState): string {
  const n = s.length(1);
  const start = s.pos;
  const end = start + n;
  s.pos = end;
  const bytes = s.bytes;
  if (n <= SHORT_STRING) {
    let ascii = true;
    for (let i = start; i < end; i += 1) {
      if ((bytes[i] as number) >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  try {
    return utf8Strict.decode(bytes.subarray(start, end));
  } catch {
    return miss();
  }
}

/** One UTF-8 encoded Unicode scalar value: shortest form, no surrogates, at most U+10FFFF. */
function char(s: DecodeState): string {
  const b0 = s.byte();
  if (b0 < 0x80) return String.fromCharCode(b0);
  const len = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc0 ? 2 : 0;
  if (len === 0 || b0 > 0xf4) miss();
  let cp = b0 & (0xff >> (len + 1));
  for (let i = 1; i < len; i += 1) {
    const b = s.byte();
    if ((b & 0xc0) !== 0x80) miss();
    cp = (cp << 6) | (b & 0x3f);
  }
  const min = len === 2 ? 0x80 : len === 3 ? 0x800 : 0x1_0000;
  if (cp < min || cp > 0x10_ffff || (cp >= 0xd800 && cp <= 0xdfff)) miss();
  return String.fromCodePoint(cp);
}

/** A list after its count: typed arrays for numbers (as jco), arrays otherwise. */
function listDecoder(element: WitType): Decode {
  const kind = numericKind(element);
  const decode = compiledDecoder(element);
  const min = minEncodedSize(element);
  const tracked = witHasAsync(element);
  return (s) => {
    const n = s.uleb(32);
    if ((kind === undefined && n > s.maxListLength) || n * min > s.bytes.length - s.pos) miss();
    if (kind === 'u8') return s.take(n);
    if (kind === 's8') return new Int8Array(s.take(n).buffer);
    if (kind !== undefined) {
      const out = new TYPED_ARRAYS[kind](n);
      for (let i = 0; i < n; i += 1) (out as unknown as unknown[])[i] = decode(s);
      return out;
    }
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i += 1) {
      if (tracked) {
        s.wire.push(i);
        out[i] = decode(s);
        s.wire.pop();
      } else {
        out[i] = decode(s);
      }
    }
    return out;
  };
}
