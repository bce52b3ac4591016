/**
 * The reference wRPC value codec: it walks the WIT type for every value and keeps the path of the
 * value it is at, so that a failure names it (`handle.request.headers[2][0]`, byte offset, reason).
 * The compiled codec serves values it accepts; whatever it does not, this codec encodes, decodes or
 * explains, and it also reads and writes the chunks of pending streams.
 */
import { WrpcDecodeError, WrpcEncodeError } from './errors.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { witNameToJs, witTypeToString } from './wit-types.ts';
import type { WitFuture, WitStream, WitType } from './wit-types.ts';
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
  Writer,
} from './wrpc-values.ts';
import type {
  ArrayLikeValue,
  WrpcAsyncValue,
  WrpcDecodeFailure,
  WrpcDecodeOptions,
  WrpcDeferred,
  WrpcEncoded,
  WrpcPath,
  WrpcPending,
} from './wrpc-values.ts';

// --- encoding ----------------------------------------------------------------------------------

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  switch (typeof value) {
    case 'string':
      return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    default:
      return 'an object';
  }
}

export class Encoder {
  readonly out = new Writer();
  readonly deferred: WrpcDeferred[] = [];
  private readonly names: string[];
  private readonly wire: number[];

  constructor(path: WrpcPath, label: string) {
    this.wire = [...path];
    this.names = [label];
  }

  private fail(value: unknown, expected: string): WrpcEncodeError {
    const path = this.names.join('');
    return new WrpcEncodeError(`${path}: expected ${expected}, got ${describeValue(value)}`, {
      details: { path },
    });
  }

  private nested<T>(name: string, index: number | undefined, fn: () => T): T {
    this.names.push(name);
    if (index !== undefined) this.wire.push(index);
    try {
      return fn();
    } finally {
      this.names.pop();
      if (index !== undefined) this.wire.pop();
    }
  }

  tuple(types: readonly WitType[], values: unknown, labels?: readonly string[]): void {
    if (!Array.isArray(values) || values.length !== types.length) {
      throw new WrpcEncodeError(
        `${this.names.join('')}: expected ${types.length} value${types.length === 1 ? '' : 's'}, got ${describeValue(values)}`,
        { details: { path: this.names.join('') } },
      );
    }
    types.forEach((type, i) =>
      this.nested(labels?.[i] === undefined ? `[${i}]` : `.${labels[i]}`, i, () =>
        this.value(type, values[i]),
      ),
    );
  }

