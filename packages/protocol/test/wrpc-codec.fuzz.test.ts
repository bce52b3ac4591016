/**
 * Fuzzing the wRPC value codec: random WIT types (every value kind, nested a few levels, with field
 * and case names that shadow Object.prototype) and random values of them round-trip exactly
 * (NaN, -0 and the integer edges included); decoding arbitrary bytes, and every truncation and
 * corruption of valid encodings, returns or throws WRPC_DECODE_FAILED within a time bound, without
 * allocating more than a small multiple of the input whatever lengths the bytes declare.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fc, fuzz } from '@cirrus/testing';
import {
  decodeWrpcStreamChunks,
  DEFAULT_LIMITS,
  decodeWrpcTuple,
  decodeWrpcValue,
  encodeWrpcTuple,
  encodeWrpcValue,
  isWrpcTruncated,
  wit,
  witTypeToString,
  WrpcDecodeError,
} from '../src/index.ts';
import type { WitType, WrpcDeferred } from '../src/index.ts';
import { compiledDecoder, compiledEncoder, DecodeState, MISS } from '../src/wrpc-compiled.ts';
import { Decoder, encodeWith } from '../src/wrpc-reference.ts';
import { Writer } from '../src/wrpc-values.ts';
import { TYPED, typed, witType } from './wit-arbitraries.ts';
import type { TypedArrayOf } from './wit-arbitraries.ts';

/** Several values as a parameter tuple, and its encoding. */
const encodedTuple = fc.array(typed, { minLength: 1, maxLength: 3 }).map((members) => {
  const types = members.map((m) => m.type);
  const values = members.map((m) => m.value);
  return { types, values, bytes: encodeWrpcTuple(types, values).bytes };
});

// --- the bounds every decode must keep -------------------------------------------------------------

/** Per case; decoding a few hundred bytes takes microseconds, so this only catches hangs. */
const TIME_BOUND_MS = 500;
/**
 * Bytes of buffers a decode may allocate per input byte: a one-byte LEB128 element can become an
 * 8-byte bigint in a BigInt64Array, and a copy of the input may be taken.
 */
const ALLOCATION_PER_BYTE = 9;
/** Buffer memory Node may allocate for itself meanwhile; far below what a declared length could claim. */
const ALLOCATION_SLACK = 512 * 1024;

/**
 * Runs a decode, checking the time it took and the buffer memory it allocated, and that it failed,
 * if at all, with WRPC_DECODE_FAILED. Returns the error, if any.
 */
function boundedDecode(what: string, input: Uint8Array, decode: () => unknown): WrpcDecodeError | undefined {
  const before = process.memoryUsage().arrayBuffers;
  const began = performance.now();
  let result: unknown;
  let error: WrpcDecodeError | undefined;
  try {
    result = decode();
  } catch (err) {
    assert.ok(err instanceof WrpcDecodeError, `${what}: threw ${String(err)} instead of WRPC_DECODE_FAILED`);
    error = err;
  }
  const elapsed = performance.now() - began;
  // Measured while `result` is alive, so whatever it holds counts.
  const allocated = process.memoryUsage().arrayBuffers - before;
  assert.ok(elapsed < TIME_BOUND_MS, `${what}: took ${Math.round(elapsed)} ms`);
  assert.ok(
    allocated <= ALLOCATION_PER_BYTE * input.length + ALLOCATION_SLACK,
    `${what}: allocated ${allocated} bytes of buffers for ${input.length} bytes of input`,
  );
  void result;
  return error;
}

function referenceRead(type: WitType, bytes: Uint8Array): unknown {
  const d = new Decoder(bytes, {}, '$');
  const value = d.value(type);
  d.finish(false);
  return value;
}

/** The compiled decoder's value, or undefined where it leaves the input to the reference decoder. */
function compiledRead(type: WitType, bytes: Uint8Array): { value: unknown } | undefined {
  const s = new DecodeState(bytes, {}, DEFAULT_LIMITS.wrpcMaxValueBytes, DEFAULT_LIMITS.wrpcMaxListLength);
  try {
    const value = compiledDecoder(type)(s);
    return s.pos === bytes.length ? { value } : undefined;
  } catch (err) {
    if (err === MISS) return undefined;
    throw err;
  }
}

function label(types: readonly WitType[]): string {
  return types.map(witTypeToString).join(', ');
}

/** LEB128 of lengths far beyond any input: 2^32 - 1, 2^31, a configured limit plus one, 2^28. */
const HUGE_LENGTHS = [
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0x80, 0x80, 0x80, 0x80, 0x08],
  [0x81, 0x80, 0x40],
  [0x80, 0x80, 0x80, 0x80, 0x01],
];

