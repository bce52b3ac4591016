/**
 * fast-check arbitraries for WIT types and values, shared by the wRPC fuzz tests: types of every value
 * kind nested a few levels, with field and case names that shadow Object.prototype once converted to
 * JavaScript, and values in exactly the form decoding gives back (so round trips compare with
 * deepStrictEqual).
 */
import { fc } from '@cirrus/testing';
import { wit, witNameToJs } from '../src/index.ts';
import type { WitType } from '../src/index.ts';

// --- types ---------------------------------------------------------------------------------------

/** WIT names, some of which become JavaScript keys that Object.prototype already has. */
const NAMES = [
  'a',
  'b-c',
  'x1',
  'get-URL',
  'constructor',
  'to-string',
  'has-own-property',
  'value-of',
  'tag',
  'val',
];
const FLAG_NAMES = [...NAMES, ...Array.from({ length: 16 }, (_, i) => `f${i}`)];

const names = (max: number, pool = NAMES): fc.Arbitrary<string[]> =>
  fc.uniqueArray(fc.constantFrom(...pool), { minLength: 1, maxLength: max, selector: witNameToJs });

const PRIMITIVES: WitType[] = [
  wit.bool,
  wit.u8,
  wit.s8,
  wit.u16,
  wit.s16,
  wit.u32,
  wit.s32,
  wit.u64,
  wit.s64,
  wit.f32,
  wit.f64,
  wit.char,
  wit.string,
];

const leafType: fc.Arbitrary<WitType> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...PRIMITIVES) },
  { weight: 1, arbitrary: names(4).map((cases) => wit.enum(cases)) },
  { weight: 1, arbitrary: names(20, FLAG_NAMES).map((flags) => wit.flags(flags)) },
  { weight: 1, arbitrary: fc.constantFrom(wit.own('res'), wit.borrow('res')) },
);

export const witType: fc.Memo<WitType> = fc.memo((n) => {
  if (n <= 1) return leafType;
  const inner = witType(n - 1);
  const maybe = fc.option(inner, { nil: undefined });
  return fc.oneof(
    { weight: 3, arbitrary: leafType },
    { weight: 2, arbitrary: inner.map((t) => wit.list(t)) },
    { weight: 1, arbitrary: inner.map((t) => wit.option(t)) },
    { weight: 1, arbitrary: fc.tuple(maybe, maybe).map(([ok, err]) => wit.result(ok, err)) },
    { weight: 1, arbitrary: fc.array(inner, { minLength: 1, maxLength: 3 }).map((ts) => wit.tuple(...ts)) },
    {
      weight: 1,
      arbitrary: names(4).chain((fields) =>
        fc
          .tuple(...fields.map(() => inner))
          .map((ts) => wit.record(Object.fromEntries(fields.map((f, i) => [f, ts[i] as WitType])))),
      ),
    },
    {
      weight: 1,
      arbitrary: names(4).chain((cases) =>
        fc
          .tuple(...cases.map(() => fc.option(inner, { nil: null })))
          .map((ts) => wit.variant(Object.fromEntries(cases.map((c, i) => [c, ts[i] ?? null])))),
      ),
    },
    { weight: 1, arbitrary: inner.map((t) => wit.stream(t)) },
    { weight: 1, arbitrary: maybe.map((t) => wit.future(t)) },
  );
});

// --- values --------------------------------------------------------------------------------------

export type TypedArrayOf = (items: unknown[]) => ArrayLike<unknown>;

/** How jco, and so the codec, represents a list of each numeric element type. */
export const TYPED: Partial<Record<WitType['kind'], TypedArrayOf>> = {
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

/** jco's `maybe_null`: an option whose JavaScript form can itself be `undefined`. */
function maybeUndefined(type: WitType): boolean {
  return type.kind === 'option' && !maybeUndefined(type.type);
}

const scalar = fc.oneof(fc.integer({ min: 0, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff }));

const items = (type: WitType, minLength: number): fc.Arbitrary<unknown> => {
  const list = fc.array(valueOf(type), { minLength, maxLength: 5 });
  const typed = TYPED[type.kind];
  return typed === undefined ? list : list.map(typed);
};

/** A random value of `type`, in the form decoding gives back. */
export function valueOf(type: WitType): fc.Arbitrary<unknown> {
  switch (type.kind) {
    case 'bool':
      return fc.boolean();
    case 'u8':
      return fc.integer({ min: 0, max: 0xff });
    case 's8':
      return fc.integer({ min: -0x80, max: 0x7f });
    case 'u16':
      return fc.integer({ min: 0, max: 0xffff });
    case 's16':
      return fc.integer({ min: -0x8000, max: 0x7fff });
    case 'u32':
      return fc.integer({ min: 0, max: 0xffff_ffff });
    case 's32':
      return fc.integer({ min: -0x8000_0000, max: 0x7fff_ffff });
    case 'u64':
      return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case 's64':
      return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 'f32':
      return fc.float();
    case 'f64':
      return fc.double();
    case 'char':
      return scalar.map((cp) => String.fromCodePoint(cp));
    case 'string':
      return fc.array(scalar, { maxLength: 12 }).map((cps) => String.fromCodePoint(...cps));
    case 'list':
      return items(type.element, 0);
    case 'record': {
      const fields = type.fields;
      return fc
        .tuple(...fields.map((f) => valueOf(f.type)))
        .map((vs) => Object.fromEntries(fields.map((f, i) => [witNameToJs(f.name), vs[i]])));
    }
    case 'tuple':
      return fc.tuple(...type.types.map(valueOf));
    case 'variant':
      return fc.oneof(
        ...type.cases.map((c) =>
          c.type === undefined
            ? fc.constant({ tag: c.name })
            : valueOf(c.type).map((val) => ({ tag: c.name, val })),
        ),
      );
    case 'enum':
      return fc.constantFrom(...type.cases);
    case 'option': {
      const tagged = maybeUndefined(type.type);
      return fc.oneof(
        fc.constant(tagged ? { tag: 'none' } : undefined),
        valueOf(type.type).map((val) => (tagged ? { tag: 'some', val } : val)),
      );
    }
    case 'result': {
      const side = (tag: 'ok' | 'err', t: WitType | undefined) =>
        t === undefined ? fc.constant({ tag, val: undefined }) : valueOf(t).map((val) => ({ tag, val }));
      return fc.oneof(side('ok', type.ok), side('err', type.err));
    }
    case 'flags':
      return fc
        .array(fc.boolean(), { minLength: type.flags.length, maxLength: type.flags.length })
        .map((bits) => Object.fromEntries(type.flags.map((f, i) => [witNameToJs(f), bits[i]])));
    case 'own':
    case 'borrow':
      return fc.uint8Array({ maxLength: 8 });
    case 'stream':
      // A complete, non-empty stream travels inline; an empty one would be sent as pending.
      return items(type.element, 1).map((val) => ({ tag: 'ready', val }));
    case 'future':
      return type.type === undefined
        ? fc.constant({ tag: 'ready', val: undefined })
        : valueOf(type.type).map((val) => ({ tag: 'ready', val }));
  }
}

export const typed: fc.Arbitrary<{ type: WitType; value: unknown }> = witType(4).chain((type) =>
  valueOf(type).map((value) => ({ type, value })),
);
