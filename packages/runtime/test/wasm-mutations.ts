/**
 * Mutations of WebAssembly binaries for the loader's fuzz tests: bytes replaced, cut off or inserted,
 * and section sizes (or the LEB128 number at any offset) replaced by huge ones, optionally aimed at
 * the parts of a large binary that are not one big core module.
 */
import { fc } from '@cirrus/testing';

export type Mutation =
  | { readonly kind: 'flip'; readonly at: number; readonly byte: number }
  | { readonly kind: 'truncate'; readonly at: number }
  | { readonly kind: 'insert'; readonly at: number; readonly bytes: readonly number[] }
  | {
      readonly kind: 'huge-leb';
      readonly at: number;
      readonly section: boolean;
      readonly leb: readonly number[];
    };

/** LEB128 numbers far beyond any input: 2^32 - 1, 2^35 - 1 (too long for a u32), 2^31, 2^28. */
export const HUGE_LEBS: readonly (readonly number[])[] = [
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0x7f],
  [0x80, 0x80, 0x80, 0x80, 0x08],
  [0x80, 0x80, 0x80, 0x80, 0x01],
  [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
];

/** One byte replaced: keeps every size intact, so the binary usually gets past framing checks. */
export const flip: fc.Arbitrary<Mutation> = fc
  .tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))
  .map(([at, byte]): Mutation => ({ kind: 'flip', at, byte }));

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: flip },
  { weight: 1, arbitrary: fc.nat().map((at): Mutation => ({ kind: 'truncate', at })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.nat(), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }))
      .map(([at, bytes]): Mutation => ({ kind: 'insert', at, bytes })),
  },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.nat(), fc.boolean(), fc.constantFrom(...HUGE_LEBS))
      .map(([at, section, leb]): Mutation => ({ kind: 'huge-leb', at, section, leb })),
  },
);

/** Where each top-level section's size starts (the byte after its id), for a module or component. */
export function sectionSizeOffsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    out.push(pos + 1);
    let size = 0;
    let at = pos + 1;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      if (b === undefined) return out;
      size += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    pos = at + size;
  }
  return out;
}

/** The end of the LEB128 number starting at `at` (or of the input). */
function lebEnd(bytes: Uint8Array, at: number): number {
  let end = at;
  while (end < bytes.length && ((bytes[end] as number) & 0x80) !== 0) end++;
  return Math.min(end + 1, bytes.length);
}

/**
 * Applies `m`. `focus` lists byte ranges to aim at (positions are taken within them), so that a
 * 12 MB component is not mostly mutated inside its core module, which the loader skips.
 */
export function mutate(
  bytes: Uint8Array,
  m: Mutation,
  focus?: readonly (readonly [number, number])[],
): Uint8Array {
  const position = (n: number): number => {
    if (focus === undefined || focus.length === 0) return n % (bytes.length + 1);
    const [from, to] = focus[n % focus.length] as readonly [number, number];
    return Math.min(bytes.length, from + (Math.floor(n / focus.length) % Math.max(1, to - from)));
  };
  switch (m.kind) {
    case 'flip': {
      if (bytes.length === 0) return bytes;
      const copy = bytes.slice();
      copy[position(m.at) % bytes.length] = m.byte;
      return copy;
    }
    case 'truncate':
      return bytes.subarray(0, position(m.at));
    case 'insert':
      return splice(bytes, position(m.at), position(m.at), m.bytes);
    case 'huge-leb': {
      const sections = sectionSizeOffsets(bytes);
      const at =
        m.section && sections.length > 0 ? (sections[m.at % sections.length] as number) : position(m.at);
      return splice(bytes, at, lebEnd(bytes, at), m.leb);
    }
  }
}

function splice(bytes: Uint8Array, from: number, to: number, insert: readonly number[]): Uint8Array {
  const out = new Uint8Array(bytes.length - (to - from) + insert.length);
  out.set(bytes.subarray(0, from), 0);
  out.set(insert, from);
  out.set(bytes.subarray(to), from + insert.length);
  return out;
}

/** The parts of `bytes` outside sections larger than `skipAbove` bytes (core modules, mostly). */
export function smallSections(bytes: Uint8Array, skipAbove: number): [number, number][] {
  const ranges: [number, number][] = [];
  let from = 0;
  for (const sizeAt of sectionSizeOffsets(bytes)) {
    let size = 0;
    let at = sizeAt;
    for (let shift = 0; at < bytes.length; shift += 7) {
      const b = bytes[at++] as number;
      size += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    if (size > skipAbove) {
      ranges.push([from, at]);
      from = at + size;
    }
  }
  ranges.push([from, bytes.length]);
  return ranges.filter(([a, b]) => b > a);
}