  value(type: WitType, value: unknown): void {
    const w = this.out;
    switch (type.kind) {
      case 'bool':
        if (typeof value !== 'boolean') throw this.fail(value, witTypeToString(type));
        w.byte(value ? 1 : 0);
        return;
      case 'u8':
      case 's8':
      case 'u16':
      case 's16':
      case 'u32':
      case 's32': {
        const [min, max] = INT_RANGE[type.kind];
        if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
          throw this.fail(value, `${type.kind} (a whole number from ${min} to ${max})`);
        }
        if (type.kind === 'u8' || type.kind === 's8') w.byte(value & 0xff);
        else if (type.kind[0] === 'u') w.uleb(value);
        else w.sleb(value);
        return;
      }
      case 'u64':
      case 's64': {
        const n = typeof value === 'number' && Number.isSafeInteger(value) ? BigInt(value) : value;
        const [min, max] = type.kind === 'u64' ? [0n, U64_MAX] : [S64_MIN, S64_MAX];
        if (typeof n !== 'bigint' || n < min || n > max) {
          throw this.fail(value, `${type.kind} (a bigint from ${min} to ${max})`);
        }
        if (type.kind === 'u64') w.ulebBig(n);
        else w.slebBig(n);
        return;
      }
      case 'f32':
      case 'f64':
        if (typeof value !== 'number') throw this.fail(value, `${type.kind} (a number)`);
        if (type.kind === 'f32') w.f32(value);
        else w.f64(value);
        return;
      case 'char': {
        const cp = typeof value === 'string' ? value.codePointAt(0) : undefined;
        if (
          typeof value !== 'string' ||
          cp === undefined ||
          value.length !== (cp > 0xffff ? 2 : 1) ||
          !value.isWellFormed()
        ) {
          throw this.fail(value, 'char (a string of one Unicode scalar value)');
        }
        w.bytes(utf8.encode(value));
        return;
      }
      case 'string': {
        // A lone surrogate has no UTF-8 form; TextEncoder would silently turn it into U+FFFD.
        if (typeof value !== 'string' || !value.isWellFormed()) {
          throw this.fail(value, 'string (well-formed UTF-16)');
        }
        const bytes = utf8.encode(value);
        if (bytes.length > U32_MAX) throw this.fail(value, 'a string below 4 GiB');
        w.uleb(bytes.length);
        w.bytes(bytes);
        return;
      }
      case 'list':
        this.list(type.element, value, type);
        return;
      case 'record': {
        if (!isObject(value)) throw this.fail(value, `${witTypeToString(type)} (an object)`);
        const keys = new Set(type.fields.map((f) => witNameToJs(f.name)));
        const extra = Object.keys(value).find((k) => !keys.has(k));
        if (extra !== undefined) {
          throw this.fail(value, `${witTypeToString(type)} without a field "${extra}"`);
        }
        type.fields.forEach((field, i) => {
          const key = witNameToJs(field.name);
          this.nested(`.${key}`, i, () => this.value(field.type, own(value, key)));
        });
        return;
      }
      case 'tuple':
        this.tuple(type.types, value);
        return;
      case 'variant': {
        const tag = isObject(value) ? own(value, 'tag') : undefined;
        const index = type.cases.findIndex((c) => c.name === tag);
        const c = type.cases[index];
        if (!isObject(value) || c === undefined) {
          const tags = type.cases.map((x) => `'${x.name}'`).join(', ');
          throw this.fail(value, `${witTypeToString(type)} ({ tag, val } with tag one of ${tags})`);
        }
        w.uleb(index);
        this.payload(`(${c.name})`, c.type, value);
        return;
      }
      case 'enum': {
        const index = typeof value === 'string' ? type.cases.indexOf(value) : -1;
        if (index < 0) {
          throw this.fail(
            value,
            `${witTypeToString(type)} (one of ${type.cases.map((x) => `'${x}'`).join(', ')})`,
          );
        }
        w.uleb(index);
        return;
      }
      case 'option': {
        if (maybeUndefined(type.type)) {
          const tag = isObject(value) ? own(value, 'tag') : undefined;
          if (tag === 'none' && isObject(value) && own(value, 'val') === undefined) {
            w.byte(0);
          } else if (tag === 'some' && isObject(value)) {
            w.byte(1);
            this.nested('?', undefined, () => this.value(type.type, own(value, 'val')));
          } else {
            throw this.fail(value, `${witTypeToString(type)} ({ tag: 'none' } or { tag: 'some', val })`);
          }
        } else if (value === undefined || value === null) {
          w.byte(0);
        } else {
          w.byte(1);
          this.nested('?', undefined, () => this.value(type.type, value));
        }
        return;
      }
      case 'result': {
        const tag = isObject(value) ? own(value, 'tag') : undefined;
        if (!isObject(value) || (tag !== 'ok' && tag !== 'err')) {
          throw this.fail(value, `${witTypeToString(type)} ({ tag: 'ok' | 'err', val })`);
        }
        w.byte(tag === 'ok' ? 0 : 1);
        this.payload(`.${tag}`, tag === 'ok' ? type.ok : type.err, value);
        return;
      }
      case 'flags': {
        if (value !== undefined && value !== null && !isObject(value)) {
          throw this.fail(value, `${witTypeToString(type)} (an object of booleans)`);
        }
        const obj = value ?? {};
        const keys = type.flags.map(witNameToJs);
        const known = new Set(keys);
        const extra = Object.keys(obj).find((k) => !known.has(k));
        if (extra !== undefined) throw this.fail(value, `${witTypeToString(type)} without a flag "${extra}"`);
        const bytes = new Uint8Array(Math.ceil(keys.length / 8));
        keys.forEach((key, i) => {
          const bit = own(obj, key);
          if (bit !== undefined && typeof bit !== 'boolean') {
            throw this.nested(`.${key}`, undefined, () => this.fail(bit, 'a boolean'));
          }
          if (bit === true) bytes[i >> 3] = (bytes[i >> 3] as number) | (1 << (i & 7));
        });
        w.bytes(bytes);
        return;
      }
      case 'own':
      case 'borrow':
        if (!(value instanceof Uint8Array)) throw this.fail(value, `${witTypeToString(type)} (a Uint8Array)`);
        w.uleb(value.length);
        w.bytes(value);
        return;
      case 'stream': {
        const items = isArrayLike(value)
          ? value
          : isObject(value) && own(value, 'tag') === 'ready' && isArrayLike(own(value, 'val'))
            ? (own(value, 'val') as ArrayLikeValue)
            : undefined;
        if (items !== undefined && items.length > 0) {
          this.list(type.element, items, type);
        } else if (items !== undefined || isObject(value) || typeof value === 'function') {
          // Empty or not yet complete: the elements follow on the nested subject.
          w.byte(0);
          this.deferred.push({ path: [...this.wire], type, value });
        } else {
          throw this.fail(
            value,
            `${witTypeToString(type)} (an array, { tag: 'ready', val } or a source object)`,
          );
        }
        return;
      }
      case 'future': {
        if (isObject(value) && own(value, 'tag') === 'ready') {
          w.byte(1);
          this.payload('.ready', type.type, value);
        } else if (isObject(value) || typeof value === 'function') {
          w.byte(0);
          this.deferred.push({ path: [...this.wire], type, value });
        } else {
          throw this.fail(value, `${witTypeToString(type)} ({ tag: 'ready', val } or a source object)`);
        }
        return;
      }
      default:
        throw new WrpcEncodeError(
          `${this.names.join('')}: unknown WIT type kind ${describeValue((type as { kind: unknown }).kind)}`,
        );
    }
  }

  /** Element `index` of a pending stream's chunk: nested values in it are indexed by `index`. */
  chunkElement(element: WitType, value: unknown, index: number): void {
    this.nested(`[${index}]`, index, () => this.value(element, value));
  }

  /** The `val` of a variant case, result or ready future; it must be absent when there is no payload. */
  private payload(name: string, type: WitType | undefined, value: Record<string, unknown>): void {
    const val = own(value, 'val');
    this.nested(name, undefined, () => {
      if (type !== undefined) this.value(type, val);
      else if (val !== undefined) throw this.fail(val, 'no payload (undefined)');
    });
  }

  private list(element: WitType, value: unknown, type: WitType): void {
    const w = this.out;
    const kind = numericKind(element);
    if (kind === undefined ? !Array.isArray(value) : !isArrayLike(value)) {
      throw this.fail(
        value,
        kind === undefined
          ? `${witTypeToString(type)} (an array)`
          : `${witTypeToString(type)} (an array or ${TYPED_ARRAYS[kind].name})`,
      );
    }
    const items = value as ArrayLikeValue;
    if (items.length > U32_MAX) throw this.fail(value, 'a list of at most 4294967295 elements');
    w.uleb(items.length);
    if (kind === 'u8' && items instanceof Uint8Array) {
      w.bytes(items);
      return;
    }
    for (let i = 0; i < items.length; i += 1) {
      this.nested(`[${i}]`, i, () => this.value(element, items[i]));
    }
  }
}

