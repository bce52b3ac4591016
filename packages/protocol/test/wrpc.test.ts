/**
 * The wRPC layer: WIT types and their parser, the value encoding wasmCloud 1.x peers exchange
 * (byte-exact, against vectors written from the component-model encoding and cross-checked with the
 * test vectors of wrpc / wasm-tokio), its robustness against hostile input, and the subjects, framing
 * and instance names of wRPC over NATS.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createWrpcByteStream,
  decodeWrpcParams,
  decodeWrpcResults,
  decodeWrpcStreamChunks,
  decodeWrpcTuple,
  decodeWrpcValue,
  DEFAULT_LIMITS,
  encodeWrpcParams,
  encodeWrpcResults,
  encodeWrpcStreamChunk,
  encodeWrpcTuple,
  encodeWrpcValue,
  isCirrusError,
  isWrpcTruncated,
  parseWit,
  parseWitInterface,
  parseWitType,
  wit,
  witFunctionToString,
  witInstanceName,
  witInterfaceKey,
  witNameToJs,
  witTypeToString,
  wrpcAsyncPaths,
  wrpcChunks,
  wrpcExportInstance,
  wrpcFirstMessageBudget,
  wrpcImportTarget,
  wrpcIndexSubject,
  wrpcInvocationHeaders,
  wrpcInvocationMessages,
  wrpcInvocationSubject,
  wrpcNestedParamsSubject,
  wrpcNestedResultsSubject,
  wrpcParamsSubject,
  wrpcPrefix,
  wrpcQueueGroup,
  wrpcResultsSubject,
  wrpcStreamEnd,
  wrpcStreamMessages,
  wrpcSubscribeSubject,
  WrpcDecodeError,
} from '../src/index.ts';
import type { CirrusError, WitFunction, WitType, WrpcPath } from '../src/index.ts';

// --- helpers -----------------------------------------------------------------------------------

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '');
  assert.equal(clean.length % 2, 0, `odd hex ${text}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  assert.fail('expected an exception');
}

function assertCode(err: unknown, code: string, message?: RegExp): CirrusError {
  assert.ok(isCirrusError(err), `expected a CirrusError, got ${String(err)}`);
  assert.equal(err.code, code, `unexpected code for: ${err.message}`);
  if (message !== undefined) assert.match(err.message, message);
  return err;
}

function decodeFailure(err: unknown, reason: string, message?: RegExp): CirrusError {
  const e = assertCode(err, 'WRPC_DECODE_FAILED', message);
  assert.equal(e.details?.['reason'], reason, `reason of: ${e.message}`);
  return e;
}

/** Deterministic PRNG (mulberry32), so a failing randomized case can be replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const source = { async *[Symbol.asyncIterator]() {} };

// --- byte-exact vectors ------------------------------------------------------------------------

interface Vector {
  name: string;
  type: WitType;
  value: unknown;
  bytes: string;
  /** What decoding gives back, when it differs from `value`. */
  decoded?: unknown;
}

const abc = wit.flags(['a', 'b', 'c'], 'abc');
const point = wit.record({ x: wit.s32, y: wit.s32 }, 'point');
const shape = wit.variant({ a: wit.u8, b: null, c: wit.string }, 'shape');
const color = wit.enum(['red', 'green', 'blue'], 'color');
const many = wit.enum(
  Array.from({ length: 200 }, (_, i) => `c${i}`),
  'many',
);

const VECTORS: Vector[] = [
  { name: 'bool false', type: wit.bool, value: false, bytes: '00' },
  { name: 'bool true', type: wit.bool, value: true, bytes: '01' },
  { name: 'u8 0', type: wit.u8, value: 0, bytes: '00' },
  { name: 'u8 255 is one raw byte, not LEB128', type: wit.u8, value: 255, bytes: 'ff' },
  { name: 's8 -1 is one two’s-complement byte', type: wit.s8, value: -1, bytes: 'ff' },
  { name: 's8 -128', type: wit.s8, value: -128, bytes: '80' },
  { name: 's8 127', type: wit.s8, value: 127, bytes: '7f' },
  { name: 'u16 127', type: wit.u16, value: 127, bytes: '7f' },
  { name: 'u16 128', type: wit.u16, value: 128, bytes: '80 01' },
  { name: 'u16 max', type: wit.u16, value: 65535, bytes: 'ff ff 03' },
  { name: 's16 63', type: wit.s16, value: 63, bytes: '3f' },
  { name: 's16 64 needs a second byte for the sign', type: wit.s16, value: 64, bytes: 'c0 00' },
  { name: 's16 -64', type: wit.s16, value: -64, bytes: '40' },
  { name: 's16 -65', type: wit.s16, value: -65, bytes: 'bf 7f' },
  { name: 's16 max', type: wit.s16, value: 32767, bytes: 'ff ff 01' },
  { name: 's16 min', type: wit.s16, value: -32768, bytes: '80 80 7e' },
  // wasm-tokio's LEB128 test vectors.
  { name: 'u32 624485 (wasm-tokio vector)', type: wit.u32, value: 624485, bytes: 'e5 8e 26' },
  { name: 's32 -123456 (wasm-tokio vector)', type: wit.s32, value: -123456, bytes: 'c0 bb 78' },
  { name: 'u32 max', type: wit.u32, value: 4294967295, bytes: 'ff ff ff ff 0f' },
  { name: 's32 max', type: wit.s32, value: 2147483647, bytes: 'ff ff ff ff 07' },
  { name: 's32 min', type: wit.s32, value: -2147483648, bytes: '80 80 80 80 78' },
  { name: 's32 -1', type: wit.s32, value: -1, bytes: '7f' },
  { name: 'u64 0', type: wit.u64, value: 0n, bytes: '00' },
  { name: 'u64 max', type: wit.u64, value: 2n ** 64n - 1n, bytes: 'ff ff ff ff ff ff ff ff ff 01' },
  { name: 'u64 given as a safe number', type: wit.u64, value: 300, bytes: 'ac 02', decoded: 300n },
  { name: 's64 -1', type: wit.s64, value: -1n, bytes: '7f' },
  { name: 's64 min', type: wit.s64, value: -(2n ** 63n), bytes: '80 80 80 80 80 80 80 80 80 7f' },
  { name: 's64 max', type: wit.s64, value: 2n ** 63n - 1n, bytes: 'ff ff ff ff ff ff ff ff ff 00' },
  { name: 'f32 1.5', type: wit.f32, value: 1.5, bytes: '00 00 c0 3f' },
  { name: 'f32 -0', type: wit.f32, value: -0, bytes: '00 00 00 80' },
  { name: 'f32 infinity', type: wit.f32, value: Infinity, bytes: '00 00 80 7f' },
  { name: 'f32 NaN is canonical', type: wit.f32, value: NaN, bytes: '00 00 c0 7f' },
  { name: 'f64 1.5', type: wit.f64, value: 1.5, bytes: '00 00 00 00 00 00 f8 3f' },
  { name: 'f64 NaN is canonical', type: wit.f64, value: NaN, bytes: '00 00 00 00 00 00 f8 7f' },
  { name: 'char ASCII', type: wit.char, value: 'a', bytes: '61' },
  { name: 'char two bytes', type: wit.char, value: 'é', bytes: 'c3 a9' },
  { name: 'char three bytes', type: wit.char, value: '€', bytes: 'e2 82 ac' },
  { name: 'char four bytes', type: wit.char, value: '😀', bytes: 'f0 9f 98 80' },
  { name: 'string empty', type: wit.string, value: '', bytes: '00' },
  { name: 'string', type: wit.string, value: 'hi', bytes: '02 68 69' },
  { name: 'string length counts UTF-8 bytes', type: wit.string, value: 'é€', bytes: '05 c3 a9 e2 82 ac' },
  { name: 'string keeps a leading BOM', type: wit.string, value: '\ufeffx', bytes: '04 ef bb bf 78' },
  {
    name: 'string of 200 bytes has a two-byte length',
    type: wit.string,
    value: 'x'.repeat(200),
    bytes: `c8 01 ${'78 '.repeat(200)}`,
  },
  {
    name: 'list<u8> is a length and raw bytes',
    type: wit.list(wit.u8),
    value: Uint8Array.of(1, 2, 3),
    bytes: '03 01 02 03',
  },
  {
    name: 'list<u8> from a plain array',
    type: wit.list(wit.u8),
    value: [1, 255],
    bytes: '02 01 ff',
    decoded: Uint8Array.of(1, 255),
  },
  { name: 'list<s8>', type: wit.list(wit.s8), value: Int8Array.of(-1, 2), bytes: '02 ff 02' },
  {
    name: 'list<u16> elements are LEB128',
    type: wit.list(wit.u16),
    value: Uint16Array.of(1, 300),
    bytes: '02 01 ac 02',
  },
  { name: 'list<s32>', type: wit.list(wit.s32), value: Int32Array.of(-1, 64), bytes: '02 7f c0 00' },
  { name: 'list<u64>', type: wit.list(wit.u64), value: BigUint64Array.of(1n, 128n), bytes: '02 01 80 01' },
  { name: 'list<s64>', type: wit.list(wit.s64), value: BigInt64Array.of(-2n), bytes: '01 7e' },
  { name: 'list<f32>', type: wit.list(wit.f32), value: Float32Array.of(1.5), bytes: '01 00 00 c0 3f' },
  {
    name: 'list<f64>',
    type: wit.list(wit.f64),
    value: Float64Array.of(-0),
    bytes: '01 00 00 00 00 00 00 00 80',
  },
  { name: 'list<u32> empty', type: wit.list(wit.u32), value: new Uint32Array(0), bytes: '00' },
  { name: 'list<bool> stays an array', type: wit.list(wit.bool), value: [true, false], bytes: '02 01 00' },
  { name: 'list<string>', type: wit.list(wit.string), value: ['a', 'bc'], bytes: '02 01 61 02 62 63' },
  { name: 'list<char>', type: wit.list(wit.char), value: ['a', '€'], bytes: '02 61 e2 82 ac' },
  {
    name: 'list<list<u8>>',
    type: wit.list(wit.list(wit.u8)),
    value: [Uint8Array.of(7), new Uint8Array(0)],
    bytes: '02 01 07 00',
  },
  { name: 'record: fields in order, no framing', type: point, value: { x: 1, y: -1 }, bytes: '01 7f' },
  {
    name: 'record field names are camelCase',
    type: wit.record({ 'content-type': wit.string, 'max-age': wit.option(wit.u32) }),
    value: { contentType: 'a', maxAge: 3 },
    bytes: '01 61 01 03',
  },
  // wrpc-transport's own codec test: (0x42u8, 0x42u32) → 42 42.
  {
    name: 'tuple<u8, u32> (wrpc vector)',
    type: wit.tuple(wit.u8, wit.u32),
    value: [0x42, 0x42],
    bytes: '42 42',
  },
  {
    name: 'tuple<string, bool>',
    type: wit.tuple(wit.string, wit.bool),
    value: ['a', true],
    bytes: '01 61 01',
  },
  { name: 'variant case 0 with payload', type: shape, value: { tag: 'a', val: 7 }, bytes: '00 07' },
  { name: 'variant case without payload has no val', type: shape, value: { tag: 'b' }, bytes: '01' },
  { name: 'variant case 2', type: shape, value: { tag: 'c', val: 'x' }, bytes: '02 01 78' },
  { name: 'enum', type: color, value: 'blue', bytes: '02' },
  { name: 'enum discriminant is LEB128', type: many, value: 'c150', bytes: '96 01' },
  { name: 'option none is undefined', type: wit.option(wit.u8), value: undefined, bytes: '00' },
  {
    name: 'option accepts null for none',
    type: wit.option(wit.u8),
    value: null,
    bytes: '00',
    decoded: undefined,
  },
  { name: 'option some', type: wit.option(wit.u8), value: 5, bytes: '01 05' },
  {
    name: 'option<option<T>> none is tagged (jco)',
    type: wit.option(wit.option(wit.u8)),
    value: { tag: 'none' },
    bytes: '00',
  },
  {
    name: 'option<option<T>> some(none)',
    type: wit.option(wit.option(wit.u8)),
    value: { tag: 'some', val: undefined },
    bytes: '01 00',
  },
  {
    name: 'option<option<T>> some(some)',
    type: wit.option(wit.option(wit.u8)),
    value: { tag: 'some', val: 3 },
    bytes: '01 01 03',
  },
  {
    name: 'option<option<option<T>>> is nullable again (jco)',
    type: wit.option(wit.option(wit.option(wit.u8))),
    value: { tag: 'some', val: undefined },
    bytes: '01 01 00',
  },
  {
    name: 'option<option<option<T>>> none',
    type: wit.option(wit.option(wit.option(wit.u8))),
    value: undefined,
    bytes: '00',
  },
  { name: 'result ok', type: wit.result(wit.u8, wit.string), value: { tag: 'ok', val: 1 }, bytes: '00 01' },
  {
    name: 'result err',
    type: wit.result(wit.u8, wit.string),
    value: { tag: 'err', val: 'x' },
    bytes: '01 01 78',
  },
  { name: 'result without payloads', type: wit.result(), value: { tag: 'err', val: undefined }, bytes: '01' },
  {
    name: 'result<_, E> ok',
    type: wit.result(undefined, wit.string),
    value: { tag: 'ok', val: undefined },
    bytes: '00',
  },
  // wrpc's Go bindings test: show-a and show-c of six flags → 0b101.
  { name: 'flags (wrpc Go vector)', type: abc, value: { a: true, b: false, c: true }, bytes: '05' },
  {
    name: 'flags may omit false ones',
    type: abc,
    value: { b: true },
    bytes: '02',
    decoded: { a: false, b: true, c: false },
  },
  {
    name: 'flags from undefined (jco)',
    type: abc,
    value: undefined,
    bytes: '00',
    decoded: { a: false, b: false, c: false },
  },
  {
    name: 'flags of 9 take 2 bytes',
    type: wit.flags(Array.from({ length: 9 }, (_, i) => `f${i}`)),
    value: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, i === 8])),
    bytes: '00 01',
  },
  {
    name: 'flags of 17 take 3 bytes (ceil(n/8), as the wasmtime runtime)',
    type: wit.flags(Array.from({ length: 17 }, (_, i) => `f${i}`)),
    value: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`f${i}`, i === 0 || i === 16])),
    bytes: '01 00 01',
  },
  {
    name: 'flag names are camelCase',
    type: wit.flags(['read', 'write-all']),
    value: { read: false, writeAll: true },
    bytes: '02',
  },
  {
    name: 'own handle is length-prefixed bytes',
    type: wit.own('blob'),
    value: Uint8Array.of(0xab, 0xcd),
    bytes: '02 ab cd',
  },
  { name: 'borrow handle', type: wit.borrow('blob'), value: new Uint8Array(0), bytes: '00' },
  {
    name: 'stream complete inline',
    type: wit.stream(wit.u8),
    value: { tag: 'ready', val: Uint8Array.of(1, 2) },
    bytes: '02 01 02',
  },
  {
    name: 'stream given as an array',
    type: wit.stream(wit.string),
    value: ['a'],
    bytes: '01 01 61',
    decoded: { tag: 'ready', val: ['a'] },
  },
  {
    name: 'stream pending',
    type: wit.stream(wit.u8),
    value: source,
    bytes: '00',
    decoded: { tag: 'pending', path: [] },
  },
  {
    name: 'stream complete but empty travels as pending',
    type: wit.stream(wit.u8),
    value: [],
    bytes: '00',
    decoded: { tag: 'pending', path: [] },
  },
  { name: 'future ready', type: wit.future(wit.u8), value: { tag: 'ready', val: 7 }, bytes: '01 07' },
  {
    name: 'future without payload ready',
    type: wit.future(),
    value: { tag: 'ready', val: undefined },
    bytes: '01',
  },
  {
    name: 'future pending',
    type: wit.future(wit.u8),
    value: Promise.resolve(7),
    bytes: '00',
    decoded: { tag: 'pending', path: [] },
  },
];

