/**
 * Values as bytes, for the one message a browser worker must read synchronously: the reply to a
 * blocking import call. Node's worker reads a message port synchronously; a Web Worker cannot, so the
 * host encodes the reply into shared memory instead. It carries what jco values are (numbers,
 * bigints, strings, typed arrays, arrays, plain objects) and nothing else, failing like structured
 * cloning does on a function or a class instance.
 */

const Tag = {
  Undefined: 0,
  Null: 1,
  False: 2,
  True: 3,
  Number: 4,
  BigInt: 5,
  String: 6,
  Bytes: 7,
  TypedArray: 8,
  Array: 9,
  Object: 10,
} as const;

const TYPED_ARRAYS = [
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
] as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Writer {
  #bytes = new Uint8Array(1024);
  #view = new DataView(this.#bytes.buffer);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#bytes.length) return;
    let size = this.#bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#bytes.subarray(0, this.length));
    this.#bytes = next;
    this.#view = new DataView(next.buffer);
  }

  u8(value: number): void {
    this.#room(1);
    this.#bytes[this.length++] = value;
  }

  u32(value: number): void {
    this.#room(4);
    this.#view.setUint32(this.length, value, true);
    this.length += 4;
  }

  f64(value: number): void {
    this.#room(8);
    this.#view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  raw(bytes: Uint8Array): void {
    this.u32(bytes.byteLength);
    this.#room(bytes.byteLength);
    this.#bytes.set(bytes, this.length);
    this.length += bytes.byteLength;
  }

  string(value: string): void {
    this.raw(encoder.encode(value));
  }

  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.length);
  }
}

function write(out: Writer, value: unknown): void {
  switch (typeof value) {
    case 'undefined':
      out.u8(Tag.Undefined);
      return;
    case 'boolean':
      out.u8(value ? Tag.True : Tag.False);
      return;
    case 'number':
      out.u8(Tag.Number);
      out.f64(value);
      return;
    case 'bigint':
      out.u8(Tag.BigInt);
      out.string(value.toString());
      return;
    case 'string':
      out.u8(Tag.String);
      out.string(value);
      return;
    case 'object':
      writeObject(out, value);
      return;
    default:
      throw new TypeError(`a ${typeof value} cannot be sent to an instance`);
  }
}

function writeObject(out: Writer, value: object | null): void {
  if (value === null) {
    out.u8(Tag.Null);
    return;
  }
  if (value instanceof Uint8Array) {
    out.u8(Tag.Bytes);
    out.raw(value);
    return;
  }
  if (ArrayBuffer.isView(value)) {
    const kind = TYPED_ARRAYS.findIndex((T) => value instanceof T);
    if (kind === -1) throw new TypeError(`a ${value.constructor.name} cannot be sent to an instance`);
    out.u8(Tag.TypedArray);
    out.u8(kind);
    out.raw(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    return;
  }
  if (Array.isArray(value)) {
    out.u8(Tag.Array);
    out.u32(value.length);
    for (const item of value) write(out, item);
    return;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`a ${value.constructor.name} instance cannot be sent to an instance`);
  }
  const entries = Object.entries(value);
  out.u8(Tag.Object);
  out.u32(entries.length);
  for (const [key, item] of entries) {
    out.string(key);
    write(out, item);
  }
}

export function encodeValue(value: unknown): Uint8Array {
  const out = new Writer();
  write(out, value);
  return out.bytes;
}

class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u8(): number {
    return this.#view.getUint8(this.#at++);
  }

  u32(): number {
    const value = this.#view.getUint32(this.#at, true);
    this.#at += 4;
    return value;
  }

  f64(): number {
    const value = this.#view.getFloat64(this.#at, true);
    this.#at += 8;
    return value;
  }

  /** A view into the input, which decodeValue's caller hands over. */
  raw(): Uint8Array {
    const length = this.u32();
    const view = this.#bytes.subarray(this.#at, this.#at + length);
    this.#at += length;
    return view;
  }

  string(): string {
    const length = this.u32();
    const text = decoder.decode(this.#bytes.subarray(this.#at, this.#at + length));
    this.#at += length;
    return text;
  }
}

function read(input: Reader): unknown {
  const tag = input.u8();
  switch (tag) {
    case Tag.Undefined:
      return undefined;
    case Tag.Null:
      return null;
    case Tag.False:
      return false;
    case Tag.True:
      return true;
    case Tag.Number:
      return input.f64();
    case Tag.BigInt:
      return BigInt(input.string());
    case Tag.String:
      return input.string();
    case Tag.Bytes:
      return input.raw();
    case Tag.TypedArray: {
      const Type = TYPED_ARRAYS[input.u8()];
      if (Type === undefined) throw new TypeError('unknown typed array in an encoded value');
      // A copy: the view may sit at an offset the element size does not divide.
      const bytes = input.raw().slice();
      return new Type(bytes.buffer, 0, bytes.byteLength / Type.BYTES_PER_ELEMENT);
    }
    case Tag.Array: {
      const length = input.u32();
      const items: unknown[] = [];
      for (let i = 0; i < length; i++) items.push(read(input));
      return items;
    }
    case Tag.Object: {
      const count = input.u32();
      const out: Record<string, unknown> = {};
      for (let i = 0; i < count; i++) {
        const key = input.string();
        // Defined, not assigned: a key such as `__proto__` stays a plain property.
        Object.defineProperty(out, key, {
          value: read(input),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    default:
      throw new TypeError(`unknown tag ${String(tag)} in an encoded value`);
  }
}

/** The value encoded in `bytes`; byte arrays in it are views into `bytes`, which the caller gives up. */
export function decodeValue(bytes: Uint8Array): unknown {
  return read(new Reader(bytes));
}
