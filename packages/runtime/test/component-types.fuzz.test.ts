/**
 * Fuzzing the decoder of a component's interface types: arbitrary bytes behind a component header,
 * and mutations of real components (wit-component output using every kind of type, a hand-written
 * component, the 12 MB hello component) decode to interfaces or fail with COMPONENT_TYPES_INVALID,
 * within a time bound, whatever counts and sizes the bytes declare. What does decode is usable: every
 * type prints as WIT. Signal: the thrown value's class and the elapsed time.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import { ComponentTypesInvalidError, witFunctionToString, witTypeToString } from '@cirrus/protocol';
import { assemble, fc, fuzz, TRAP_WAT } from '@cirrus/testing';
import { decodeComponentInterfaces } from '../src/index.ts';
import { mutate, mutation, smallSections } from './wasm-mutations.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const TIME_BOUND_MS = 1000;

const WIT = `package acme:fuzz@0.1.0;

interface types {
  record point { x: s32, y: s32 }
  type alias = point;
  enum color { red, green, blue }
  flags perms { read, write, exec, f3, f4, f5, f6, f7, f8 }
  variant shape { circle(f64), square(tuple<f32, f32>), named(string), empty }
  resource blob {
    constructor(init: list<u8>);
    read: func(n: u32) -> list<u8>;
    open: static func(name: string) -> result<blob, string>;
  }
  make: func(p: alias, c: color, f: perms, s: shape) -> option<tuple<point, char>>;
  take: func(b: borrow<blob>, o: blob) -> result<list<list<s64>>, option<u16>>;
  numbers: func(a: bool, b: s8, c: u8, d: s16, e: u16, f: s64, g: u64, h: f32) -> result<_, string>;
}

interface uses {
  use types.{point, blob as thing};
  f: func(p: point, t: borrow<thing>) -> thing;
}

world w {
  import types;
  import uses;
  export types;
  export uses;
}`;

/** Decodes `bytes`: interfaces whose types all print, or COMPONENT_TYPES_INVALID, within the bound. */
function decodeBounded(what: string, bytes: Uint8Array): void {
  const began = performance.now();
  try {
    const decoded = decodeComponentInterfaces(bytes);
    for (const iface of [...decoded.imports.values(), ...decoded.exports.values()]) {
      for (const type of iface.types.values()) witTypeToString(type);
      for (const fn of iface.functions.values()) witFunctionToString(fn);
    }
  } catch (err) {
    assert.ok(
      err instanceof ComponentTypesInvalidError,
      `${what}: threw ${String(err)} instead of COMPONENT_TYPES_INVALID`,
    );
  }
  const elapsed = performance.now() - began;
  assert.ok(elapsed < TIME_BOUND_MS, `${what}: took ${Math.round(elapsed)} ms`);
}

describe('component interface types under fuzzing', () => {
  const bases: Uint8Array[] = [];
  let hello: Uint8Array;
  let helloFocus: [number, number][];

  before(async () => {
    const embedded = await componentEmbed({ dummy: true, witSource: WIT, world: 'w' });
    bases.push(await componentNew(embedded), await assemble(TRAP_WAT));
    hello = new Uint8Array(await readFile(HELLO_WASM));
    helloFocus = smallSections(hello, 64 * 1024);
  });

  it('arbitrary bytes behind a component header decode or fail with COMPONENT_TYPES_INVALID', () => {
    const header = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    fuzz(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.boolean(), (tail, withHeader) => {
        decodeBounded('arbitrary bytes', withHeader ? Uint8Array.from([...header, ...tail]) : tail);
      }),
      300,
    );
  });

  it('mutated components decode or fail with COMPONENT_TYPES_INVALID, promptly', () => {
    fuzz(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (pick, mutations) => {
        const base = bases[pick % bases.length] as Uint8Array;
        decodeBounded(
          'mutated component',
          mutations.reduce((b, m) => mutate(b, m), base),
        );
      }),
      400,
    );
  });

  it('the 12 MB hello component, mutated in its type sections, decodes or fails promptly', () => {
    fuzz(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 2 }), (mutations) => {
        decodeBounded(
          'mutated hello',
          mutations.reduce((b, m) => mutate(b, m, helloFocus), hello),
        );
      }),
      20,
    );
  });
});