describe('wRPC value encoding: byte-exact vectors', () => {
  for (const v of VECTORS) {
    it(`${v.name}: ${witTypeToString(v.type)} ↔ ${v.bytes.trim()}`, () => {
      assert.equal(toHex(encodeWrpcValue(v.type, v.value).bytes), toHex(hex(v.bytes)));
      const decoded = decodeWrpcValue(v.type, hex(v.bytes));
      assert.deepEqual(decoded.value, 'decoded' in v ? v.decoded : v.value);
      assert.equal(decoded.bytesRead, hex(v.bytes).length);
    });
  }

  it('every kind of WIT type has a vector', () => {
    const kinds = new Set<string>();
    const visit = (t: WitType): void => {
      kinds.add(t.kind);
    };
    VECTORS.forEach((v) => visit(v.type));
    for (const kind of [
      'bool',
      's8',
      's16',
      's32',
      's64',
      'u8',
      'u16',
      'u32',
      'u64',
      'f32',
      'f64',
      'char',
      'string',
      'list',
      'record',
      'tuple',
      'variant',
      'enum',
      'option',
      'result',
      'flags',
      'own',
      'borrow',
      'stream',
      'future',
    ]) {
      assert.ok(kinds.has(kind), `no vector for ${kind}`);
    }
  });

  it('non-minimal LEB128 within the byte limit is accepted, as wasm-tokio does', () => {
    assert.equal(decodeWrpcValue(wit.u32, hex('80 00')).value, 0);
    assert.equal(decodeWrpcValue(wit.u32, hex('ff 80 80 80 00')).value, 127);
    assert.equal(decodeWrpcValue(wit.s32, hex('ff 7f')).value, -1);
    assert.equal(decodeWrpcValue(wit.u64, hex('80 80 80 80 80 80 80 80 80 00')).value, 0n);
  });

  it('decodes any NaN and keeps -0', () => {
    assert.ok(Number.isNaN(decodeWrpcValue(wit.f32, hex('01 00 80 ff')).value));
    assert.ok(Number.isNaN(decodeWrpcValue(wit.f64, hex('01 00 00 00 00 00 f0 7f')).value));
    assert.ok(Object.is(decodeWrpcValue(wit.f64, hex('00 00 00 00 00 00 00 80')).value, -0));
  });

  it('f32 values are rounded to single precision, as jco does', () => {
    const { bytes } = encodeWrpcValue(wit.f32, 0.1);
    assert.equal(decodeWrpcValue(wit.f32, bytes).value, Math.fround(0.1));
  });

  it('bytes decoded from a Node Buffer are plain Uint8Arrays of their own', () => {
    const type = wit.list(wit.list(wit.u8));
    const wire = Buffer.from(encodeWrpcValue(type, [Uint8Array.of(1, 2), Uint8Array.of(3)]).bytes);
    for (const input of [wire, Buffer.concat([wire, Buffer.of(0xff)])]) {
      const decoded = decodeWrpcValue(type, input, { allowTrailing: input !== wire }).value as Uint8Array[];
      for (const bytes of decoded) {
        assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
        assert.notEqual(bytes.buffer, input.buffer);
      }
      assert.deepEqual(decoded, [Uint8Array.of(1, 2), Uint8Array.of(3)]);
    }
    const stream = createWrpcByteStream();
    stream.push(wire);
    stream.push(new Uint8Array(0));
    assert.equal(Object.getPrototypeOf(stream.bytes()), Uint8Array.prototype);
  });
});