export function encodeWith(path: WrpcPath, label: string, fn: (e: Encoder) => void): WrpcEncoded {
  const e = new Encoder(path, label);
  fn(e);
  return { bytes: e.out.result(), deferred: e.deferred };
}

/** Encodes one value of `type`; `path` is its index path when it is itself a nested value. */
// --- decoding ----------------------------------------------------------------------------------

export class Decoder {
  pos = 0;
  readonly deferred: WrpcDeferred[] = [];
  private readonly view: DataView;
  private readonly names: string[];
  private readonly wire: number[];
  private readonly maxValueBytes: number;
  private readonly maxListLength: number;
  private readonly revive: WrpcDecodeOptions['revive'];

  private readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array, opts: WrpcDecodeOptions, label: string) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.names = [label];
    this.wire = [...(opts.path ?? [])];
    this.maxValueBytes = opts.maxValueBytes ?? DEFAULT_LIMITS.wrpcMaxValueBytes;
    this.maxListLength = opts.maxListLength ?? DEFAULT_LIMITS.wrpcMaxListLength;
    this.revive = opts.revive;
    if (bytes.length > this.maxValueBytes) {
      throw this.error(
        'limit',
        0,
        `${bytes.length} bytes exceed the ${this.maxValueBytes}-byte limit (wrpcMaxValueBytes)`,
      );
    }
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  error(reason: WrpcDecodeFailure, offset: number, message: string): WrpcDecodeError {
    const path = this.names.join('');
    return new WrpcDecodeError(`${path} (byte ${offset}): ${message}`, {
      details: { path, offset, reason },
      hint:
        reason === 'limit'
          ? 'raise CIRRUS_LIMIT_WRPC_MAX_VALUE_BYTES or CIRRUS_LIMIT_WRPC_MAX_LIST_LENGTH if the peer is trusted'
          : 'the peer sent bytes that do not match the WIT signature both sides must share',
    });
  }

  private truncated(start: number, what: string): WrpcDecodeError {
    return this.error('truncated', start, `input ends inside ${what}`);
  }

  nested<T>(name: string, index: number | undefined, fn: () => T): T {
    this.names.push(name);
    if (index !== undefined) this.wire.push(index);
    const result = fn();
    // Not in `finally`: after a failure the path must still name the failing value.
    this.names.pop();
    if (index !== undefined) this.wire.pop();
    return result;
  }

  private byte(start: number, what: string): number {
    if (this.pos >= this.bytes.length) throw this.truncated(start, what);
    return this.bytes[this.pos++] as number;
  }

  /** Unsigned LEB128 of at most 32 bits: ceil(bits/7) bytes, no bits beyond `bits`. */
  uleb(bits: 16 | 32, what: string): number {
    const start = this.pos;
    const maxBytes = Math.ceil(bits / 7);
    let result = 0;
    let scale = 1;
    for (let i = 0; ; i += 1) {
      const b = this.byte(start, what);
      if (i === maxBytes - 1) {
        if (b & 0x80) throw this.error('malformed', start, `${what}: LEB128 longer than ${maxBytes} bytes`);
        if (b >= 1 << (bits - 7 * i))
          throw this.error('malformed', start, `${what}: LEB128 overflows ${bits} bits`);
      }
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 0x80;
    }
  }

  private ulebBig(what: string): bigint {
    const start = this.pos;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; ; i += 1) {
      const b = this.byte(start, what);
      if (i === 9) {
        if (b & 0x80) throw this.error('malformed', start, `${what}: LEB128 longer than 10 bytes`);
        if (b > 1) throw this.error('malformed', start, `${what}: LEB128 overflows 64 bits`);
      }
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  }

  /**
   * Signed LEB128 of at most 32 bits. In the last allowed byte the bits above the value's sign bit
   * must repeat it (all 0 or all 1), as in the WebAssembly binary format.
   */
  private sleb(bits: 16 | 32, what: string): number {
    const start = this.pos;
    const maxBytes = Math.ceil(bits / 7);
    let result = 0;
    let scale = 1;
    for (let i = 0; ; i += 1) {
      const b = this.byte(start, what);
      if (i === maxBytes - 1) {
        if (b & 0x80) throw this.error('malformed', start, `${what}: LEB128 longer than ${maxBytes} bytes`);
        const signBits = 0x7f & ~((1 << (bits - 7 * i - 1)) - 1);
        if ((b & signBits) !== 0 && (b & signBits) !== signBits) {
          throw this.error('malformed', start, `${what}: LEB128 overflows ${bits} bits`);
        }
      }
      result += (b & 0x7f) * scale;
      scale *= 0x80;
      if ((b & 0x80) === 0) return b & 0x40 ? result - scale : result;
    }
  }

  private slebBig(what: string): bigint {
    const start = this.pos;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; ; i += 1) {
      const b = this.byte(start, what);
      if (i === 9) {
        if (b & 0x80) throw this.error('malformed', start, `${what}: LEB128 longer than 10 bytes`);
        if (b !== 0 && b !== 0x7f) throw this.error('malformed', start, `${what}: LEB128 overflows 64 bits`);
      }
      result |= BigInt(b & 0x7f) << shift;
      shift += 7n;
      if ((b & 0x80) === 0) return b & 0x40 ? result - (1n << shift) : result;
    }
  }

  /** A length prefix for `what`, checked against the limit and the input before anything is read. */
  private length(what: string, unitBytes: number): number {
    const start = this.pos;
    const n = this.uleb(32, `${what} length`);
    if (n > this.maxValueBytes) {
      throw this.error(
        'limit',
        start,
        `${what} of ${n} bytes exceeds the ${this.maxValueBytes}-byte limit (wrpcMaxValueBytes)`,
      );
    }
    if (n * unitBytes > this.remaining) throw this.truncated(start, `${what} of ${n} bytes`);
    return n;
  }

  private take(n: number): Uint8Array {
    const out = copyBytes(this.bytes, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  tuple(types: readonly WitType[], labels?: readonly string[]): unknown[] {
    return types.map((type, i) =>
      this.nested(labels?.[i] === undefined ? `[${i}]` : `.${labels[i]}`, i, () => this.value(type)),
    );
  }

  value(type: WitType): unknown {
    const start = this.pos;
    switch (type.kind) {
      case 'bool': {
        const b = this.byte(start, 'bool');
        if (b > 1) throw this.error('malformed', start, `bool byte must be 0 or 1, got ${b}`);
        return b === 1;
      }
      case 'u8':
        return this.byte(start, 'u8');
      case 's8':
        return (this.byte(start, 's8') << 24) >> 24;
      case 'u16':
      case 'u32':
        return this.uleb(type.kind === 'u16' ? 16 : 32, type.kind);
      case 's16':
      case 's32':
        return this.sleb(type.kind === 's16' ? 16 : 32, type.kind);
      case 'u64':
        return this.ulebBig('u64');
      case 's64':
        return this.slebBig('s64');
      case 'f32':
      case 'f64': {
        const size = type.kind === 'f32' ? 4 : 8;
        if (this.remaining < size) throw this.truncated(start, type.kind);
        const n = size === 4 ? this.view.getFloat32(this.pos, true) : this.view.getFloat64(this.pos, true);
        this.pos += size;
        return n;
      }
      case 'char':
        return this.char();
      case 'string': {
        const n = this.length('string', 1);
        try {
          return utf8Strict.decode(this.bytes.subarray(this.pos, (this.pos += n)));
        } catch {
          throw this.error('malformed', start, 'string is not valid UTF-8');
        }
      }
      case 'list':
        return this.list(type.element, start, 'list');
      case 'record': {
        const out: Record<string, unknown> = {};
        type.fields.forEach((field, i) => {
          const key = witNameToJs(field.name);
          out[key] = this.nested(`.${key}`, i, () => this.value(field.type));
        });
        return out;
      }
      case 'tuple':
        return this.tuple(type.types);
      case 'variant': {
        const index = this.uleb(32, 'variant discriminant');
        const c = type.cases[index];
        if (c === undefined) {
          throw this.error(
            'malformed',
            start,
            `unknown discriminant ${index} of ${witTypeToString(type)} (${type.cases.length} cases)`,
          );
        }
        if (c.type === undefined) return { tag: c.name };
        const payload = c.type;
        return { tag: c.name, val: this.nested(`(${c.name})`, undefined, () => this.value(payload)) };
      }
      case 'enum': {
        const index = this.uleb(32, 'enum discriminant');
        const name = type.cases[index];
        if (name === undefined) {
          throw this.error(
            'malformed',
            start,
            `unknown discriminant ${index} of ${witTypeToString(type)} (${type.cases.length} cases)`,
          );
        }
        return name;
      }
      case 'option': {
        const tag = this.byte(start, 'option');
        if (tag > 1) throw this.error('malformed', start, `option tag must be 0 or 1, got ${tag}`);
        const tagged = maybeUndefined(type.type);
        if (tag === 0) return tagged ? { tag: 'none' } : undefined;
        const val = this.nested('?', undefined, () => this.value(type.type));
        return tagged ? { tag: 'some', val } : val;
      }
      case 'result': {
        const tag = this.byte(start, 'result');
        if (tag > 1) throw this.error('malformed', start, `result tag must be 0 or 1, got ${tag}`);
        const name = tag === 0 ? 'ok' : 'err';
        const payload = tag === 0 ? type.ok : type.err;
        return {
          tag: name,
          val:
            payload === undefined ? undefined : this.nested(`.${name}`, undefined, () => this.value(payload)),
        };
      }
      case 'flags': {
        const size = Math.ceil(type.flags.length / 8);
        if (this.remaining < size) throw this.truncated(start, witTypeToString(type));
        const bytes = this.bytes.subarray(this.pos, this.pos + size);
        const spare = type.flags.length % 8;
        if (spare !== 0 && (bytes[size - 1] as number) >> spare !== 0) {
          // The Rust bindings refuse unknown bits too (bitflags `from_bits`), and so does jco.
          throw this.error(
            'malformed',
            start,
            `bits beyond the ${type.flags.length} flags of ${witTypeToString(type)} are set`,
          );
        }
        this.pos += size;
        const out: Record<string, boolean> = {};
        type.flags.forEach((flag, i) => {
          out[witNameToJs(flag)] = (((bytes[i >> 3] as number) >> (i & 7)) & 1) === 1;
        });
        return out;
      }
      case 'own':
      case 'borrow':
        return this.take(this.length('resource handle', 1));
      case 'stream': {
        if (this.remaining > 0 && this.bytes[this.pos] === 0) {
          this.pos += 1;
          return this.revived(this.pending(type), type);
        }
        return this.revived({ tag: 'ready', val: this.list(type.element, start, 'stream') }, type);
      }
      case 'future': {
        const tag = this.byte(start, 'future');
        if (tag > 1) throw this.error('malformed', start, `future tag must be 0 or 1, got ${tag}`);
        if (tag === 0) return this.revived(this.pending(type), type);
        const payload = type.type;
        return this.revived(
          {
            tag: 'ready',
            val:
              payload === undefined ? undefined : this.nested('.ready', undefined, () => this.value(payload)),
          },
          type,
        );
      }
      default:
        throw this.error(
          'malformed',
          start,
          `unknown WIT type kind ${describeValue((type as { kind: unknown }).kind)}`,
        );
    }
  }

  private revived(value: WrpcAsyncValue, type: WitStream | WitFuture): unknown {
    return this.revive === undefined ? value : this.revive(value, type);
  }

  private pending(type: WitStream | WitFuture): WrpcPending {
    const path = Object.freeze([...this.wire]);
    this.deferred.push({ path, type });
    return { tag: 'pending', path };
  }

  /** A list body after its count: typed arrays for numbers (as jco), arrays otherwise. */
  list(element: WitType, start: number, what: string): unknown {
    const n = this.uleb(32, `${what} length`);
    return this.elements(element, n, start, what, 0);
  }

  elements(element: WitType, n: number, start: number, what: string, firstIndex: number): unknown {
    const kind = numericKind(element);
    if (kind === undefined && n > this.maxListLength) {
      throw this.error(
        'limit',
        start,
        `${what} of ${n} elements exceeds the limit of ${this.maxListLength} (wrpcMaxListLength)`,
      );
    }
    // Every element takes at least this many bytes, so a count the input cannot hold is caught
    // before anything is allocated for it.
    const min = minEncodedSize(element);
    if (n * min > this.remaining) throw this.truncated(start, `${what} of ${n} elements`);
    if (kind === 'u8') return this.take(n);
    if (kind === 's8') return new Int8Array(this.take(n).buffer);
    if (kind !== undefined) {
      const out = new TYPED_ARRAYS[kind](n);
      for (let i = 0; i < n; i += 1) {
        (out as unknown as unknown[])[i] = this.nested(`[${i}]`, undefined, () => this.value(element));
      }
      return out;
    }
    const out: unknown[] = [];
    for (let i = 0; i < n; i += 1) {
      const index = firstIndex + i;
      out.push(this.nested(`[${index}]`, index, () => this.value(element)));
    }
    return out;
  }

  /** One UTF-8 encoded Unicode scalar value: shortest form, no surrogates, at most U+10FFFF. */
  private char(): string {
    const start = this.pos;
    const b0 = this.byte(start, 'char');
    if (b0 < 0x80) return String.fromCharCode(b0);
    const len = b0 >= 0xf0 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc0 ? 2 : 0;
    if (len === 0 || b0 > 0xf4)
      throw this.error('malformed', start, `char is not valid UTF-8 (lead byte 0x${b0.toString(16)})`);
    let cp = b0 & (0xff >> (len + 1));
    for (let i = 1; i < len; i += 1) {
      const b = this.byte(start, 'char');
      if ((b & 0xc0) !== 0x80) throw this.error('malformed', start, 'char is not valid UTF-8');
      cp = (cp << 6) | (b & 0x3f);
    }
    const min = len === 2 ? 0x80 : len === 3 ? 0x800 : 0x1_0000;
    if (cp < min || cp > 0x10_ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw this.error(
        'malformed',
        start,
        `char is not a Unicode scalar value in shortest UTF-8 (U+${cp.toString(16).toUpperCase()})`,
      );
    }
    return String.fromCodePoint(cp);
  }

  finish(allowTrailing: boolean | undefined): void {
    if (!allowTrailing && this.remaining > 0) {
      throw this.error(
        'malformed',
        this.pos,
        `${this.remaining} unexpected byte${this.remaining === 1 ? '' : 's'} after the value`,
      );
    }
  }
}
