/**
 * The reply a browser worker reads synchronously: values jco passes (bigints, typed arrays, variants,
 * records) survive the encoding exactly, what structured cloning refuses is refused, and the shared
 * slot grows up to its cap and no further.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeValue, encodeValue } from '../src/browser/value-codec.ts';
import { createReplySlot, putReply, takeReply } from '../src/browser/reply-slot.ts';

const roundTrip = (value: unknown): unknown => decodeValue(encodeValue(value));

describe('browser worker replies', () => {
  it('carries jco values exactly', () => {
    const value = {
      ok: true,
      value: {
        tag: 'some',
        val: [1, -0.5, 2n ** 64n - 1n, -(2n ** 63n), 'héllo ✓', null, undefined, true, false],
        bytes: new Uint8Array([0, 1, 255]),
        floats: new Float64Array([1.5, Number.NaN, -Infinity]),
        words: new BigUint64Array([7n]),
        nested: { list: [{ a: 1 }, []], empty: {} },
      },
    };
    assert.deepEqual(roundTrip(value), value);
  });

  it('round-trips any JSON-like value with bigints and byte arrays', () => {
    const leaf = fc.oneof(
      fc.double(),
      fc.bigInt(),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.uint8Array(),
    );
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('node')),
        fc.dictionary(fc.string(), tie('node'), { noNullPrototype: true }),
      ),
    })).node;
    fc.assert(fc.property(value, (v) => assert.deepEqual(roundTrip(v), v)));
  });

  it('keeps a `__proto__` key a plain property', () => {
    const value = JSON.parse('{"__proto__": {"polluted": true}}') as object;
    const decoded = roundTrip(value) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.deepEqual(Object.keys(decoded), ['__proto__']);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('refuses what cannot cross to a worker', () => {
    assert.throws(() => encodeValue({ f: () => 1 }), /function cannot be sent/);
    assert.throws(() => encodeValue(new Map()), /Map instance cannot be sent/);
    assert.throws(() => encodeValue(Symbol('s')), /symbol cannot be sent/);
  });

  it('grows its slot for a large reply, and refuses one above the cap', () => {
    const slot = createReplySlot(4 * 1024 * 1024);
    assert.equal(takeReply(slot), undefined);
    const big = { ok: true as const, value: new Uint8Array(1024 * 1024).fill(7) };
    putReply(slot, big);
    assert.deepEqual(takeReply(slot), big);
    assert.equal(takeReply(slot), undefined, 'a reply is read once');
    assert.throws(
      () => putReply(slot, { ok: true, value: new Uint8Array(5 * 1024 * 1024) }),
      /more than an instance's memory cap allows/,
    );
  });
});