// --- tuples, functions and nested (async) values -------------------------------------------------

const greeter = parseWitInterface(`
  package acme:demo@0.1.0;
  interface greeter {
    greet: func(name: string) -> string;
  }
`);
const greet = greeter.functions.get('greet') as WitFunction;

describe('wRPC parameters and results', () => {
  it('encodes parameters and results as tuples', () => {
    assert.equal(toHex(encodeWrpcParams(greet, ['World']).bytes), '05 57 6f 72 6c 64');
    const results = encodeWrpcResults(greet, ['Hello, World!']);
    assert.equal(results.bytes[0], 13);
    assert.deepEqual(decodeWrpcResults(greet, results.bytes).values, ['Hello, World!']);
    assert.deepEqual(decodeWrpcParams(greet, hex('05 57 6f 72 6c 64')).values, ['World']);
  });

  it('a function without parameters or results encodes to no bytes', () => {
    const ping = wit.func('ping');
    assert.equal(encodeWrpcParams(ping, []).bytes.length, 0);
    assert.deepEqual(decodeWrpcResults(ping, new Uint8Array(0)).values, []);
  });

  it('a function returning result<T, E> has a one-element result tuple', () => {
    const fn = wit.func('get', { key: wit.string }, wit.result(wit.option(wit.list(wit.u8)), wit.string));
    const { bytes } = encodeWrpcResults(fn, [{ tag: 'ok', val: Uint8Array.of(9) }]);
    assert.equal(toHex(bytes), '00 01 01 09');
    assert.deepEqual(decodeWrpcResults(fn, bytes).values, [{ tag: 'ok', val: Uint8Array.of(9) }]);
  });

  it('rejects a wrong number of arguments, naming the function', () => {
    assertCode(
      thrown(() => encodeWrpcParams(greet, [])),
      'WRPC_ENCODE_FAILED',
      /^greet: expected 1 value, got an array of 0/,
    );
    assertCode(
      thrown(() => encodeWrpcTuple([wit.u8], ['x', 'y'])),
      'WRPC_ENCODE_FAILED',
      /expected 1 value/,
    );
  });

  it('error paths name the parameter and the field', () => {
    const fn = wit.func('put', { entry: wit.record({ 'max-age': wit.u32 }) });
    assertCode(
      thrown(() => encodeWrpcParams(fn, [{ maxAge: -1 }])),
      'WRPC_ENCODE_FAILED',
      /^put\.entry\.maxAge: expected u32/,
    );
    decodeFailure(
      thrown(() => decodeWrpcParams(fn, hex('ff ff ff ff 1f'))),
      'malformed',
      /^put\.entry\.maxAge \(byte 0\)/,
    );
  });
});

describe('wRPC nested values: pending streams and futures', () => {
  const record = wit.record({ x: wit.u8, s: wit.stream(wit.u8) });
  const types: WitType[] = [
    wit.u32,
    record,
    wit.list(wit.future(wit.string)),
    wit.option(wit.stream(wit.u8)),
  ];

  it('pending values are reported at their index paths, on both sides', () => {
    const values = [
      1,
      { x: 2, s: source },
      [Promise.resolve('a'), { tag: 'ready', val: 'b' }, source],
      source,
    ];
    const encoded = encodeWrpcTuple(types, values);
    assert.equal(toHex(encoded.bytes), '01 02 00 03 00 01 01 62 00 01 00');
    assert.deepEqual(
      encoded.deferred.map((d) => [d.path, d.type.kind, d.value]),
      [
        [[1, 1], 'stream', source],
        [[2, 0], 'future', values[2] && (values[2] as unknown[])[0]],
        [[2, 2], 'future', source],
        // option payloads add no index (wrpc's OptionEncoder passes deferred writes through)
        [[3], 'stream', source],
      ],
    );
    const decoded = decodeWrpcTuple(types, encoded.bytes);
    assert.deepEqual(
      decoded.deferred.map((d) => [d.path, d.type.kind]),
      encoded.deferred.map((d) => [d.path, d.type.kind]),
    );
    assert.deepEqual(decoded.values, [
      1,
      { x: 2, s: { tag: 'pending', path: [1, 1] } },
      [
        { tag: 'pending', path: [2, 0] },
        { tag: 'ready', val: 'b' },
        { tag: 'pending', path: [2, 2] },
      ],
      { tag: 'pending', path: [3] },
    ]);
  });

  it('variant and result payloads add no index either; a base path prefixes everything', () => {
    const t = wit.result(wit.variant({ v: wit.future(wit.u8) }), wit.u8);
    const enc = encodeWrpcValue(t, { tag: 'ok', val: { tag: 'v', val: source } }, [4, 2]);
    assert.deepEqual(
      enc.deferred.map((d) => d.path),
      [[4, 2]],
    );
    const dec = decodeWrpcValue(t, enc.bytes, { path: [4, 2] });
    assert.deepEqual(dec.value, { tag: 'ok', val: { tag: 'v', val: { tag: 'pending', path: [4, 2] } } });
  });

  it('values inside a complete stream or a ready future are indexed from it', () => {
    const t = wit.stream(wit.future(wit.u8));
    const enc = encodeWrpcValue(t, [{ tag: 'ready', val: 1 }, source], [0]);
    assert.deepEqual(
      enc.deferred.map((d) => d.path),
      [[0, 1]],
    );
    const ready = wit.future(wit.stream(wit.u8));
    assert.deepEqual(
      encodeWrpcValue(ready, { tag: 'ready', val: source }, [3]).deferred.map((d) => d.path),
      [[3]],
    );
  });

  it('async paths to subscribe mirror wrpc-introspect', () => {
    assert.deepEqual(wrpcAsyncPaths(types), [[1, 1], [2, null], [3]]);
    assert.deepEqual(wrpcAsyncPaths([wit.string, wit.stream(wit.stream(wit.u8))]), [[1], [1, null]]);
    assert.deepEqual(wrpcAsyncPaths([wit.future(wit.future(wit.u8))]), [[0]]);
    assert.deepEqual(wrpcAsyncPaths([wit.list(wit.record({ a: wit.u8, b: wit.future() }))]), [[0, null, 1]]);
    assert.deepEqual(wrpcAsyncPaths([wit.u8, wit.list(wit.string)]), []);
  });

  it('a pending stream’s chunks decode incrementally, element indices running across chunks', () => {
    const element = wit.future(wit.string);
    const c1 = encodeWrpcStreamChunk(element, [{ tag: 'ready', val: 'a' }, source], {
      path: [0],
      firstIndex: 0,
    });
    const c2 = encodeWrpcStreamChunk(element, [source], { path: [0], firstIndex: 2 });
    assert.deepEqual(
      [...c1.deferred, ...c2.deferred].map((d) => d.path),
      [
        [0, 1],
        [0, 2],
      ],
    );
    const all = concat(c1.bytes, c2.bytes, wrpcStreamEnd());
    assert.equal(toHex(all), '02 01 01 61 00 01 00 00');
    // Fed a byte at a time, only complete chunks come out and nothing is reported twice.
    let buffered: Uint8Array = new Uint8Array(0);
    let index = 0;
    const chunks: unknown[] = [];
    const paths: WrpcPath[] = [];
    let done = false;
    for (const byte of all) {
      buffered = concat(buffered, Uint8Array.of(byte));
      const r = decodeWrpcStreamChunks(element, buffered, { path: [0], firstIndex: index });
      chunks.push(...r.chunks);
      paths.push(...r.deferred.map((d) => d.path));
      index += r.elementCount;
      buffered = buffered.subarray(r.bytesRead);
      done = r.done;
    }
    assert.ok(done);
    assert.equal(buffered.length, 0);
    assert.deepEqual(chunks, [
      [
        { tag: 'ready', val: 'a' },
        { tag: 'pending', path: [0, 1] },
      ],
      [{ tag: 'pending', path: [0, 2] }],
    ]);
    assert.deepEqual(paths, [
      [0, 1],
      [0, 2],
    ]);
  });

  it('stream chunks of numbers are typed arrays; bytes after the end are an error', () => {
    const r = decodeWrpcStreamChunks(wit.u8, hex('02 0a 0b 01 0c 00'));
    assert.deepEqual(r, {
      chunks: [Uint8Array.of(10, 11), Uint8Array.of(12)],
      done: true,
      bytesRead: 6,
      elementCount: 3,
      deferred: [],
    });
    decodeFailure(
      thrown(() => decodeWrpcStreamChunks(wit.u8, hex('00 01'))),
      'malformed',
      /1 unexpected byte/,
    );
    decodeFailure(
      thrown(() => decodeWrpcStreamChunks(wit.bool, hex('01 07'))),
      'malformed',
      /bool byte/,
    );
  });

  it('a future’s nested subject carries the bare value', () => {
    const { bytes } = encodeWrpcValue(wit.string, 'late', [0]);
    assert.deepEqual(decodeWrpcValue(wit.string, bytes, { path: [0] }).value, 'late');
  });
});

// --- randomized round trips (deterministic) ---------------------------------------------------

const PRIMS = [
  wit.bool,
  wit.s8,
  wit.s16,
  wit.s32,
  wit.s64,
  wit.u8,
  wit.u16,
  wit.u32,
  wit.u64,
  wit.f32,
  wit.f64,
  wit.char,
  wit.string,
];