describe('wRPC value codec under fuzzing', () => {
  it('decode(encode(v)) gives v back, byte for byte when encoded again, for random types and values', () => {
    fuzz(
      fc.property(encodedTuple, ({ types, values, bytes }) => {
        const decoded = decodeWrpcTuple(types, bytes);
        assert.deepStrictEqual(decoded.values, values, label(types));
        assert.equal(decoded.bytesRead, bytes.length);
        assert.deepStrictEqual(encodeWrpcTuple(types, decoded.values).bytes, bytes, label(types));
        for (const [i, type] of types.entries()) {
          const one = encodeWrpcValue(type, values[i]).bytes;
          assert.deepStrictEqual(decodeWrpcValue(type, one).value, values[i], witTypeToString(type));
        }
      }),
      300,
    );
  });

  it('the compiled codec writes the bytes the reference codec writes, and reads them back the same', () => {
    fuzz(
      fc.property(typed, ({ type, value }) => {
        const reference = encodeWith([7], '$', (e) => e.value(type, value));
        const out = new Writer();
        const deferred: WrpcDeferred[] = [];
        compiledEncoder(type)(value, { out, wire: [7], deferred });
        assert.deepStrictEqual(out.result(), reference.bytes, witTypeToString(type));
        assert.deepStrictEqual(deferred, reference.deferred, witTypeToString(type));
        const bytes = reference.bytes;
        assert.deepStrictEqual(compiledRead(type, bytes), { value: referenceRead(type, bytes) });
      }),
      300,
    );
  });

  it('the compiled decoder accepts exactly the bytes the reference decoder accepts, with the same values', () => {
    fuzz(
      fc.property(typed, fc.nat(), fc.integer({ min: 0, max: 255 }), ({ type, value }, position, byte) => {
        const valid = encodeWith([], '$', (e) => e.value(type, value)).bytes;
        const inputs = [valid.subarray(0, position % (valid.length + 1))];
        if (valid.length > 0) {
          const changed = valid.slice();
          changed[position % valid.length] = byte;
          inputs.push(changed);
        }
        for (const input of inputs) {
          let expected: { value: unknown } | undefined;
          try {
            expected = { value: referenceRead(type, input) };
          } catch (err) {
            assert.ok(err instanceof WrpcDecodeError, String(err));
          }
          assert.deepStrictEqual(compiledRead(type, input), expected, witTypeToString(type));
        }
      }),
      400,
    );
  });

  it('NaN, -0 and infinities of f32 and f64 round-trip, alone and in lists', () => {
    const specials = [Number.NaN, -0, 0, Infinity, -Infinity, Number.MIN_VALUE, -Number.MAX_VALUE];
    fuzz(
      fc.property(fc.constantFrom(...specials), fc.constantFrom(wit.f32, wit.f64), (x, type) => {
        const value = type.kind === 'f32' ? Math.fround(x) : x;
        assert.ok(Object.is(decodeWrpcValue(type, encodeWrpcValue(type, value).bytes).value, value));
        // -NaN would not come back: the encoder writes the canonical NaN, sign bit clear.
        const list = (TYPED[type.kind] as TypedArrayOf)([value, Number.isNaN(value) ? value : -value]);
        const back = decodeWrpcValue(wit.list(type), encodeWrpcValue(wit.list(type), list).bytes).value;
        assert.deepStrictEqual(back, list);
      }),
      30,
    );
  });

  it('every truncation of a valid encoding fails as truncated', () => {
    fuzz(
      fc.property(encodedTuple, ({ types, bytes }) => {
        const began = performance.now();
        for (let cut = 0; cut < bytes.length; cut += 1) {
          let err: unknown;
          try {
            decodeWrpcTuple(types, bytes.subarray(0, cut));
          } catch (caught) {
            err = caught;
          }
          assert.ok(isWrpcTruncated(err), `${label(types)} cut at ${cut}/${bytes.length}: ${String(err)}`);
        }
        assert.ok(
          performance.now() - began < TIME_BOUND_MS,
          `${bytes.length} truncations of ${label(types)}`,
        );
      }),
      100,
    );
  });

  it('single-byte changes, inserted bytes and huge declared lengths decode or fail with WRPC_DECODE_FAILED, within bounds', () => {
    fuzz(
      fc.property(
        encodedTuple,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('replace', 'insert', 'huge-length'),
        fc.constantFrom(...HUGE_LENGTHS),
        fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
        ({ types, bytes }, position, byte, how, huge, maxListLength) => {
          const at = position % (bytes.length + 1);
          let input: Uint8Array;
          if (how === 'replace') {
            input = bytes.slice();
            if (bytes.length > 0) input[at % bytes.length] = byte;
          } else {
            const inserted = how === 'insert' ? [byte] : huge;
            input = Uint8Array.from([...bytes.subarray(0, at), ...inserted, ...bytes.subarray(at)]);
          }
          const opts = maxListLength === undefined ? {} : { maxListLength };
          boundedDecode(`${label(types)} (${how} at ${at})`, input, () =>
            decodeWrpcTuple(types, input, opts),
          );
        },
      ),
      400,
    );
  });

  it('arbitrary bytes decode or fail with WRPC_DECODE_FAILED for any type and limits, within bounds', () => {
    fuzz(
      fc.property(
        witType(3),
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          fc
            .tuple(fc.constantFrom(...HUGE_LENGTHS), fc.uint8Array({ maxLength: 16 }))
            .map(([head, tail]) => Uint8Array.from([...head, ...tail])),
        ),
        fc.record(
          {
            maxValueBytes: fc.constantFrom(1024, 16 * 1024 * 1024, 1024 * 1024 * 1024),
            maxListLength: fc.constantFrom(1, 3, 1_048_576, 4_294_967_295),
            allowTrailing: fc.boolean(),
          },
          { requiredKeys: [] },
        ),
        (type, input, opts) => {
          const what = `${witTypeToString(type)} from ${input.length} bytes`;
          boundedDecode(what, input, () => decodeWrpcValue(type, input, opts));
          boundedDecode(`stream chunks of ${what}`, input, () => decodeWrpcStreamChunks(type, input, opts));
        },
      ),
      400,
    );
  });

  it('a declared list length of 2^32 - 1 allocates nothing, even with the limits at their maximum', () => {
    const opts = { maxValueBytes: 1024 * 1024 * 1024, maxListLength: 4_294_967_295 };
    const input = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2, 3]);
    for (const type of [
      wit.list(wit.u8),
      wit.list(wit.u64),
      wit.list(wit.string),
      wit.string,
      wit.own('r'),
    ]) {
      const err = boundedDecode(witTypeToString(type), input, () => decodeWrpcValue(type, input, opts));
      assert.ok(err !== undefined, `${witTypeToString(type)} decoded from 8 bytes`);
    }
  });
});
