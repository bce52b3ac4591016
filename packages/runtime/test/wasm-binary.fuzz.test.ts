/**
 * Fuzzing the loader's first look at a binary and the memory cap it writes into core modules:
 * arbitrary bytes and mutations of real components (hand-written, wit-component output, the 12 MB
 * hello component) are classified or refused with a Cirrus error, promptly; for any core module V8
 * accepts, the capped module is still accepted and no memory can grow past the cap (64-bit memories
 * included). Signal: the thrown value's class, whether V8 compiles the result, and the capped limits read
 * back independently.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import { isCirrusError } from '@cirrus/protocol';
import { assemble, fc, fuzz, MEMORY_GROWER_WAT, TRAP_WAT } from '@cirrus/testing';
import { assertComponent, capModuleMemory, inspectWasm } from '../src/wasm-binary.ts';
import { mutate, mutation, smallSections } from './wasm-mutations.ts';

const HELLO_WASM = fileURLToPath(new URL('../../../examples/hello/build/hello.wasm', import.meta.url));
const PAGE = 65_536;
const TIME_BOUND_MS = 1000;

/** Whether V8 compiles `bytes` (the runtime's WebAssembly typings leave `validate` out). */
function isValidWasm(bytes: Uint8Array): boolean {
  try {
    new WebAssembly.Module(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Runs `fn`; it may return or throw a Cirrus error, within the time bound. Returns the error. */
function bounded(what: string, fn: () => unknown): unknown {
  const began = performance.now();
  let error: unknown;
  try {
    fn();
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(isCirrusError(err), `${what} threw ${String(err)} instead of a Cirrus error`);
    error = err;
  }
  const elapsed = performance.now() - began;
  assert.ok(elapsed < TIME_BOUND_MS, `${what} took ${Math.round(elapsed)} ms`);
  return error;
}

function leb(value: number | bigint): number[] {
  const out: number[] = [];
  let v = BigInt(value);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return out;
}

interface MemorySpec {
  wide: boolean;
  shared: boolean;
  min: number;
  max: number | undefined;
}

const HEADER = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** A core module defining `memories`, between a custom section and an export of the first. */
function moduleWith(memories: readonly MemorySpec[]): Uint8Array {
  const memory = memories.flatMap((m) => {
    const flags = (m.max === undefined ? 0 : 1) | (m.shared ? 2 : 0) | (m.wide ? 4 : 0);
    return [flags, ...leb(m.min), ...(m.max === undefined ? [] : leb(m.max))];
  });
  const content = [...leb(memories.length), ...memory];
  const exports = memories.length === 0 ? [] : [0x07, 0x05, 0x01, 0x01, 0x6d, 0x02, 0x00];
  return Uint8Array.from([
    ...HEADER,
    0x00,
    0x02,
    0x01,
    0x78,
    0x05,
    ...leb(content.length),
    ...content,
    ...exports,
  ]);
}

/** Every memory's limits, read without the code under test: [min, max | undefined] in pages. */
function memoryLimits(module: Uint8Array): [number, number | undefined][] {
  let pos = 8;
  const read = (): number => {
    let result = 0;
    for (let shift = 0; ; shift += 7) {
      const b = module[pos++] as number;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (pos < module.length) {
    const id = module[pos++];
    const size = read();
    if (id !== 5) {
      pos += size;
      continue;
    }
    return Array.from({ length: read() }, () => {
      const flags = module[pos++] as number;
      const min = read();
      return [min, (flags & 1) === 0 ? undefined : read()];
    });
  }
  return [];
}

const memorySpec: fc.Arbitrary<MemorySpec> = fc
  .record({
    wide: fc.boolean(),
    shared: fc.boolean(),
    min: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 70_000 })),
    max: fc.option(fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 2 ** 40 })), {
      nil: undefined,
    }),
  })
  .map((m) => ({ ...m, shared: m.shared && m.max !== undefined }));