function randomType(rand: () => number, depth: number): WitType {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  if (depth <= 0 || rand() < 0.35) return pick(PRIMS);
  const n = 1 + Math.floor(rand() * 3);
  const names = (prefix: string) =>
    Array.from({ length: n }, (_, i) => `${prefix}-${String.fromCharCode(97 + i)}`);
  switch (Math.floor(rand() * 13)) {
    case 0:
      return wit.list(randomType(rand, depth - 1));
    case 1:
      return wit.record(Object.fromEntries(names('field').map((k) => [k, randomType(rand, depth - 1)])));
    case 2:
      return wit.tuple(...Array.from({ length: n }, () => randomType(rand, depth - 1)));
    case 3:
      return wit.variant(
        Object.fromEntries(names('case').map((k) => [k, rand() < 0.3 ? null : randomType(rand, depth - 1)])),
      );
    case 4:
      return wit.enum(names('e'));
    case 5:
      return wit.option(randomType(rand, depth - 1));
    case 6:
      return wit.result(
        rand() < 0.3 ? undefined : randomType(rand, depth - 1),
        rand() < 0.3 ? undefined : randomType(rand, depth - 1),
      );
    case 7:
      return wit.flags(Array.from({ length: 1 + Math.floor(rand() * 20) }, (_, i) => `flag${i}`));
    case 8:
      return rand() < 0.5 ? wit.own('res') : wit.borrow('res');
    case 9:
      return wit.stream(randomType(rand, depth - 1));
    case 10:
      return wit.future(rand() < 0.2 ? undefined : randomType(rand, depth - 1));
    case 11:
      return wit.list(
        pick([wit.u8, wit.s8, wit.u16, wit.s16, wit.u32, wit.s32, wit.u64, wit.s64, wit.f32, wit.f64]),
      );
    default:
      return wit.option(wit.option(randomType(rand, depth - 1)));
  }
}

/** How jco (and so the codec) represents a list of each numeric element type. */
const TYPED: Partial<Record<string, (items: unknown[]) => ArrayLike<unknown>>> = {
  u8: (xs) => Uint8Array.from(xs as number[]),
  s8: (xs) => Int8Array.from(xs as number[]),
  u16: (xs) => Uint16Array.from(xs as number[]),
  s16: (xs) => Int16Array.from(xs as number[]),
  u32: (xs) => Uint32Array.from(xs as number[]),
  s32: (xs) => Int32Array.from(xs as number[]),
  u64: (xs) => BigUint64Array.from(xs as bigint[]),
  s64: (xs) => BigInt64Array.from(xs as bigint[]),
  f32: (xs) => Float32Array.from(xs as number[]),
  f64: (xs) => Float64Array.from(xs as number[]),
};

/**
 * A random value of `type` in the form decoding gives back. `path` is the value's index path,
 * computed here independently of the codec, so pending values check the codec's path rules too.
 */
function randomValue(type: WitType, rand: () => number, path: number[]): unknown {
  const int = (min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
  const big = (bits: bigint, signed: boolean) => {
    let n = 0n;
    for (let i = 0n; i < bits; i += 16n) n |= BigInt(int(0, 0xffff)) << i;
    n &= (1n << bits) - 1n;
    return signed && n >= 1n << (bits - 1n) ? n - (1n << bits) : n;
  };
  const edge = <T>(xs: T[], other: () => T): T => (rand() < 0.3 ? (xs[int(0, xs.length - 1)] as T) : other());
  const len = () => (rand() < 0.2 ? 0 : int(1, 4));
  switch (type.kind) {
    case 'bool':
      return rand() < 0.5;
    case 'u8':
      return edge([0, 255], () => int(0, 255));
    case 's8':
      return edge([-128, 127, 0], () => int(-128, 127));
    case 'u16':
      return edge([0, 127, 128, 65535], () => int(0, 65535));
    case 's16':
      return edge([-32768, 32767, -64, 64], () => int(-32768, 32767));
    case 'u32':
      return edge([0, 0xffffffff], () => int(0, 0xffffffff));
    case 's32':
      return edge([-0x80000000, 0x7fffffff], () => int(-0x80000000, 0x7fffffff));
    case 'u64':
      return edge([0n, 2n ** 64n - 1n], () => big(64n, false));
    case 's64':
      return edge([-(2n ** 63n), 2n ** 63n - 1n, -1n], () => big(64n, true));
    case 'f32':
      return edge([NaN, -0, Infinity, -Infinity], () => Math.fround((rand() - 0.5) * 1e6));
    case 'f64':
      return edge([NaN, -0, Number.MAX_VALUE, Number.MIN_VALUE], () => (rand() - 0.5) * 1e300);
    case 'char':
      return edge(['a', '\0', '\u{10ffff}', '\ufeff', '€'], () => String.fromCodePoint(int(0x20, 0x7e)));
    case 'string':
      return Array.from({ length: len() }, () => (rand() < 0.8 ? 'x' : '😀é')).join('');
    case 'list': {
      const items = Array.from({ length: len() }, (_, i) => randomValue(type.element, rand, [...path, i]));
      const typed = TYPED[type.element.kind];
      return typed === undefined ? items : typed(items);
    }
    case 'record':
      return Object.fromEntries(
        type.fields.map((f, i) => [witNameToJs(f.name), randomValue(f.type, rand, [...path, i])]),
      );
    case 'tuple':
      return type.types.map((t, i) => randomValue(t, rand, [...path, i]));
    case 'variant': {
      const c = type.cases[int(0, type.cases.length - 1)] as { name: string; type?: WitType };
      return c.type === undefined ? { tag: c.name } : { tag: c.name, val: randomValue(c.type, rand, path) };
    }
    case 'enum':
      return type.cases[int(0, type.cases.length - 1)];
    case 'option': {
      const tagged = jcoMaybeNull(type.type);
      if (rand() < 0.3) return tagged ? { tag: 'none' } : undefined;
      const val = randomValue(type.type, rand, path);
      return tagged ? { tag: 'some', val } : val;
    }
    case 'result': {
      const ok = rand() < 0.5;
      const t = ok ? type.ok : type.err;
      return { tag: ok ? 'ok' : 'err', val: t === undefined ? undefined : randomValue(t, rand, path) };
    }
    case 'flags':
      return Object.fromEntries(type.flags.map((f) => [witNameToJs(f), rand() < 0.5]));
    case 'own':
    case 'borrow':
      return Uint8Array.from({ length: int(0, 16) }, () => int(0, 255));
    case 'stream': {
      if (rand() < 0.3) return { tag: 'pending', path };
      const items = Array.from({ length: int(1, 3) }, (_, i) =>
        randomValue(type.element, rand, [...path, i]),
      );
      const typed = TYPED[type.element.kind];
      return { tag: 'ready', val: typed === undefined ? items : typed(items) };
    }
    case 'future':
      if (rand() < 0.3) return { tag: 'pending', path };
      return { tag: 'ready', val: type.type === undefined ? undefined : randomValue(type.type, rand, path) };
  }
}

/** jco's `maybe_null`: an `option<T>` whose JavaScript form can itself be `undefined`. */
function jcoMaybeNull(type: WitType): boolean {
  return type.kind === 'option' && !jcoMaybeNull(type.type);
}

function pendingPaths(value: unknown, out: WrpcPath[] = []): WrpcPath[] {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return out;
  const v = value as Record<string, unknown>;
  if (v['tag'] === 'pending' && Array.isArray(v['path'])) out.push(v['path'] as WrpcPath);
  else for (const x of Array.isArray(value) ? value : Object.values(v)) pendingPaths(x, out);
  return out;
}

function comparePath(a: WrpcPath, b: WrpcPath): number {
  return JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0;
}

interface Sample {
  seed: number;
  types: WitType[];
  values: unknown[];
  bytes: Uint8Array;
}

function samples(count: number): Sample[] {
  const out: Sample[] = [];
  for (let seed = 1; seed <= count; seed += 1) {
    const rand = prng(seed);
    const types = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => randomType(rand, 4));
    const values = types.map((t, i) => randomValue(t, rand, [i]));
    out.push({ seed, types, values, bytes: encodeWrpcTuple(types, values).bytes });
  }
  return out;
}

describe('wRPC value encoding: randomized round trips', () => {
  const cases = samples(400);

  it('decode(encode(v)) = v for 400 random signatures and values', () => {
    for (const { seed, types, values, bytes } of cases) {
      const encoded = encodeWrpcTuple(types, values);
      const decoded = decodeWrpcTuple(types, bytes);
      const label = `seed ${seed}: ${types.map(witTypeToString).join(', ')}`;
      assert.deepEqual(decoded.values, values, label);
      assert.equal(decoded.bytesRead, bytes.length, label);
      // Both sides agree on where nested values travel, and so does the independent generator.
      const expected = pendingPaths(values).sort(comparePath);
      assert.deepEqual(encoded.deferred.map((d) => d.path).sort(comparePath), expected, label);
      assert.deepEqual(decoded.deferred.map((d) => d.path).sort(comparePath), expected, label);
      // Re-encoding what was decoded gives the same bytes.
      assert.deepEqual(encodeWrpcTuple(types, decoded.values).bytes, bytes, label);
    }
  });

  it('every truncation of every encoding fails as truncated, never with another error', () => {
    let checked = 0;
    for (const { seed, types, bytes } of cases) {
      for (let cut = 0; cut < bytes.length; cut += 1) {
        const err = thrown(() => decodeWrpcTuple(types, bytes.subarray(0, cut)));
        assert.ok(isWrpcTruncated(err), `seed ${seed}, cut at ${cut}/${bytes.length}: ${String(err)}`);
        checked += 1;
      }
    }
    assert.ok(checked > 1000, `only ${checked} truncations checked`);
  });

  it('corrupted encodings decode or fail with WRPC_DECODE_FAILED, nothing else', () => {
    const rand = prng(99);
    for (const { seed, types, bytes } of cases) {
      if (bytes.length === 0) continue;
      for (let round = 0; round < 20; round += 1) {
        const copy = bytes.slice();
        const at = Math.floor(rand() * copy.length);
        copy[at] = Math.floor(rand() * 256);
        try {
          decodeWrpcTuple(types, copy);
        } catch (err) {
          assert.ok(err instanceof WrpcDecodeError, `seed ${seed}, byte ${at}: ${String(err)}`);
        }
      }
    }
  });
});

