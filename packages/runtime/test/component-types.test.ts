/**
 * Decoding the WIT types of a component's imported and exported interfaces from its binary: real
 * componentize-js builds (the fixtures), wit-component output for WIT that uses every kind of type
 * (checked against `parseWit` of the same text), hand-written components for the encodings toolchains
 * rarely emit, and hostile or broken input, which must end in COMPONENT_TYPES_INVALID promptly.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { componentEmbed, componentNew } from '@bytecodealliance/jco-transpile/wasm-tools';
import {
  ComponentTypesInvalidError,
  isCirrusError,
  parseWit,
  parseWitInterface,
  wit,
} from '@cirrus/protocol';
import type { WitInterface } from '@cirrus/protocol';
import { assemble, CORE_MODULE_WAT } from '@cirrus/testing';
import { decodeComponentInterfaces } from '../src/index.ts';
import type { DecodedComponentInterfaces } from '../src/index.ts';

const root = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

const FIXTURES = {
  hello: root('examples/hello/build/hello.wasm'),
  counter: root('examples/counter/build/counter.wasm'),
  greeter: root('packages/testing/fixtures/greeter/build/greeter.wasm'),
  greetClient: root('packages/testing/fixtures/greet-client/build/greet-client.wasm'),
};

const decodedFiles = new Map<string, DecodedComponentInterfaces>();

function decodeFile(path: string): DecodedComponentInterfaces {
  let decoded = decodedFiles.get(path);
  if (decoded === undefined) {
    decoded = decodeComponentInterfaces(readFileSync(path));
    decodedFiles.set(path, decoded);
  }
  return decoded;
}

function get(map: ReadonlyMap<string, WitInterface>, name: string): WitInterface {
  const iface = map.get(name);
  assert.ok(iface !== undefined, `expected ${name} among ${JSON.stringify([...map.keys()])}`);
  return iface;
}

function findByPrefix(map: ReadonlyMap<string, WitInterface>, prefix: string): [string, WitInterface] {
  const entry = [...map].find(([name]) => name.startsWith(prefix));
  assert.ok(entry !== undefined, `expected an interface ${prefix}* among ${JSON.stringify([...map.keys()])}`);
  return entry;
}

function assertInvalid(fn: () => unknown, message?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(
      err instanceof ComponentTypesInvalidError,
      `expected COMPONENT_TYPES_INVALID, got ${String(err)}`,
    );
    assert.equal(err.code, 'COMPONENT_TYPES_INVALID');
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

const GREET_WIT = readFileSync(root('packages/testing/fixtures/greet-wit/greet.wit'), 'utf8');
const HANDLE = wit.func(
  'handle',
  { request: wit.own('incoming-request'), 'response-out': wit.own('response-outparam') },
  [],
);

describe('component interface types of the built components', () => {
  it('greet-client imports example:greeter/greet with the types of its WIT', () => {
    const greet = get(decodeFile(FIXTURES.greetClient).imports, 'example:greeter/greet@0.1.0');
    assert.equal(greet.name, 'greet');
    assert.deepEqual(greet.package, { namespace: 'example', name: 'greeter', version: '0.1.0' });
    assert.deepEqual(greet.functions.get('greet'), wit.func('greet', { name: wit.string }, wit.string));
    assert.deepEqual(
      greet.functions.get('checked-greet'),
      wit.func('checked-greet', { name: wit.string }, wit.result(wit.string, wit.string)),
    );
    assert.deepEqual(greet.functions, parseWitInterface(GREET_WIT).functions);
  });

  it('greeter exports the interface greet-client imports, with identical types', () => {
    const exported = get(decodeFile(FIXTURES.greeter).exports, 'example:greeter/greet@0.1.0');
    const imported = get(decodeFile(FIXTURES.greetClient).imports, 'example:greeter/greet@0.1.0');
    assert.deepEqual(exported, imported);
  });

  for (const name of ['hello', 'greetClient', 'counter'] as const) {
    it(`${name} exports wasi:http/incoming-handler with handle(own<incoming-request>, own<response-outparam>)`, () => {
      const [instance, handler] = findByPrefix(
        decodeFile(FIXTURES[name]).exports,
        'wasi:http/incoming-handler@0.2.',
      );
      assert.match(instance, /^wasi:http\/incoming-handler@0\.2\.\d+$/);
      assert.equal(handler.name, 'incoming-handler');
      assert.equal(handler.package?.namespace, 'wasi');
      assert.deepEqual([...handler.functions.values()], [HANDLE]);
    });
  }

  it('counter imports wasi:keyvalue/store exactly as parseWit reads its WIT', () => {
    const decoded = decodeFile(FIXTURES.counter);
    const store = get(decoded.imports, 'wasi:keyvalue/store@0.2.0-draft');
    const parsed = parseWitInterface(
      readFileSync(root('examples/counter/wit/deps/keyvalue/store.wit'), 'utf8'),
    );
    assert.deepEqual(store.functions, parsed.functions);
    assert.deepEqual(store.types, parsed.types);
    assert.deepEqual(
      store.functions.get('bucket.get'),
      wit.func(
        'bucket.get',
        { self: wit.borrow('bucket'), key: wit.string },
        wit.result(wit.option(wit.list(wit.u8)), parsed.types.get('error')),
      ),
    );
    // atomics `use`s bucket and error from store: they keep their names there.
    const atomics = get(decoded.imports, 'wasi:keyvalue/atomics@0.2.0-draft');
    assert.deepEqual(
      atomics.functions.get('increment'),
      wit.func(
        'increment',
        { bucket: wit.borrow('bucket'), key: wit.string, delta: wit.u64 },
        wit.result(wit.u64, parsed.types.get('error')),
      ),
    );
    assert.deepEqual(decoded.skipped, []);
  });

  it('names a resource used from another interface by its name in the using interface', () => {
    const { imports } = decodeFile(FIXTURES.greetClient);
    const [, stdin] = findByPrefix(imports, 'wasi:cli/stdin@');
    assert.deepEqual(stdin.functions.get('get-stdin'), wit.func('get-stdin', {}, wit.own('input-stream')));
    // wasi:http/types: `use wasi:io/error.{error as io-error}`.
    const [, types] = findByPrefix(imports, 'wasi:http/types@');
    assert.deepEqual(types.functions.get('http-error-code')?.params, [
      { name: 'err', type: wit.borrow('io-error') },
    ]);
    assert.deepEqual(types.types.get('headers'), wit.own('fields'));
    assert.deepEqual(types.functions.get('fields.from-list')?.results, [
      wit.result(wit.own('fields'), types.types.get('header-error')),
    ]);
    assert.equal(types.types.get('header-error')?.kind, 'variant');
  });

  it('decodes the largest fixture in well under 50 ms', () => {
    const largest = Object.values(FIXTURES).reduce((a, b) => (statSync(a).size >= statSync(b).size ? a : b));
    const bytes = readFileSync(largest);
    decodeComponentInterfaces(bytes);
    let best = Infinity;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      decodeComponentInterfaces(bytes);
      best = Math.min(best, performance.now() - started);
    }
    assert.ok(best < 50, `decoding ${bytes.byteLength} bytes took ${best.toFixed(1)} ms`);
  });
});

// Every kind of type parseWit knows, in an interface a component both imports and exports, so both
// encodings wit-component emits (instance types, and shim components instantiated with the lifted
// functions) are compared with the parser.
const SHAPES_INTERFACE = `
interface types {
  record point { x: s32, y: s32 }
  type coords = point;
  type count = u32;
  enum color { red, green, blue }
  flags perms { read, write, exec }
  variant shape { circle(f64), square(tuple<f32, f32>), empty }
  resource blob {
    constructor(init: list<u8>);
    read: func(n: u32) -> list<u8>;
    size: func() -> u64;
    open: static func(name: string) -> result<blob, string>;
  }
  type blob-alias = blob;
  make: func(p: coords, c: color, f: perms, s: shape, n: count) -> option<tuple<point, char>>;
  take: func(b: borrow<blob>, o: blob-alias) -> result;
  numbers: func(a: bool, b: s8, c: u8, d: s16, e: u16, f: s64, g: u64, h: f32) -> result<_, string>;
  nothing: func();
}`;

const SHAPES_WIT = `package acme:shapes@1.2.3;
${SHAPES_INTERFACE}

interface uses {
  use types.{point, blob as thing};
  f: func(p: point, t: borrow<thing>) -> thing;
}

world shapes {
  import types;
  import uses;
  export types;
  export uses;
}`;

describe('component interface types of wit-component output', () => {
  let decoded: DecodedComponentInterfaces;
  const parsed = parseWit(`package acme:shapes@1.2.3;\n${SHAPES_INTERFACE}`).interfaces[0] as WitInterface;

  before(async () => {
    const embedded = await componentEmbed({ dummy: true, witSource: SHAPES_WIT, world: 'shapes' });
    decoded = decodeComponentInterfaces(await componentNew(embedded));
  });

  for (const side of ['imports', 'exports'] as const) {
    it(`${side} records, variants, enums, flags, aliases and resources as parseWit reads them`, () => {
      const types = get(decoded[side], 'acme:shapes/types@1.2.3');
      assert.deepEqual(types, parsed);
      assert.deepEqual(
        types.functions.get('blob'),
        wit.func('blob', { init: wit.list(wit.u8) }, wit.own('blob')),
      );
      assert.deepEqual(
        types.functions.get('blob.open'),
        wit.func('blob.open', { name: wit.string }, wit.result(wit.own('blob'), wit.string)),
      );
      assert.equal(types.types.get('coords'), types.types.get('point'));
    });

    it(`${side} an interface that uses types of another under its own names`, () => {
      const uses = get(decoded[side], 'acme:shapes/uses@1.2.3');
      const point = wit.record({ x: wit.s32, y: wit.s32 }, 'point');
      assert.deepEqual(uses.types, new Map([['point', point]]));
      assert.deepEqual(
        uses.functions,
        new Map([['f', wit.func('f', { p: point, t: wit.borrow('thing') }, wit.own('thing'))]]),
      );
    });
  }

  it('leaves nothing out', () => {
    assert.deepEqual(decoded.skipped, []);
  });
});

describe('component interface types of hand-written components', () => {
  const HTTP_TYPES = `
    (import "wasi:http/types@0.2.0" (instance $types
      (export "incoming-request" (type (sub resource)))
      (export "response-outparam" (type (sub resource)))
    ))
    (alias export $types "incoming-request" (type $req))
    (alias export $types "response-outparam" (type $out))`;

  it('derives the type of an exported instance made from inline exports', async () => {
    const decoded = decodeComponentInterfaces(
      await assemble(`(component
        ${HTTP_TYPES}
        (core module $m (func (export "handle") (param i32 i32)))
        (core instance $i (instantiate $m))
        (func $handle (param "request" (own $req)) (param "response-out" (own $out))
          (canon lift (core func $i "handle")))
        (instance $ih (export "handle" (func $handle)))
        (export "wasi:http/incoming-handler@0.2.0" (instance $ih))
        (export "plain" (instance $ih))
      )`),
    );
    assert.deepEqual([...decoded.exports.keys()], ['wasi:http/incoming-handler@0.2.0']);
    assert.deepEqual(
      [...get(decoded.exports, 'wasi:http/incoming-handler@0.2.0').functions.values()],
      [HANDLE],
    );
    assert.deepEqual([...decoded.imports.keys()], ['wasi:http/types@0.2.0']);
  });

  it('uses the type ascribed to an export', async () => {
    const decoded = decodeComponentInterfaces(
      await assemble(`(component
        (type $it (instance (export "f" (func (param "x" u32) (result string)))))
        (import "a:b/c" (instance $i (type $it)))
        (export "a:b/d@1.0.0" (instance $i) (instance (type $it)))
      )`),
    );
    const d = get(decoded.exports, 'a:b/d@1.0.0');
    assert.deepEqual(d.package, { namespace: 'a', name: 'b', version: '1.0.0' });
    assert.deepEqual(d.functions.get('f'), wit.func('f', { x: wit.u32 }, wit.string));
    assert.equal(get(decoded.imports, 'a:b/c').package?.version, undefined);
  });

  it('skips plain-named imports and exports, and reads `implements` names', async () => {
    const decoded = decodeComponentInterfaces(
      await assemble(`(component
        (import "poke" (func))
        (import "config" (instance (export "get" (func (result string)))))
        (import "my-store" (implements "wasi:keyvalue/store@0.2.0") (instance (export "f" (func))))
      )`),
    );
    assert.deepEqual([...decoded.imports.keys()], ['my-store']);
    const store = get(decoded.imports, 'my-store');
    assert.equal(store.name, 'store');
    assert.deepEqual(store.package, { namespace: 'wasi', name: 'keyvalue', version: '0.2.0' });
  });

  it('maps stream, future and async functions, and leaves out functions without a wRPC encoding', async () => {
    const decoded = decodeComponentInterfaces(
      await assemble(`(component
        (import "a:b/c" (instance
          (export "s" (func (param "s" (stream u8)) (result (future string))))
          (export "u" (func (result (future))))
          (export "a" (func async (param "x" u32) (result u32)))
          (export "e" (func (param "e" error-context)))
          (export "m" (func (param "m" (map string u32))))
          (export "l" (func (param "l" (list u8 4))))
          (export "n" (func (param "n" (stream))))
          (export "[weird]x" (func))
        ))
      )`),
    );
    const c = get(decoded.imports, 'a:b/c');
    assert.deepEqual(
      c.functions,
      new Map([
        ['s', wit.func('s', { s: wit.stream(wit.u8) }, wit.future(wit.string))],
        ['u', wit.func('u', {}, wit.future())],
        ['a', wit.func('a', { x: wit.u32 }, wit.u32)],
      ]),
    );
    assert.deepEqual(
      decoded.skipped.map((s) => [s.instance, s.function]),
      [
        ['a:b/c', 'e'],
        ['a:b/c', 'm'],
        ['a:b/c', 'l'],
        ['a:b/c', 'n'],
        ['a:b/c', '[weird]x'],
      ],
    );
    assert.match(decoded.skipped[0]?.reason ?? '', /error-context/);
  });

  it('reads past core types in instance types and core sections it does not need', async () => {
    const decoded = decodeComponentInterfaces(
      await assemble(`(component
        (core type (func (param i32)))
        (import "a:b/c" (instance
          (core type (module (import "m" "f" (func (param i32))) (export "g" (func (result i64)))))
          (export "f" (func (param "x" bool)))
        ))
        (core module (memory 1) (func (export "x")))
        (@custom "junk" "\\ff\\ff\\ff")
      )`),
    );
    assert.deepEqual(get(decoded.imports, 'a:b/c').functions.get('f'), wit.func('f', { x: wit.bool }));
  });

  it('reads exports of an instantiated nested component, through aliases', async () => {
    const decoded = decodeComponentInterfaces(
      await assemble(`(component
        (import "a:b/types" (instance $t
          (export "r" (type (sub resource)))
          (type (record (field "n" u8)))
          (export "rec" (type (eq 1)))
        ))
        (alias export $t "r" (type $r))
        (alias export $t "rec" (type $rec))
        (component $shim
          (import "import-type-r" (type $ir (sub resource)))
          (type $local (record (field "n" u8)))
          (import "import-type-rec" (type $irec (eq $local)))
          (import "f" (func $f (param "h" (borrow $ir)) (result $irec)))
          (export $er "thing" (type $ir))
          (export $erec "my-rec" (type $irec))
          (export "get" (func $f) (func (param "h" (borrow $er)) (result $erec)))
        )
        (core module $m (func (export "f") (param i32) (result i32) unreachable))
        (core instance $ci (instantiate $m))
        (func $lifted (param "h" (borrow $r)) (result $rec) (canon lift (core func $ci "f")))
        (instance $inst (instantiate $shim
          (with "import-type-r" (type $r))
          (with "import-type-rec" (type $rec))
          (with "f" (func $lifted))))
        (alias export $inst "get" (func $get))
        (export "a:b/things@0.1.0" (instance $inst))
      )`),
    );
    const things = get(decoded.exports, 'a:b/things@0.1.0');
    // The record keeps the name it has where it comes from (the instantiation argument).
    const rec = wit.record({ n: wit.u8 }, 'rec');
    assert.deepEqual(things.types, new Map([['my-rec', rec]]));
    assert.deepEqual(things.functions.get('get'), wit.func('get', { h: wit.borrow('thing') }, rec));
  });

  it('accepts the older 0x01 name prefix and named results', () => {
    const fn = [
      0x40,
      ...vec([]),
      0x01,
      ...vec([
        [...str('a'), 0x79],
        [...str('b'), 0x73],
      ]),
    ];
    const instanceType = [
      0x42,
      ...vec([
        [0x01, ...fn],
        [0x04, 0x00, ...str('f'), 0x01, 0x00],
      ]),
    ];
    const binary = component(
      section(7, [instanceType]),
      section(10, [[0x01, ...str('a:b/c@1.0.0'), 0x05, 0x00]]),
    );
    const c = get(decodeComponentInterfaces(binary).imports, 'a:b/c@1.0.0');
    assert.deepEqual(c.functions.get('f'), wit.func('f', {}, [wit.u32, wit.string]));
  });
});

// --- hand-made binaries --------------------------------------------------------------------------

type Bytes = readonly number[] | Uint8Array;

function bytes(...parts: Bytes[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** Signed LEB128, the encoding of type indices inside value types. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

function str(s: string): Uint8Array {
  const encoded = new TextEncoder().encode(s);
  return bytes(leb(encoded.length), encoded);
}

function vec(items: readonly Bytes[]): Uint8Array {
  return bytes(leb(items.length), ...items);
}

function rawSection(id: number, body: Bytes): Uint8Array {
  return bytes([id], leb(body.length), body);
}

function section(id: number, items: readonly Bytes[]): Uint8Array {
  return rawSection(id, vec(items));
}

const PREAMBLE = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

function component(...sections: Bytes[]): Uint8Array {
  return bytes(PREAMBLE, ...sections);
}

/** Defines `type0`, and imports `a:b/c` as an instance exporting `f: func(x: <type0>)`. */
function importUsing(type0: Bytes): Uint8Array[] {
  const instanceType = bytes(
    [0x42],
    vec([
      // (alias outer 1 0 (type)), (type (func (param "x" 0))), (export "f" (func (type 1)))
      [0x02, 0x03, 0x02, ...leb(1), ...leb(0)],
      bytes([0x01, 0x40], vec([bytes(str('x'), [0x00])]), [0x01, 0x00]),
      bytes([0x04, 0x00], str('f'), [0x01, ...leb(1)]),
    ]),
  );
  return [section(7, [type0, instanceType]), section(10, [bytes([0x00], str('a:b/c'), [0x05, ...leb(1)])])];
}