describe('binary checks and the memory cap under fuzzing', () => {
  const components: Uint8Array[] = [];
  let hello: Uint8Array;
  let helloFocus: [number, number][];
  const modules: Uint8Array[] = [];

  before(async () => {
    const embedded = await componentEmbed({
      dummy: true,
      world: 'w',
      witSource: `package acme:fuzz@0.1.0;
        interface types {
          record point { x: s32, y: s32 }
          variant shape { circle(f64), square(tuple<f32, f32>), empty }
          flags perms { read, write, exec }
          enum color { red, green }
          resource blob { read: func(n: u32) -> list<u8>; }
          f: func(p: point, s: shape, q: perms, c: color, b: borrow<blob>) -> result<option<string>, list<u64>>;
        }
        world w { import types; export types; }`,
    });
    components.push(
      await componentNew(embedded),
      await assemble(TRAP_WAT),
      await assemble(MEMORY_GROWER_WAT),
    );
    hello = new Uint8Array(await readFile(HELLO_WASM));
    helloFocus = smallSections(hello, 64 * 1024);
    modules.push(
      await assemble('(module (memory (export "m") 1) (func (export "f")))'),
      await assemble('(module (memory i64 2 100) (memory 1 2 shared) (data (i32.const 0) "x"))'),
    );
  });

  it('arbitrary bytes are classified as a module or component, or refused with a Cirrus error', () => {
    const header = fc.constantFrom(
      [],
      HEADER,
      [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00],
      [0x00, 0x61],
    );
    fuzz(
      fc.property(header, fc.uint8Array({ maxLength: 64 }), (head, tail) => {
        const bytes = Uint8Array.from([...head, ...tail]);
        bounded('inspectWasm', () => assert.ok(['module', 'component'].includes(inspectWasm(bytes, 'fuzz'))));
        bounded('assertComponent', () => assertComponent(bytes, 'fuzz'));
        bounded('capModuleMemory', () => capModuleMemory(bytes, 16 * PAGE, 'fuzz'));
      }),
      300,
    );
  });

  it('mutated components are classified or refused with a Cirrus error', () => {
    fuzz(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }), (pick, mutations) => {
        const base = components[pick % components.length] as Uint8Array;
        const bytes = mutations.reduce((b, m) => mutate(b, m), base);
        bounded('assertComponent', () => assertComponent(bytes, 'fuzz'));
      }),
      300,
    );
  });

  it('the 12 MB hello component, mutated outside its core module, is classified or refused promptly', () => {
    fuzz(
      fc.property(mutation, (m) => {
        const bytes = mutate(hello, m, helloFocus);
        bounded('assertComponent of hello', () => assertComponent(bytes, 'hello'));
      }),
      20,
    );
  });

  it('any core module V8 accepts stays valid once capped, and no memory can grow past the cap', () => {
    fuzz(
      fc.property(
        fc.array(memorySpec, { maxLength: 3 }),
        fc.integer({ min: 1, max: 4096 }),
        (memories, capPages) => {
          const module = moduleWith(memories);
          const valid = isValidWasm(module);
          const err = bounded('capModuleMemory', () => {
            const capped = capModuleMemory(module, capPages * PAGE, 'fuzz');
            if (!valid) return;
            assert.ok(isValidWasm(capped), 'the capped module is still valid');
            const limits = memoryLimits(capped);
            assert.equal(limits.length, memories.length);
            for (const [i, [min, max]] of limits.entries()) {
              const spec = memories[i] as MemorySpec;
              assert.equal(min, spec.min);
              assert.ok(
                max !== undefined && max <= capPages,
                `memory ${i}: max ${String(max)} above ${capPages}`,
              );
              if (spec.max !== undefined) assert.ok(max <= spec.max);
            }
          });
          if (valid && memories.every((m) => m.min <= capPages)) {
            assert.equal(err, undefined, `a valid module within the cap was refused: ${String(err)}`);
          }
        },
      ),
      300,
    );
  });

  it('mutated core modules are capped or refused with a Cirrus error', () => {
    fuzz(
      fc.property(
        fc.nat(),
        fc.array(memorySpec, { maxLength: 2 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (pick, memories, mutations) => {
          const bases = [...modules, moduleWith(memories)];
          const module = mutations.reduce((b, m) => mutate(b, m), bases[pick % bases.length] as Uint8Array);
          bounded('capModuleMemory', () => {
            const capped = capModuleMemory(module, 64 * PAGE, 'fuzz');
            // Rewriting limits changes a few bytes per memory, never more than the memory section.
            assert.ok(capped.length <= module.length + 16 * 64);
          });
        },
      ),
      300,
    );
  });
});