// --- hostile input -----------------------------------------------------------------------------

describe('wRPC decoding rejects hostile input with WRPC_DECODE_FAILED', () => {
  const malformed: { name: string; type: WitType; bytes: string; message: RegExp }[] = [
    {
      name: 'u32 LEB128 longer than 5 bytes',
      type: wit.u32,
      bytes: 'ff ff ff ff ff 01',
      message: /longer than 5 bytes/,
    },
    {
      name: 'u32 zero padded past 5 bytes',
      type: wit.u32,
      bytes: '80 80 80 80 80 00',
      message: /longer than 5 bytes/,
    },
    { name: 'u32 overflowing 32 bits', type: wit.u32, bytes: 'ff ff ff ff 1f', message: /overflows 32 bits/ },
    { name: 'u16 overflowing 16 bits', type: wit.u16, bytes: 'ff ff 04', message: /overflows 16 bits/ },
    { name: 'u16 longer than 3 bytes', type: wit.u16, bytes: '80 80 80 00', message: /longer than 3 bytes/ },
    {
      name: 'u64 overflowing 64 bits',
      type: wit.u64,
      bytes: 'ff ff ff ff ff ff ff ff ff 02',
      message: /overflows 64 bits/,
    },
    {
      name: 'u64 longer than 10 bytes',
      type: wit.u64,
      bytes: 'ff ff ff ff ff ff ff ff ff 81 00',
      message: /longer than 10/,
    },
    {
      name: 's32 with unused bits not repeating the sign',
      type: wit.s32,
      bytes: 'ff ff ff ff 0f',
      message: /overflows 32 bits/,
    },
    { name: 's16 overflowing', type: wit.s16, bytes: '80 80 02', message: /overflows 16 bits/ },
    {
      name: 's64 overflowing',
      type: wit.s64,
      bytes: '80 80 80 80 80 80 80 80 80 01',
      message: /overflows 64 bits/,
    },
    { name: 'bool byte 2', type: wit.bool, bytes: '02', message: /bool byte must be 0 or 1, got 2/ },
    { name: 'option tag 2', type: wit.option(wit.u8), bytes: '02 00', message: /option tag/ },
    { name: 'result tag 7', type: wit.result(), bytes: '07', message: /result tag/ },
    { name: 'future tag 2', type: wit.future(), bytes: '02', message: /future tag/ },
    {
      name: 'unknown variant discriminant',
      type: shape,
      bytes: '03',
      message: /unknown discriminant 3 of shape \(3 cases\)/,
    },
    {
      name: 'unknown enum discriminant',
      type: color,
      bytes: '80 01',
      message: /unknown discriminant 128 of color/,
    },
    {
      name: 'variant discriminant overflowing u32',
      type: shape,
      bytes: 'ff ff ff ff 7f',
      message: /overflows 32 bits/,
    },
    // wrpc's Go bindings test: bit 7 of a six-flag type is refused.
    {
      name: 'flags bit beyond the last flag (wrpc Go vector)',
      type: wit.flags(['a', 'b', 'c', 'd', 'e', 'f']),
      bytes: '80',
      message: /bits beyond the 6 flags/,
    },
    { name: 'string with invalid UTF-8', type: wit.string, bytes: '02 c3 28', message: /not valid UTF-8/ },
    { name: 'string with an overlong NUL', type: wit.string, bytes: '02 c0 80', message: /not valid UTF-8/ },
    { name: 'string with a surrogate', type: wit.string, bytes: '03 ed a0 80', message: /not valid UTF-8/ },
    { name: 'char continuation byte first', type: wit.char, bytes: '80', message: /not valid UTF-8/ },
    { name: 'char overlong', type: wit.char, bytes: 'c1 81', message: /not a Unicode scalar value/ },
    { name: 'char surrogate', type: wit.char, bytes: 'ed a0 80', message: /U\+D800/ },
    { name: 'char above U+10FFFF', type: wit.char, bytes: 'f4 90 80 80', message: /U\+110000/ },
    { name: 'char lead byte 0xff', type: wit.char, bytes: 'ff', message: /lead byte 0xff/ },
    { name: 'char bad continuation', type: wit.char, bytes: 'e2 28 a1', message: /not valid UTF-8/ },
    {
      name: 'bytes after the value',
      type: wit.u8,
      bytes: '01 02',
      message: /1 unexpected byte after the value/,
    },
  ];
  for (const c of malformed) {
    it(`${c.name}`, () => {
      decodeFailure(
        thrown(() => decodeWrpcValue(c.type, hex(c.bytes))),
        'malformed',
        c.message,
      );
    });
  }

  it('a huge list count fails before anything is allocated: over the limit, or over the input', () => {
    // 2^32-1 strings: refused by wrpcMaxListLength at once.
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.list(wit.string), hex('ff ff ff ff 0f 00'))),
      'limit',
      /4294967295 elements exceeds the limit of 1048576 \(wrpcMaxListLength\)/,
    );
    // 2^32-1 bytes announced with two present: the input cannot hold them.
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.list(wit.u8), hex('ff ff ff ff 0f 01 02'))),
      'truncated',
      /list of 4294967295 elements/,
    );
    // Typed arrays are bounded by bytes, not by the element limit.
    const bytes = new Uint8Array(5 + 2_000_000);
    bytes.set(hex('80 89 7a'));
    const r = decodeWrpcValue(wit.list(wit.u8), bytes.subarray(0, 3 + 2_000_000));
    assert.equal((r.value as Uint8Array).length, 2_000_000);
    // Fewer bytes than elements times the smallest element size is truncated, not a long loop.
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.list(wit.f64), hex('10 00 00 00 00 00 00 00 00'))),
      'truncated',
    );
  });

  it('elements that encode to nothing are bounded by the list limit', () => {
    // Builders refuse empty tuples, but a hand-written type can have one.
    const empty = { kind: 'tuple', types: [] } as const satisfies WitType;
    assert.deepEqual(decodeWrpcValue(wit.list(empty), hex('03')).value, [[], [], []]);
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.list(empty), hex('ff ff ff ff 0f'))),
      'limit',
      /wrpcMaxListLength/,
    );
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.list(empty), hex('05'), { maxListLength: 4 })),
      'limit',
      /limit of 4/,
    );
  });

  it('strings, byte lists and handles are bounded by wrpcMaxValueBytes, and so is the whole input', () => {
    const opts = { maxValueBytes: 1024 };
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.string, hex('81 08'), opts)),
      'limit',
      /1025 bytes exceeds the 1024-byte limit/,
    );
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.own('r'), hex('ff ff ff ff 0f'), opts)),
      'limit',
    );
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.list(wit.u8), new Uint8Array(1025), opts)),
      'limit',
      /1025 bytes exceed/,
    );
    assert.equal(DEFAULT_LIMITS.wrpcMaxValueBytes, 16 * 1024 * 1024);
    assert.equal(DEFAULT_LIMITS.wrpcMaxListLength, 1_048_576);
    // A string longer than the input is incomplete, not hostile.
    decodeFailure(
      thrown(() => decodeWrpcValue(wit.string, hex('05 61'))),
      'truncated',
      /string of 5 bytes/,
    );
  });

  it('errors name the value path, the byte offset, and carry both in details', () => {
    const t = wit.record({ names: wit.list(wit.string) });
    const err = decodeFailure(
      thrown(() => decodeWrpcValue(t, hex('02 01 61 02 ff fe'))),
      'malformed',
    );
    assert.equal(err.message, '$.names[1] (byte 3): string is not valid UTF-8');
    assert.deepEqual(err.details, { path: '$.names[1]', offset: 3, reason: 'malformed' });
    assert.match(err.hint ?? '', /WIT signature/);
  });

  it('deeply nested input is decoded without trouble (types bound the depth, not the input)', () => {
    let t: WitType = wit.u8;
    for (let i = 0; i < 200; i += 1) t = wit.option(t);
    const bytes = new Uint8Array(201).fill(1);
    assert.ok(decodeWrpcValue(t, bytes).value !== undefined);
  });
});