describe('component interface types of broken and hostile binaries', () => {
  it('rejects empty input, garbage, a core module and unknown versions', async () => {
    const core = await assemble(CORE_MODULE_WAT);
    assertInvalid(() => decodeComponentInterfaces(new Uint8Array()), /not a WebAssembly binary/);
    assertInvalid(
      () => decodeComponentInterfaces(new TextEncoder().encode('hello, world')),
      /not a WebAssembly/,
    );
    assertInvalid(() => decodeComponentInterfaces(core), /core WebAssembly module/);
    assertInvalid(
      () => decodeComponentInterfaces(Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0c, 0x00, 0x01, 0x00])),
      /unsupported component binary/,
    );
    assertInvalid(() => decodeComponentInterfaces(Uint8Array.from([0x00, 0x61, 0x73])), /ends at byte 3/);
  });

  it('rejects a truncated component at every length, or decodes the complete sections before the cut', async () => {
    const binary = await assemble(`(component
      (type $it (instance
        (type (record (field "a" u8) (field "b" string)))
        (export "rec" (type (eq 0)))
        (export "f" (func (param "r" 1) (result (list 1))))))
      (import "a:b/c@1.0.0" (instance $i (type $it)))
      (alias export $i "f" (func $f))
      (instance $j (export "f" (func $f)))
      (export "a:b/d" (instance $j))
    )`);
    const full = decodeComponentInterfaces(binary);
    assert.equal(full.exports.size, 1);
    let rejected = 0;
    for (let length = 0; length < binary.byteLength; length++) {
      try {
        decodeComponentInterfaces(binary.subarray(0, length));
      } catch (err) {
        assert.ok(err instanceof ComponentTypesInvalidError, `length ${length}: ${String(err)}`);
        rejected++;
      }
    }
    assert.ok(rejected > binary.byteLength / 2);
    const cut = readFileSync(FIXTURES.greeter).subarray(0, 1_000_000);
    assertInvalid(() => decodeComponentInterfaces(cut), /ends at byte 1000000 inside a section/);
  });

  it('survives random corruption with either a result or COMPONENT_TYPES_INVALID', async () => {
    const embedded = await componentEmbed({ dummy: true, witSource: SHAPES_WIT, world: 'shapes' });
    const binary = await componentNew(embedded);
    let seed = 0x2545f491;
    const random = (n: number): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    for (let i = 0; i < 3000; i++) {
      const mutated = Uint8Array.from(binary);
      for (let j = 0; j <= random(3); j++) mutated[8 + random(mutated.byteLength - 8)] = random(256);
      try {
        decodeComponentInterfaces(mutated);
      } catch (err) {
        assert.ok(
          isCirrusError(err) && err.code === 'COMPONENT_TYPES_INVALID',
          `mutation ${i}: ${String(err)}`,
        );
      }
    }
  });

  it('skips core modules and custom sections without reading them', () => {
    const garbage = new Uint8Array(1 << 20).fill(0xff);
    const binary = component(
      rawSection(1, garbage),
      rawSection(0, bytes(str('x'), garbage)),
      ...importUsing([0x73]),
    );
    const c = get(decodeComponentInterfaces(binary).imports, 'a:b/c');
    assert.deepEqual(c.functions.get('f'), wit.func('f', { x: wit.string }));
  });

  it('rejects types nested too deeply', () => {
    const types = [[0x70, 0x73], ...Array.from({ length: 150 }, (_, i) => [0x70, ...sleb(i)])];
    assertInvalid(
      () => decodeComponentInterfaces(component(section(7, types))),
      /nested more than 100 levels/,
    );
  });

  it('rejects a type that is exponentially large written out, without writing it out', () => {
    const types = [
      [0x6f, ...vec([[0x73], [0x73]])],
      ...Array.from({ length: 60 }, (_, i) => [0x6f, ...vec([sleb(i), sleb(i)])]),
    ];
    const started = performance.now();
    assertInvalid(() => decodeComponentInterfaces(component(section(7, types))), /larger than 1000000 nodes/);
    assert.ok(performance.now() - started < 1000);
  });

  it('rejects instance types nested too deeply, without exhausting the stack', () => {
    const type = [...Array.from({ length: 10_000 }, () => [0x42, 0x01, 0x01]).flat(), 0x42, 0x00];
    assertInvalid(
      () => decodeComponentInterfaces(component(section(7, [type]))),
      /nested more than 32 levels/,
    );
  });

  it('rejects a component that instantiates itself, without exhausting the stack', () => {
    // Inside: (alias outer 1 0 (component)), (instance (instantiate 0)), (alias export 0 "x" (func)).
    const self = component(
      section(6, [[0x04, 0x02, ...leb(1), ...leb(0)]]),
      section(5, [bytes([0x00, ...leb(0)], vec([]))]),
      section(6, [bytes([0x01, 0x00, ...leb(0)], str('x'))]),
    );
    const binary = component(
      rawSection(4, self),
      section(5, [bytes([0x00, ...leb(0)], vec([]))]),
      section(11, [bytes([0x00], str('a:b/c'), [0x05, ...leb(0), 0x00])]),
    );
    assertInvalid(() => decodeComponentInterfaces(binary), /nested more than 32 levels/);
  });

  it('rejects counts larger than the section', () => {
    const binary = component(rawSection(7, [...leb(0xffff_ffff), 0x73, 0x73]), rawSection(0, str('x')));
    assertInvalid(() => decodeComponentInterfaces(binary), /runs past its declared size/);
  });

  it('bounds the work of instantiating one nested component many times', () => {
    // A nested component whose type section is ~1 MiB of names, instantiated and exported 40 times.
    const name = 'a'.repeat(99_990);
    const record = bytes(
      [0x72],
      vec(Array.from({ length: 10 }, (_, i) => bytes(str(name + String(i)), [0x73]))),
    );
    const nested = component(section(7, [record]));
    const instances = Array.from({ length: 40 }, () => [0x00, ...leb(0), ...vec([])]);
    const exports = Array.from({ length: 40 }, (_, i) => [0x00, ...str(`a:b/c${i}`), 0x05, ...leb(i), 0x00]);
    const binary = component(rawSection(4, nested), section(5, instances), section(11, exports));
    const started = performance.now();
    assertInvalid(() => decodeComponentInterfaces(binary), /more than 16777216 bytes/);
    assert.ok(performance.now() - started < 2000);
  });

  it('bounds the work of instantiating, many times, a nested component made of many empty sections', () => {
    // 30,000 empty custom sections and one exported type, instantiated 20,000 times, each instance's
    // export aliased: re-reading the skipped sections for every instance once took minutes.
    const emptyCustomSections = Uint8Array.from({ length: 90_000 }, (_, i) => (i % 3 === 1 ? 1 : 0));
    const nested = component(
      emptyCustomSections,
      section(7, [[0x7d]]),
      section(11, [bytes([0x00], str('t'), [0x03, 0x00, 0x00])]),
    );
    const count = 20_000;
    const instances = Array.from({ length: count }, () => [0x00, ...leb(0), ...vec([])]);
    const aliases = Array.from({ length: count }, (_, i) => bytes([0x03, 0x00, ...leb(i)], str('t')));
    const binary = component(rawSection(4, nested), section(5, instances), section(6, aliases));
    const started = performance.now();
    assertInvalid(() => decodeComponentInterfaces(binary), /more than 16777216 bytes/);
    assert.ok(performance.now() - started < 1000);
  });
});