describe('wRPC encoding rejects values that do not fit the type with WRPC_ENCODE_FAILED', () => {
  const bad: { name: string; type: WitType; value: unknown; message: RegExp }[] = [
    { name: 'bool from a number', type: wit.bool, value: 1, message: /^\$: expected bool, got 1$/ },
    {
      name: 'u8 out of range',
      type: wit.u8,
      value: 256,
      message: /u8 \(a whole number from 0 to 255\), got 256/,
    },
    { name: 's16 fraction', type: wit.s16, value: 1.5, message: /s16/ },
    { name: 'u32 negative', type: wit.u32, value: -1, message: /u32/ },
    { name: 's32 from a bigint', type: wit.s32, value: 1n, message: /got 1n/ },
    {
      name: 'u64 negative',
      type: wit.u64,
      value: -1n,
      message: /u64 \(a bigint from 0 to 18446744073709551615\)/,
    },
    { name: 'u64 from an unsafe number', type: wit.u64, value: 2 ** 60, message: /u64/ },
    { name: 's64 too large', type: wit.s64, value: 2n ** 63n, message: /s64/ },
    { name: 'f64 from a string', type: wit.f64, value: '1', message: /f64 \(a number\)/ },
    { name: 'char of two characters', type: wit.char, value: 'ab', message: /one Unicode scalar value/ },
    { name: 'char empty', type: wit.char, value: '', message: /char/ },
    { name: 'char lone surrogate', type: wit.char, value: '\ud800', message: /char/ },
    { name: 'string with a lone surrogate', type: wit.string, value: 'a\udc00', message: /well-formed/ },
    { name: 'list not an array', type: wit.list(wit.string), value: 'abc', message: /an array/ },
    {
      name: 'list<string> from a typed array',
      type: wit.list(wit.string),
      value: Uint8Array.of(1),
      message: /an array/,
    },
    { name: 'list element', type: wit.list(wit.u8), value: [1, 300], message: /^\$\[1\]: expected u8/ },
    { name: 'record from null', type: point, value: null, message: /point \(an object\)/ },
    {
      name: 'record unknown field',
      type: point,
      value: { x: 1, y: 2, z: 3 },
      message: /without a field "z"/,
    },
    {
      name: 'record missing field',
      type: point,
      value: { x: 1 },
      message: /^\$\.y: expected s32.*got undefined/,
    },
    {
      name: 'record field inherited, not own',
      type: wit.record({ constructor: wit.u8 }),
      value: {},
      message: /\$\.constructor: expected u8/,
    },
    { name: 'tuple arity', type: wit.tuple(wit.u8, wit.u8), value: [1], message: /expected 2 values/ },
    { name: 'variant unknown tag', type: shape, value: { tag: 'z' }, message: /tag one of 'a', 'b', 'c'/ },
    {
      name: 'variant payload for a case without one',
      type: shape,
      value: { tag: 'b', val: 1 },
      message: /\$\(b\): expected no payload/,
    },
    { name: 'variant missing payload', type: shape, value: { tag: 'a' }, message: /\$\(a\): expected u8/ },
    { name: 'enum unknown case', type: color, value: 'pink', message: /one of 'red', 'green', 'blue'/ },
    {
      name: 'nested option without tag',
      type: wit.option(wit.option(wit.u8)),
      value: 3,
      message: /\{ tag: 'none' \}/,
    },
    { name: 'result without tag', type: wit.result(), value: 'ok', message: /\{ tag: 'ok' \| 'err', val \}/ },
    {
      name: 'result payload where none is declared',
      type: wit.result(),
      value: { tag: 'ok', val: 1 },
      message: /\$\.ok: expected no payload/,
    },
    { name: 'flags unknown flag', type: abc, value: { a: true, d: true }, message: /without a flag "d"/ },
    { name: 'flags non-boolean', type: abc, value: { a: 1 }, message: /\$\.a: expected a boolean/ },
    { name: 'handle not bytes', type: wit.own('r'), value: 'h', message: /a Uint8Array/ },
    { name: 'stream from a number', type: wit.stream(wit.u8), value: 5, message: /stream<u8>/ },
    { name: 'future from undefined', type: wit.future(wit.u8), value: undefined, message: /future<u8>/ },
  ];
  for (const c of bad) {
    it(c.name, () => {
      assertCode(
        thrown(() => encodeWrpcValue(c.type, c.value)),
        'WRPC_ENCODE_FAILED',
        c.message,
      );
    });
  }
});

// --- subjects, headers, framing ----------------------------------------------------------------

describe('wRPC subjects', () => {
  it('builds the invocation subjects of the protocol reference (§4.2)', () => {
    assert.equal(
      wrpcInvocationSubject('default', 'myapp-http_component', 'wrpc:http/incoming-handler@0.1.0', 'handle'),
      'default.myapp-http_component.wrpc.0.0.1.wrpc:http/incoming-handler@0.1.0.handle',
    );
    assert.equal(
      wrpcInvocationSubject('default', 'myapp-kvredis', 'wrpc:keyvalue/store@0.2.0-draft', 'get'),
      'default.myapp-kvredis.wrpc.0.0.1.wrpc:keyvalue/store@0.2.0-draft.get',
    );
    assert.equal(
      wrpcInvocationSubject('default', 'other-component', witInstanceName(greeter), 'greet'),
      'default.other-component.wrpc.0.0.1.acme:demo/greeter@0.1.0.greet',
    );
  });

  it('a root function export (empty instance) leaves the instance out', () => {
    assert.equal(wrpcInvocationSubject('lat', 'comp', '', 'run'), 'lat.comp.wrpc.0.0.1.run');
    assert.equal(
      wrpcInvocationSubject('lat', 'comp', 'a:b/c', 'blob.read'),
      'lat.comp.wrpc.0.0.1.a:b/c.blob.read',
    );
  });

  it('prefix and queue group are <lattice>.<id>', () => {
    assert.equal(wrpcPrefix('default', 'kv'), 'default.kv');
    assert.equal(wrpcQueueGroup('default', 'myapp-http_component'), 'default.myapp-http_component');
  });

  it('refuses ids and names that would change the subject’s shape', () => {
    assertCode(
      thrown(() => wrpcInvocationSubject('a.b', 'c', 'i', 'f')),
      'INVALID_ID',
      /lattice name "a\.b"/,
    );
    assertCode(
      thrown(() => wrpcQueueGroup('default', 'x*')),
      'INVALID_ID',
      /target id/,
    );
    assertCode(
      thrown(() => wrpcInvocationSubject('d', 'c', 'a b', 'f')),
      'INVALID_SUBJECT',
      /instance name "a b"/,
    );
    assertCode(
      thrown(() => wrpcInvocationSubject('d', 'c', 'i', '')),
      'INVALID_SUBJECT',
      /function name ""/,
    );
    assertCode(
      thrown(() => wrpcInvocationSubject('d', 'c', 'i..x', 'f')),
      'INVALID_SUBJECT',
    );
    assertCode(
      thrown(() => wrpcInvocationSubject('d', 'c', 'i', '>')),
      'INVALID_SUBJECT',
    );
  });

  it('result, parameter and nested subjects', () => {
    const r = '_INBOX.abc.xyz';
    assert.equal(wrpcResultsSubject(r), '_INBOX.abc.xyz.results');
    assert.equal(wrpcParamsSubject('_INBOX.s1'), '_INBOX.s1.params');
    assert.equal(wrpcNestedResultsSubject(r, [0, 1]), '_INBOX.abc.xyz.results.0.1');
    assert.equal(wrpcNestedParamsSubject('_INBOX.s1', [2]), '_INBOX.s1.params.2');
    assert.equal(wrpcIndexSubject('x.results', []), 'x.results');
    assert.equal(wrpcSubscribeSubject(wrpcResultsSubject(r), [1, null]), '_INBOX.abc.xyz.results.1.*');
    assertCode(
      thrown(() => wrpcIndexSubject('x', [-1])),
      'INVALID_ARGUMENT',
    );
    assertCode(
      thrown(() => wrpcIndexSubject('x', [null as unknown as number])),
      'INVALID_ARGUMENT',
    );
    assertCode(
      thrown(() => wrpcResultsSubject('')),
      'INVALID_SUBJECT',
    );
  });

  it('headers a host sets on calls from a component, and a provider sets', () => {
    assert.deepEqual(wrpcInvocationHeaders({ sourceId: 'comp', linkName: 'default' }), {
      'source-id': 'comp',
      'link-name': 'default',
    });
    assert.deepEqual(wrpcInvocationHeaders({ sourceId: 'prov', targetId: 'comp' }), {
      'source-id': 'prov',
      'target-id': 'comp',
    });
  });
});

describe('wRPC framing: chunking and reassembly', () => {
  it('the first message leaves room for the reply subject and headers, as wrpc-transport-nats', () => {
    assert.equal(wrpcFirstMessageBudget({ maxPayload: 1024, replySubject: '_INBOX.abcdefgh' }), 1024 - 15);
    // NATS/1.0\r\n + \r\n = 12; "source-id: comp\r\n" = 17; "link-name: default\r\n" = 20.
    const headers = wrpcInvocationHeaders({ sourceId: 'comp', linkName: 'default' });
    assert.equal(
      wrpcFirstMessageBudget({ maxPayload: 1024, replySubject: '_INBOX.abcdefgh', headers }),
      1024 - 15 - 49,
    );
    assert.equal(wrpcFirstMessageBudget({ maxPayload: 1024, replySubject: 'r', headers: {} }), 1024 - 1 - 12);
    assert.equal(
      wrpcFirstMessageBudget({ maxPayload: 1024, replySubject: 'r', headers: { a: ['x', 'yz'] } }),
      1024 - 1 - 12 - 6 - 7,
    );
    assert.equal(wrpcFirstMessageBudget({ maxPayload: 10, replySubject: '_INBOX.abcdefgh' }), 0);
  });

  it('splits parameters: what fits rides with the invocation, the rest and the terminator go to S.params', () => {
    const params = Uint8Array.from({ length: 10 }, (_, i) => i);
    const fits = wrpcInvocationMessages(params, { maxPayload: 20, replySubject: '_INBOX.x' });
    assert.deepEqual(fits, { first: params, params: [new Uint8Array(0)] });
    const split = wrpcInvocationMessages(params, { maxPayload: 12, replySubject: '_INBOX.x' });
    assert.deepEqual(split.first, params.subarray(0, 4));
    assert.deepEqual(split.params, [params.subarray(4, 10), new Uint8Array(0)]);
    const tiny = wrpcInvocationMessages(params, { maxPayload: 4, replySubject: '_INBOX.x' });
    assert.equal(tiny.first.length, 0);
    assert.deepEqual(
      tiny.params.map((m) => m.length),
      [4, 4, 2, 0],
    );
  });

  it('result streams are cut at max_payload and end with an empty message', () => {
    assert.deepEqual(wrpcStreamMessages(Uint8Array.of(1, 2, 3), 2), [
      Uint8Array.of(1, 2),
      Uint8Array.of(3),
      new Uint8Array(0),
    ]);
    assert.deepEqual(wrpcStreamMessages(new Uint8Array(0), 2), [new Uint8Array(0)]);
    assert.deepEqual(wrpcChunks(Uint8Array.of(1, 2, 3, 4), 2).length, 2);
    assertCode(
      thrown(() => wrpcChunks(Uint8Array.of(1), 0)),
      'INVALID_ARGUMENT',
    );
  });

  it('reassembles until the empty message; an empty invocation payload does not end the stream', () => {
    const s = createWrpcByteStream({ initial: new Uint8Array(0) });
    assert.equal(s.done, false);
    assert.equal(s.push(Uint8Array.of(1, 2)), false);
    const reused = Uint8Array.of(3);
    assert.equal(s.push(reused), false);
    reused[0] = 99;
    assert.equal(s.push(new Uint8Array(0)), true);
    assert.equal(s.done, true);
    assert.equal(s.byteLength, 3);
    assert.deepEqual(s.bytes(), Uint8Array.of(1, 2, 3));
    decodeFailure(
      thrown(() => s.push(Uint8Array.of(4))),
      'malformed',
      /after the end of the stream/,
    );
  });

  it('refuses a stream larger than its limit with PAYLOAD_TOO_LARGE', () => {
    const s = createWrpcByteStream({ maxBytes: 4, name: '_INBOX.x.results' });
    s.push(Uint8Array.of(1, 2, 3));
    assertCode(
      thrown(() => s.push(Uint8Array.of(4, 5))),
      'PAYLOAD_TOO_LARGE',
      /_INBOX\.x\.results of more than 5 bytes exceeds the 4-byte limit/,
    );
    assertCode(
      thrown(() => createWrpcByteStream({ maxBytes: 1, initial: Uint8Array.of(1, 2) })),
      'PAYLOAD_TOO_LARGE',
    );
  });

  it('an invocation survives chunking and reassembly end to end', () => {
    const fn = wit.func(
      'put',
      { key: wit.string, value: wit.list(wit.u8) },
      wit.result(undefined, wit.string),
    );
    const value = Uint8Array.from({ length: 5000 }, (_, i) => i % 251);
    const { bytes } = encodeWrpcParams(fn, ['k', value]);
    const headers = wrpcInvocationHeaders({ sourceId: 'comp', linkName: 'default' });
    const msgs = wrpcInvocationMessages(bytes, { maxPayload: 1024, replySubject: '_INBOX.abc.def', headers });
    assert.ok(msgs.params.length > 4);
    assert.ok(msgs.params.every((m) => m.length <= 1024));
    const server = createWrpcByteStream({ initial: msgs.first });
    let done = false;
    for (const m of msgs.params) done = server.push(m);
    assert.ok(done);
    assert.deepEqual(decodeWrpcParams(fn, server.bytes()).values, ['k', value]);
  });
});

describe('wRPC instance names (wasmCloud 1.x, §4.5)', () => {
  const imports: [string, string, string, string?][] = [
    ['wasi:keyvalue/store@0.2.0-draft', 'wrpc:keyvalue/store@0.2.0-draft', 'wasi:keyvalue/store'],
    ['wasi:keyvalue/atomics@0.2.0-draft', 'wrpc:keyvalue/atomics@0.2.0-draft', 'wasi:keyvalue/atomics'],
    ['wasi:keyvalue/batch@0.2.0-draft', 'wrpc:keyvalue/batch@0.2.0-draft', 'wasi:keyvalue/batch'],
    [
      'wasi:blobstore/blobstore@0.2.0-draft',
      'wrpc:blobstore/blobstore@0.2.0',
      'wasi:blobstore/blobstore',
      'wrpc:blobstore/blobstore@0.1.0',
    ],
    [
      'wasi:blobstore/container@0.2.0-draft',
      'wrpc:blobstore/blobstore@0.2.0',
      'wasi:blobstore/blobstore',
      'wrpc:blobstore/blobstore@0.1.0',
    ],
    ['wasi:http/outgoing-handler@0.2.0', 'wrpc:http/outgoing-handler@0.1.0', 'wasi:http/outgoing-handler'],
    ['wasi:http/outgoing-handler@0.2.2', 'wrpc:http/outgoing-handler@0.1.0', 'wasi:http/outgoing-handler'],
    ['acme:demo/greeter@0.1.0', 'acme:demo/greeter@0.1.0', 'acme:demo/greeter'],
    ['wasi:keyvalue/store@0.2.0-draft2', 'wasi:keyvalue/store@0.2.0-draft2', 'wasi:keyvalue/store'],
    [
      'wasmcloud:messaging/consumer@0.2.0',
      'wasmcloud:messaging/consumer@0.2.0',
      'wasmcloud:messaging/consumer',
    ],
  ];
  for (const [wasi, instance, linkInterface, fallback] of imports) {
    it(`import ${wasi} → ${instance}`, () => {
      assert.deepEqual(
        wrpcImportTarget(wasi),
        fallback === undefined ? { instance, linkInterface } : { instance, fallback, linkInterface },
      );
    });
  }

  const exports: [string, string, string[]?][] = [
    ['wasi:http/incoming-handler@0.2.0', 'wrpc:http/incoming-handler@0.1.0', ['handle']],
    ['wasi:http/incoming-handler@0.2.3', 'wrpc:http/incoming-handler@0.1.0', ['handle']],
    ['wasmcloud:messaging/handler@0.2.0', 'wasmcloud:messaging/handler@0.2.0', ['handle-message']],
    ['wasmcloud:messaging/incoming-handler@0.3.0', 'wasmcloud:messaging/handler@0.2.0', ['handle-message']],
    ['wasi:keyvalue/watcher@0.2.0-draft', 'wrpc:keyvalue/watcher@0.2.0-draft', ['on-set', 'on-delete']],
    ['acme:demo/greeter@0.1.0', 'acme:demo/greeter@0.1.0'],
    ['', ''],
  ];
  for (const [wasi, instance, functions] of exports) {
    it(`export ${wasi || '(root)'} → ${instance || '(root)'}`, () => {
      assert.deepEqual(
        wrpcExportInstance(wasi),
        functions === undefined ? { instance } : { instance, functions },
      );
    });
  }

  it('link keys drop the version', () => {
    assert.equal(witInterfaceKey('wasi:keyvalue/store@0.2.0-draft'), 'wasi:keyvalue/store');
    assert.equal(witInterfaceKey('acme:demo/greeter'), 'acme:demo/greeter');
  });
});

// --- WIT model and parser ----------------------------------------------------------------------

describe('WIT types', () => {
  it('maps names to jco’s camelCase', () => {
    assert.equal(witNameToJs('content-type'), 'contentType');
    assert.equal(witNameToJs('get-URL'), 'getUrl');
    assert.equal(witNameToJs('HTTP-method'), 'httpMethod');
    assert.equal(witNameToJs('x'), 'x');
    assert.equal(witNameToJs('http2-server'), 'http2Server');
  });

  it('builders refuse empty, duplicate and badly named members with WIT_INVALID', () => {
    assertCode(
      thrown(() => wit.record({})),
      'WIT_INVALID',
      /record must have at least one member/,
    );
    assertCode(
      thrown(() => wit.tuple()),
      'WIT_INVALID',
      /tuple must have at least one member/,
    );
    assertCode(
      thrown(() => wit.enum([])),
      'WIT_INVALID',
    );
    assertCode(
      thrown(() => wit.flags([])),
      'WIT_INVALID',
    );
    assertCode(
      thrown(() => wit.variant({})),
      'WIT_INVALID',
    );
    assertCode(
      thrown(() => wit.enum(['a', 'a'])),
      'WIT_INVALID',
      /declared twice/,
    );
    assertCode(
      thrown(() => wit.record({ 'a-b': wit.u8, 'A-B': wit.u8 })),
      'WIT_INVALID',
      /both map to "aB"/,
    );
    assertCode(
      thrown(() => wit.record({ a_b: wit.u8 })),
      'WIT_INVALID',
      /not a valid WIT name/,
    );
    assertCode(
      thrown(() => wit.flags(['Mixed'])),
      'WIT_INVALID',
    );
    assertCode(
      thrown(() => wit.own('-x')),
      'WIT_INVALID',
    );
    assertCode(
      thrown(() => wit.func('a b')),
      'WIT_INVALID',
    );
    assertCode(
      thrown(() => wit.func('f', { 'x-': wit.u8 })),
      'WIT_INVALID',
      /parameter "x-"/,
    );
    assertCode(
      thrown(() => wit.func('f', { x: wit.u8, X: wit.u8 })),
      'WIT_INVALID',
    );
    assert.equal(wit.func('blob.read').name, 'blob.read');
  });

  it('prints types and functions as WIT', () => {
    assert.equal(
      witTypeToString(wit.list(wit.tuple(wit.string, wit.option(wit.u32)))),
      'list<tuple<string, option<u32>>>',
    );
    assert.equal(witTypeToString(wit.result(undefined, wit.string)), 'result<_, string>');
    assert.equal(witTypeToString(wit.result(wit.u8)), 'result<u8>');
    assert.equal(witTypeToString(wit.future()), 'future');
    assert.equal(witTypeToString(wit.record({ a: wit.u8 })), 'record { a: u8 }');
    assert.equal(witFunctionToString(greet), 'greet: func(name: string) -> string');
    assert.equal(
      witFunctionToString(wit.func('f', {}, [wit.u8, wit.bool])),
      'f: func() -> (r0: u8, r1: bool)',
    );
  });

  it('names an interface’s wRPC instance', () => {
    assert.equal(witInstanceName(greeter), 'acme:demo/greeter@0.1.0');
    assert.equal(witInstanceName({ name: 'greeter', package: { namespace: 'a', name: 'b' } }), 'a:b/greeter');
    assert.equal(witInstanceName({ name: 'greeter' }), 'greeter');
  });
});

const KITCHEN_SINK = `
// A line comment.
/* A block comment /* that nests */ still a comment. */
package acme:kitchen@1.2.3-rc.1;

@since(version = 1.2.0)
interface store {
  /// Doc comments are comments.
  type key = string;
  type pairs = list<pair>;          // refers to a type declared further down
  type bytes = list<u8>;

  record pair { key: key, value: bytes, }

  variant error {
    no-such-store,
    access-denied,
    other(string),
  }

  enum level { debug, info, warn }

  flags perms { read, write, delete-all }

  resource bucket {
    constructor(name: string);
    get: func(key: key) -> result<option<bytes>, error>;
    open: static func(name: string) -> result<bucket, error>;
  }

  @unstable(feature = fancy)
  get-many: func(b: borrow<bucket>, keys: list<key>) -> result<pairs, error>;
  levels: func() -> tuple<level, perms>;
  %type: func(%list: u32);
  legacy: func(a: float32) -> (x: float64, y: s64);
  nothing: func();
  events: func() -> stream<tuple<string, future<u8>>>;
  maybe: func(x: option<option<u8>>) -> result;
}

world app {
  import store;
  export run: func();
  import other: interface { use store.{key}; f: func(k: key); }
}

interface empty-ok {
  ping: func() -> result<_, string>;
}
`;

describe('WIT parser', () => {
  it('parses the greeter example', () => {
    const iface = parseWitInterface('interface greeter { greet: func(name: string) -> string; }');
    assert.equal(iface.name, 'greeter');
    assert.equal(iface.package, undefined);
    assert.deepEqual(iface.functions.get('greet'), {
      name: 'greet',
      params: [{ name: 'name', type: wit.string }],
      results: [wit.string],
    });
  });

  it('parses records, variants, enums, flags, options, results, lists, tuples, aliases and resources', () => {
    const doc = parseWit(KITCHEN_SINK);
    assert.deepEqual(doc.package, { namespace: 'acme', name: 'kitchen', version: '1.2.3-rc.1' });
    assert.deepEqual(
      doc.interfaces.map((i) => i.name),
      ['store', 'empty-ok'],
    );
    const store = doc.interfaces[0];
    assert.ok(store !== undefined);
    assert.equal(witInstanceName(store), 'acme:kitchen/store@1.2.3-rc.1');
    assert.deepEqual([...store.types.keys()], ['key', 'pairs', 'bytes', 'pair', 'error', 'level', 'perms']);
    const pair = wit.record({ key: wit.string, value: wit.list(wit.u8) }, 'pair');
    const error = wit.variant({ 'no-such-store': null, 'access-denied': null, other: wit.string }, 'error');
    assert.deepEqual(store.types.get('pairs'), wit.list(pair));
    assert.deepEqual(store.types.get('error'), error);
    const sig = (name: string) => {
      const f = store.functions.get(name);
      assert.ok(f !== undefined, `no function ${name}`);
      return witFunctionToString(f);
    };
    assert.deepEqual(
      [...store.functions.keys()],
      [
        'bucket',
        'bucket.get',
        'bucket.open',
        'get-many',
        'levels',
        'type',
        'legacy',
        'nothing',
        'events',
        'maybe',
      ],
    );
    assert.equal(sig('bucket'), 'bucket: func(name: string) -> own<bucket>');
    assert.equal(
      sig('bucket.get'),
      'bucket.get: func(self: borrow<bucket>, key: string) -> result<option<list<u8>>, error>',
    );
    assert.equal(sig('bucket.open'), 'bucket.open: func(name: string) -> result<own<bucket>, error>');
    assert.equal(
      sig('get-many'),
      'get-many: func(b: borrow<bucket>, keys: list<string>) -> result<list<pair>, error>',
    );
    assert.equal(sig('levels'), 'levels: func() -> tuple<level, perms>');
    assert.equal(sig('type'), 'type: func(list: u32)');
    assert.equal(sig('legacy'), 'legacy: func(a: f32) -> (r0: f64, r1: s64)');
    assert.equal(sig('nothing'), 'nothing: func()');
    assert.equal(sig('events'), 'events: func() -> stream<tuple<string, future<u8>>>');
    assert.equal(sig('maybe'), 'maybe: func(x: option<option<u8>>) -> result');
    assert.equal(
      witFunctionToString(doc.interfaces[1]?.functions.get('ping') as WitFunction),
      'ping: func() -> result<_, string>',
    );
  });

  it('a parsed signature encodes like a hand-built one', () => {
    const store = parseWit(KITCHEN_SINK).interfaces[0];
    const getMany = store?.functions.get('get-many') as WitFunction;
    const { bytes } = encodeWrpcResults(getMany, [{ tag: 'err', val: { tag: 'other', val: 'x' } }]);
    assert.equal(toHex(bytes), '01 02 01 78');
    const levels = store?.functions.get('levels') as WitFunction;
    assert.equal(toHex(encodeWrpcResults(levels, [['warn', { deleteAll: true }]]).bytes), '02 04');
  });

  it('parses a single type expression, resolving names against known types', () => {
    assert.deepEqual(parseWitType('list<tuple<string, u32>>'), wit.list(wit.tuple(wit.string, wit.u32)));
    assert.deepEqual(parseWitType('result<_, string>'), wit.result(undefined, wit.string));
    assert.deepEqual(parseWitType('own<blob>'), wit.own('blob'));
    const store = parseWit(KITCHEN_SINK).interfaces[0];
    assert.deepEqual(
      parseWitType('option<pair>', store?.types),
      wit.option(store?.types.get('pair') as WitType),
    );
    assertCode(
      thrown(() => parseWitType('list<pear>', store?.types)),
      'WIT_INVALID',
      /line 1, column 6: unknown type `pear`/,
    );
    assertCode(
      thrown(() => parseWitType('u8 u8')),
      'WIT_INVALID',
      /line 1, column 4: unexpected `u8` after the type/,
    );
  });

  const errors: [string, string, RegExp][] = [
    ['unknown type', 'interface i {\n  f: func(x: nope);\n}', /^line 2, column 14: unknown type `nope`/],
    [
      'duplicate declaration',
      'interface i {\n  type a = u8;\n  type a = u16;\n}',
      /^line 3, column 8: `a` is already declared on line 2/,
    ],
    [
      'duplicate parameter',
      'interface i { f: func(a: u8, a: u8); }',
      /parameter `a` of `f` is declared twice/,
    ],
    ['recursive alias', 'interface i {\n  type a = list<b>;\n  type b = option<a>;\n}', /refers to itself/],
    ['self-containing record', 'interface i { record r { next: option<r> } }', /type `r` refers to itself/],
    [
      'empty record',
      'interface i {\n  record r {}\n}',
      /^line 2, column 3: record must have at least one member \(in `r`\)/,
    ],
    ['empty tuple', 'interface i { f: func() -> tuple<>; }', /a tuple needs at least one type/],
    ['result<_>', 'interface i { f: func() -> result<_>; }', /needs an error type/],
    [
      'use is unsupported',
      'interface i {\n  use wasi:io/streams@0.2.0.{input-stream};\n}',
      /^line 2, column 3: `use` is not supported/,
    ],
    ['keyword as a name', 'interface i { list: func(); }', /`list` is a keyword; write `%list`/],
    ['not kebab-case', 'interface i { my_func: func(); }', /`my_func` is not a kebab-case WIT name/],
    ['mixed case word', 'interface i { myFunc: func(); }', /not a kebab-case WIT name/],
    ['missing semicolon', 'interface i {\n  f: func()\n}', /^line 3, column 1: expected `;`, found `}`/],
    ['unclosed interface', 'interface i {\n  f: func();\n', /interface `i` is never closed/],
    ['unclosed comment', 'interface i { /* f: func(); }', /block comment is never closed/],
    ['unexpected character', 'interface i { f: func() -> u8 $; }', /unexpected character "\$"/],
    [
      'bad package name',
      'package Acme:demo;\ninterface i {}',
      /^line 1, column 9: `Acme:demo` is not a package name/,
    ],
    [
      'own of a non-resource',
      'interface i { type t = u8; f: func(x: own<t>); }',
      /`t` is not a resource declared in this interface/,
    ],
    [
      'top-level junk',
      'interface i {}\nfunc',
      /^line 2, column 1: expected `interface` or `world`, found `func`/,
    ],
    [
      'duplicate interface',
      'interface i {}\ninterface i {}',
      /^line 2, column 1: interface `i` is declared twice/,
    ],
    ['duplicate enum case', 'interface i { enum e { a, a } }', /enum case "a" is declared twice/],
    ['duplicate result name', 'interface i { f: func() -> (a: u8, a: u8); }', /result `a` is declared twice/],
  ];
  for (const [name, src, message] of errors) {
    it(`reports ${name} as WIT_INVALID with line and column`, () => {
      const err = assertCode(
        thrown(() => parseWit(src)),
        'WIT_INVALID',
        message,
      );
      if (/^line \d+, column \d+/.test(err.message)) {
        assert.equal(typeof err.details?.['line'], 'number');
        assert.equal(typeof err.details?.['column'], 'number');
      }
    });
  }

  it('parseWitInterface wants exactly one interface', () => {
    assertCode(
      thrown(() => parseWitInterface('interface a {}\ninterface b {}')),
      'WIT_INVALID',
      /found 2/,
    );
    assertCode(
      thrown(() => parseWitInterface('world w {}')),
      'WIT_INVALID',
      /found 0/,
    );
  });

  it('survives arbitrary garbage with WIT_INVALID and nothing else', () => {
    const rand = prng(7);
    const alphabet = 'interface{}()<>,:;=-_@./*% \nabcxyz0123func record list option result tuple';
    for (let i = 0; i < 500; i += 1) {
      const text = Array.from(
        { length: Math.floor(rand() * 60) },
        () => alphabet[Math.floor(rand() * alphabet.length)],
      ).join('');
      try {
        parseWit(text);
      } catch (err) {
        assertCode(err, 'WIT_INVALID');
      }
    }
  });
});
