/**
 * Reads the WIT types of the interfaces a component imports and exports straight from its binary, so
 * that calls across hosts can be encoded for wRPC without the component's WIT sources. Only the
 * component-level sections are parsed; core modules (nearly all of a componentize-js binary) and
 * custom sections are skipped by their size.
 *
 * The binary is modelled with index spaces per scope (component, component type, instance type) that
 * hold a small intermediate form of types; an interface is turned into `WitInterface` only at the end,
 * because a resource's name depends on the instance it is seen through (`use` re-exports it).
 */
import { ComponentTypesInvalidError, WitInvalidError, isWitName, wit } from '@cirrus/protocol';
import type { WitFunction, WitInterface, WitPackageName, WitPrimitiveKind, WitType } from '@cirrus/protocol';

export interface SkippedFunction {
  /** The instance name, e.g. `wasi:io/streams@0.2.12`. */
  readonly instance: string;
  /** The function's name in the binary, e.g. `[method]input-stream.read`. */
  readonly function: string;
  readonly reason: string;
}

export interface ComponentInterfaces {
  /** Keyed by the full instance name as imported, e.g. `example:greeter/greet@0.1.0`. */
  readonly imports: ReadonlyMap<string, WitInterface>;
  /** Keyed by the full instance name as exported. */
  readonly exports: ReadonlyMap<string, WitInterface>;
}

/** What `decodeComponentInterfaces` found, with what it had to leave out. */
export interface DecodedComponentInterfaces extends ComponentInterfaces {
  /**
   * Functions left out of `imports` and `exports` because a type they use has no wRPC encoding here
   * (`error-context`, `map`, fixed-length lists, `stream` without element) or their name is not a WIT
   * function name. The rest of their interface is still decoded.
   */
  readonly skipped: readonly SkippedFunction[];
}

// Bounds against hostile binaries. The type limits are wasmparser's, so no component that validates
// elsewhere is refused here; the others are far above anything a toolchain emits.
/** Nesting depth of a value type (`list<list<…>>`). */
const MAX_TYPE_DEPTH = 100;
/** Nodes of a value type written out as a tree (types are DAGs; sharing can hide exponential size). */
const MAX_TYPE_SIZE = 1_000_000;
/** Components and component/instance types nested in each other. */
const MAX_SCOPE_DEPTH = 32;
/**
 * Bytes read: every section's header, and the contents of the sections that are not skipped, nested
 * components being read once per instantiation.
 */
const MAX_PARSED_BYTES = 16 * 1024 * 1024;
/** Bytes charged at least for a section header, for the work of reading past one. */
const SECTION_COST = 32;
/** WIT type nodes built while converting interfaces. */
const MAX_CONVERT_STEPS = 2_000_000;
/** Longest name (wasmparser's limit for strings). */
const MAX_NAME_BYTES = 100_000;

// --- intermediate form ---------------------------------------------------------------------------

interface Measured {
  readonly size: number;
  readonly depth: number;
}

interface Labeled {
  readonly name: string;
  readonly type: Ty;
}

interface VariantCaseTy {
  readonly name: string;
  readonly type: Ty | undefined;
}

/** A resource type: its identity is the object; `name` is the first name it was declared under. */
interface ResourceTy extends Measured {
  readonly t: 'resource';
  name: string | undefined;
}

interface FuncTy extends Measured {
  readonly t: 'func';
  readonly params: readonly Labeled[];
  readonly results: readonly Ty[];
}

/** An instance (type): what it exports, in order. */
interface InstanceTy extends Measured {
  readonly t: 'instance';
  readonly exports: ReadonlyMap<string, Item>;
}

interface ComponentTy extends Measured {
  readonly t: 'component';
  readonly exports: ReadonlyMap<string, Item>;
}

type ValueTy = Measured &
  (
    | { readonly t: 'prim'; readonly kind: WitPrimitiveKind }
    | { readonly t: 'record'; readonly name: string | undefined; readonly fields: readonly Labeled[] }
    | { readonly t: 'variant'; readonly name: string | undefined; readonly cases: readonly VariantCaseTy[] }
    | { readonly t: 'enum'; readonly name: string | undefined; readonly cases: readonly string[] }
    | { readonly t: 'flags'; readonly name: string | undefined; readonly flags: readonly string[] }
    | { readonly t: 'list' | 'option'; readonly of: Ty }
    | { readonly t: 'tuple'; readonly types: readonly Ty[] }
    | { readonly t: 'result'; readonly ok: Ty | undefined; readonly err: Ty | undefined }
    | { readonly t: 'own' | 'borrow'; readonly resource: ResourceTy }
    | { readonly t: 'stream' | 'future'; readonly of: Ty | undefined }
    /** A type with no wRPC encoding; only functions that use it are affected. */
    | { readonly t: 'unsupported'; readonly what: string }
  );

type Ty = ValueTy | ResourceTy | FuncTy | InstanceTy | ComponentTy;

/** A component defined by a nested component section, parsed when something needs its exports. */
interface ComponentDef {
  readonly t: 'component-def';
  readonly start: number;
  readonly end: number;
  readonly scope: Scope;
}

/** An instance made by instantiating a component; its exports are worked out on first use. */
interface LazyInstance {
  readonly t: 'lazy-instance';
  readonly resolve: () => InstanceTy;
  resolved?: InstanceTy;
}

type InstanceEntry = InstanceTy | LazyInstance;
type ComponentEntry = ComponentTy | ComponentDef;

type Item =
  | { readonly sort: 'func'; readonly type: FuncTy }
  | { readonly sort: 'type'; readonly type: Ty }
  | { readonly sort: 'instance'; readonly instance: InstanceEntry }
  | { readonly sort: 'component'; readonly component: ComponentEntry }
  | { readonly sort: 'other' };

type Sort = 'core' | 'func' | 'value' | 'type' | 'component' | 'instance';

const UNIT: Measured = { size: 1, depth: 1 };
const OTHER: Item = { sort: 'other' };

const PRIMITIVE_TYS = new Map<number, ValueTy>(
  (
    [
      [0x7f, 'bool'],
      [0x7e, 's8'],
      [0x7d, 'u8'],
      [0x7c, 's16'],
      [0x7b, 'u16'],
      [0x7a, 's32'],
      [0x79, 'u32'],
      [0x78, 's64'],
      [0x77, 'u64'],
      [0x76, 'f32'],
      [0x75, 'f64'],
      [0x74, 'char'],
      [0x73, 'string'],
    ] as const
  ).map(([byte, kind]) => [byte, { t: 'prim', kind, ...UNIT }]),
);
const ERROR_CONTEXT = 0x64;
const ERROR_CONTEXT_TY: ValueTy = { t: 'unsupported', what: 'error-context', ...UNIT };

/** One index space per sort, for a component or a component/instance type. */
class Scope {
  readonly types: Ty[] = [];
  readonly funcs: FuncTy[] = [];
  readonly instances: InstanceEntry[] = [];
  readonly components: ComponentEntry[] = [];
  readonly parent: Scope | undefined;
  readonly depth: number;

  constructor(parent: Scope | undefined) {
    this.parent = parent;
    this.depth = parent === undefined ? 0 : parent.depth + 1;
  }
}

// --- reading -------------------------------------------------------------------------------------

/** Work done so far in one decode, shared by the nested components it parses. */
interface Work {
  parsed: number;
  /** Nested component bodies being parsed right now (they are parsed on demand, re-entrantly). */
  nesting: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function invalid(message: string, offset?: number): ComponentTypesInvalidError {
  return new ComponentTypesInvalidError(message, {
    hint: 'rebuild the component with a current toolchain and check it with `wasm-tools validate`',
    details: offset === undefined ? undefined : { offset },
  });
}

class Reader {
  readonly bytes: Uint8Array;
  pos: number;
  /** Where the enclosing section ends; reading past it is an error. */
  end: number;
  private readonly work: Work;

  constructor(bytes: Uint8Array, pos: number, end: number, work: Work) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
    this.work = work;
  }

  fail(message: string, at = this.pos): ComponentTypesInvalidError {
    return invalid(`${message} at byte ${at}`, at);
  }

  overrun(): ComponentTypesInvalidError {
    if (this.end >= this.bytes.byteLength) {
      return invalid(
        `the component binary ends at byte ${this.bytes.byteLength} inside a section`,
        this.bytes.byteLength,
      );
    }
    return this.fail('a section runs past its declared size');
  }

  /** Counts `size` bytes against the parsing budget (nested components may be parsed repeatedly). */
  charge(size: number): void {
    this.work.parsed += size;
    if (this.work.parsed > MAX_PARSED_BYTES) {
      throw invalid(`the component needs more than ${MAX_PARSED_BYTES} bytes of type sections parsed`);
    }
  }

  byte(): number {
    if (this.pos >= this.end) throw this.overrun();
    return this.bytes[this.pos++] as number;
  }

  peek(): number {
    if (this.pos >= this.end) throw this.overrun();
    return this.bytes[this.pos] as number;
  }

  expect(value: number, what: string): void {
    const at = this.pos;
    const b = this.byte();
    if (b !== value) throw this.fail(`expected 0x${hex(value)} (${what}), found 0x${hex(b)}`, at);
  }

  u32(): number {
    const at = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      if (shift === 28 && b > 0x0f) break;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
    throw this.fail('invalid u32 LEB128 number', at);
  }

  /** A signed 33-bit LEB128 number, the encoding of type indices in value types. */
  s33(): number {
    const at = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return (b & 0x40) !== 0 ? result - 2 ** (shift + 7) : result;
    }
    throw this.fail('invalid s33 LEB128 number', at);
  }

  /** Skips a LEB128 number of up to 64 bits (core limits may be 64-bit). */
  skipLeb(): void {
    const at = this.pos;
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw this.fail('invalid LEB128 number', at);
  }

  string(): string {
    const length = this.u32();
    const at = this.pos;
    if (length > MAX_NAME_BYTES) throw this.fail(`a name of ${length} bytes is too long`, at);
    if (at + length > this.end) throw this.overrun();
    this.pos += length;
    // Names are short ASCII nearly always; building them directly beats a TextDecoder call each.
    if (length <= 64) {
      let text = '';
      for (let i = at; i < at + length; i++) {
        const b = this.bytes[i] as number;
        if (b >= 0x80) break;
        text += String.fromCharCode(b);
      }
      if (text.length === length) return text;
    }
    try {
      return utf8.decode(this.bytes.subarray(at, at + length));
    } catch {
      throw this.fail('a name is not valid UTF-8', at);
    }
  }
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}

// --- types ---------------------------------------------------------------------------------------

function measured(children: readonly (Ty | undefined)[], at: Reader): Measured {
  let size = 1;
  let depth = 0;
  for (const child of children) {
    if (child === undefined) continue;
    size += child.size;
    if (child.depth > depth) depth = child.depth;
  }
  depth += 1;
  if (depth > MAX_TYPE_DEPTH) throw at.fail(`a type is nested more than ${MAX_TYPE_DEPTH} levels deep`);
  if (size > MAX_TYPE_SIZE) throw at.fail(`a type is larger than ${MAX_TYPE_SIZE} nodes`);
  return { size, depth };
}

function isValueTy(ty: Ty): ty is ValueTy {
  return !(ty.t === 'resource' || ty.t === 'func' || ty.t === 'instance' || ty.t === 'component');
}

function typeAt(r: Reader, scope: Scope, index: number, at: number): Ty {
  const ty = scope.types[index];
  if (ty === undefined) throw r.fail(`type index ${index} is out of range`, at);
  return ty;
}

function valType(r: Reader, scope: Scope): Ty {
  const b = r.peek();
  const prim = PRIMITIVE_TYS.get(b);
  if (prim !== undefined) {
    r.pos++;
    return prim;
  }
  if (b === ERROR_CONTEXT) {
    r.pos++;
    return ERROR_CONTEXT_TY;
  }
  const at = r.pos;
  const index = r.s33();
  if (index < 0) throw r.fail(`unknown value type 0x${hex(b)}`, at);
  const ty = typeAt(r, scope, index, at);
  if (!isValueTy(ty)) throw r.fail(`type index ${index} is a ${ty.t} type, not a value type`, at);
  return ty;
}

function optional<T>(r: Reader, read: () => T): T | undefined {
  const at = r.pos;
  const flag = r.byte();
  if (flag === 0x00) return undefined;
  if (flag === 0x01) return read();
  throw r.fail(`expected 0x00 or 0x01 (optional value), found 0x${hex(flag)}`, at);
}

function vec<T>(r: Reader, read: () => T): T[] {
  const count = r.u32();
  const out: T[] = [];
  // Every element takes at least one byte, so a bogus count ends at the section boundary.
  for (let i = 0; i < count; i++) out.push(read());
  return out;
}

function labeled(r: Reader, scope: Scope): Labeled {
  const name = r.string();
  return { name, type: valType(r, scope) };
}

function resourceAt(r: Reader, scope: Scope): ResourceTy {
  const at = r.pos;
  const index = r.u32();
  const ty = typeAt(r, scope, index, at);
  if (ty.t !== 'resource') throw r.fail(`a handle refers to type ${index}, which is not a resource`, at);
  return ty;
}

function defValType(r: Reader, scope: Scope, opcode: number, at: number): ValueTy {
  const prim = PRIMITIVE_TYS.get(opcode);
  if (prim !== undefined) return prim;
  switch (opcode) {
    case ERROR_CONTEXT:
      return ERROR_CONTEXT_TY;
    case 0x72: {
      const fields = vec(r, () => labeled(r, scope));
      return {
        t: 'record',
        name: undefined,
        fields,
        ...measured(
          fields.map((f) => f.type),
          r,
        ),
      };
    }
    case 0x71: {
      const cases = vec(r, (): VariantCaseTy => {
        const name = r.string();
        const type = optional(r, () => valType(r, scope));
        // Formerly the `refines` index; now always 0x00.
        r.expect(0x00, 'variant case terminator');
        return { name, type };
      });
      return {
        t: 'variant',
        name: undefined,
        cases,
        ...measured(
          cases.map((c) => c.type),
          r,
        ),
      };
    }
    case 0x70: {
      const of = valType(r, scope);
      return { t: 'list', of, ...measured([of], r) };
    }
    case 0x67: {
      const of = valType(r, scope);
      r.u32();
      return { t: 'unsupported', what: 'fixed-length list', ...measured([of], r) };
    }
    case 0x6f: {
      const types = vec(r, () => valType(r, scope));
      return { t: 'tuple', types, ...measured(types, r) };
    }
    case 0x6e:
      return { t: 'flags', name: undefined, flags: vec(r, () => r.string()), ...UNIT };
    case 0x6d:
      return { t: 'enum', name: undefined, cases: vec(r, () => r.string()), ...UNIT };
    case 0x6b: {
      const of = valType(r, scope);
      return { t: 'option', of, ...measured([of], r) };
    }
    case 0x6a: {
      const ok = optional(r, () => valType(r, scope));
      const err = optional(r, () => valType(r, scope));
      return { t: 'result', ok, err, ...measured([ok, err], r) };
    }
    case 0x69:
    case 0x68: {
      const resource = resourceAt(r, scope);
      return { t: opcode === 0x69 ? 'own' : 'borrow', resource, ...measured([resource], r) };
    }
    case 0x66:
    case 0x65: {
      const of = optional(r, () => valType(r, scope));
      return { t: opcode === 0x66 ? 'stream' : 'future', of, ...measured([of], r) };
    }
    case 0x63: {
      const key = valType(r, scope);
      const value = valType(r, scope);
      return { t: 'unsupported', what: 'map', ...measured([key, value], r) };
    }
    default:
      throw r.fail(`unknown type opcode 0x${hex(opcode)}`, at);
  }
}

function funcType(r: Reader, scope: Scope): FuncTy {
  const params = vec(r, () => labeled(r, scope));
  const at = r.pos;
  const kind = r.byte();
  let results: Ty[];
  if (kind === 0x00) {
    results = [valType(r, scope)];
  } else if (kind === 0x01) {
    // `0x01 0x00` is "no result"; older binaries had a list of named results here.
    results = vec(r, () => labeled(r, scope).type);
  } else {
    throw r.fail(`unknown function result encoding 0x${hex(kind)}`, at);
  }
  return { t: 'func', params, results, ...measured([...params.map((p) => p.type), ...results], r) };
}

function defType(r: Reader, scope: Scope): Ty {
  const at = r.pos;
  const opcode = r.byte();
  switch (opcode) {
    case 0x3f: {
      coreValType(r);
      optional(r, () => r.u32());
      return { t: 'resource', name: undefined, ...UNIT };
    }
    case 0x40:
    case 0x43:
      return funcType(r, scope);
    case 0x41:
      return componentType(r, scope);
    case 0x42:
      return instanceType(r, scope);
    default:
      return defValType(r, scope, opcode, at);
  }
}

function nestedScope(r: Reader, parent: Scope): Scope {
  if (parent.depth + 1 > MAX_SCOPE_DEPTH) {
    throw r.fail(`components and types are nested more than ${MAX_SCOPE_DEPTH} levels deep`);
  }
  return new Scope(parent);
}

function instanceType(r: Reader, parent: Scope): InstanceTy {
  const scope = nestedScope(r, parent);
  const exports = new Map<string, Item>();
  const count = r.u32();
  for (let i = 0; i < count; i++) declaration(r, scope, exports, false);
  return { t: 'instance', exports, ...UNIT };
}

function componentType(r: Reader, parent: Scope): ComponentTy {
  const scope = nestedScope(r, parent);
  const exports = new Map<string, Item>();
  const count = r.u32();
  for (let i = 0; i < count; i++) declaration(r, scope, exports, true);
  return { t: 'component', exports, ...UNIT };
}

/** One declaration of an instance type, or of a component type (which may also import). */
function declaration(r: Reader, scope: Scope, exports: Map<string, Item>, inComponentType: boolean): void {
  const at = r.pos;
  const kind = r.byte();
  switch (kind) {
    case 0x00:
      skipCoreType(r);
      return;
    case 0x01:
      scope.types.push(defType(r, scope));
      return;
    case 0x02:
      alias(r, scope);
      return;
    case 0x03:
    case 0x04: {
      if (kind === 0x03 && !inComponentType) break;
      const { name } = externName(r);
      const item = externType(r, scope, name, kind === 0x04 ? 'export' : 'import');
      push(scope, item);
      if (kind === 0x04) exports.set(name, item);
      return;
    }
  }
  throw r.fail(`unknown type declaration 0x${hex(kind)}`, at);
}

/**
 * A type under a name it is exported by: records, variants, enums and flags take the name (as WIT
 * declares them) unless they already have one, which a re-export (`use`, `type a = b`) keeps.
 */
function named(ty: Ty, name: string): Ty {
  if (!isWitName(name)) return ty;
  switch (ty.t) {
    case 'record':
    case 'variant':
    case 'enum':
    case 'flags':
      return ty.name === undefined ? { ...ty, name } : ty;
    case 'resource':
      ty.name ??= name;
      return ty;
    default:
      return ty;
  }
}

interface ExternName {
  readonly name: string;
  /** `(implements "ns:pkg/iface")`: a plainly named instance of an interface. */
  readonly implements: string | undefined;
}

function externName(r: Reader): ExternName {
  const at = r.pos;
  const kind = r.byte();
  // 0x01 once marked interface names; readers treat it like 0x00.
  if (kind === 0x00 || kind === 0x01) return { name: r.string(), implements: undefined };
  if (kind !== 0x02) throw r.fail(`unknown name encoding 0x${hex(kind)}`, at);
  const name = r.string();
  let implementsName: string | undefined;
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const attrAt = r.pos;
    const attr = r.byte();
    if (attr > 0x02) throw r.fail(`unknown name attribute 0x${hex(attr)}`, attrAt);
    const value = r.string();
    if (attr === 0x00) implementsName = value;
  }
  return { name, implements: implementsName };
}

type ExternRole = 'import' | 'export' | 'ascription';

/** An `externtype`; for imports, `args` (instantiation arguments) replace the declared types. */
function externType(
  r: Reader,
  scope: Scope,
  name: string,
  role: ExternRole,
  args?: ReadonlyMap<string, Item>,
): Item {
  const at = r.pos;
  const kind = r.byte();
  const arg = role === 'import' ? args?.get(name) : undefined;
  switch (kind) {
    case 0x00:
      r.expect(0x11, 'core module');
      r.u32();
      return OTHER;
    case 0x01: {
      const index = r.u32();
      const ty = typeAt(r, scope, index, at + 1);
      if (ty.t !== 'func')
        throw r.fail(`func ${JSON.stringify(name)} has type ${index}, not a function type`, at);
      return { sort: 'func', type: ty };
    }
    case 0x02: {
      const boundAt = r.pos;
      const bound = r.byte();
      if (bound === 0x00) r.u32();
      else if (bound === 0x01) valType(r, scope);
      else throw r.fail(`unknown value bound 0x${hex(bound)}`, boundAt);
      return OTHER;
    }
    case 0x03: {
      const boundAt = r.pos;
      const bound = r.byte();
      if (bound === 0x00) {
        const ty = typeAt(r, scope, r.u32(), boundAt + 1);
        if (arg?.sort === 'type') return arg;
        // A type import with `eq` is an alias; only exports give names.
        return { sort: 'type', type: role === 'import' ? ty : named(ty, name) };
      }
      if (bound === 0x01) {
        if (arg?.sort === 'type' && arg.type.t === 'resource') return arg;
        return { sort: 'type', type: { t: 'resource', name: isWitName(name) ? name : undefined, ...UNIT } };
      }
      throw r.fail(`unknown type bound 0x${hex(bound)}`, boundAt);
    }
    case 0x04: {
      const index = r.u32();
      const ty = typeAt(r, scope, index, at + 1);
      if (ty.t !== 'component')
        throw r.fail(`component ${JSON.stringify(name)} has type ${index}, not a component type`, at);
      return { sort: 'component', component: ty };
    }
    case 0x05: {
      const index = r.u32();
      const ty = typeAt(r, scope, index, at + 1);
      if (ty.t !== 'instance')
        throw r.fail(`instance ${JSON.stringify(name)} has type ${index}, not an instance type`, at);
      if (arg?.sort === 'instance') return arg;
      return { sort: 'instance', instance: ty };
    }
  }
  throw r.fail(`unknown extern type 0x${hex(kind)}`, at);
}

/** Adds the new index an import, export or alias introduces in its sort's index space. */
function push(scope: Scope, item: Item): void {
  switch (item.sort) {
    case 'func':
      scope.funcs.push(item.type);
      return;
    case 'type':
      scope.types.push(item.type);
      return;
    case 'instance':
      scope.instances.push(item.instance);
      return;
    case 'component':
      scope.components.push(item.component);
      return;
    case 'other':
      return;
  }
}

function sort(r: Reader): Sort {
  const at = r.pos;
  const b = r.byte();
  switch (b) {
    case 0x00:
      r.byte();
      return 'core';
    case 0x01:
      return 'func';
    case 0x02:
      return 'value';
    case 0x03:
      return 'type';
    case 0x04:
      return 'component';
    case 0x05:
      return 'instance';
  }
  throw r.fail(`unknown sort 0x${hex(b)}`, at);
}

/** The item at `index` of a sort's index space. */
function lookup(r: Reader, scope: Scope, s: Sort, index: number, at: number): Item {
  const missing = (): ComponentTypesInvalidError => r.fail(`${s} index ${index} is out of range`, at);
  switch (s) {
    case 'func': {
      const type = scope.funcs[index];
      if (type === undefined) throw missing();
      return { sort: 'func', type };
    }
    case 'type':
      return { sort: 'type', type: typeAt(r, scope, index, at) };
    case 'instance': {
      const instance = scope.instances[index];
      if (instance === undefined) throw missing();
      return { sort: 'instance', instance };
    }
    case 'component': {
      const component = scope.components[index];
      if (component === undefined) throw missing();
      return { sort: 'component', component };
    }
    default:
      return OTHER;
  }
}

function exportsOf(instance: InstanceEntry): ReadonlyMap<string, Item> {
  if (instance.t === 'instance') return instance.exports;
  instance.resolved ??= instance.resolve();
  return instance.resolved.exports;
}

function alias(r: Reader, scope: Scope): void {
  const s = sort(r);
  const at = r.pos;
  const target = r.byte();
  switch (target) {
    case 0x00: {
      const instanceAt = r.pos;
      const index = r.u32();
      const name = r.string();
      const instance = scope.instances[index];
      if (instance === undefined) throw r.fail(`instance index ${index} is out of range`, instanceAt);
      if (s === 'core' || s === 'value') return;
      const item = exportsOf(instance).get(name);
      if (item === undefined || item.sort !== s) {
        throw r.fail(`instance ${index} has no ${s} export ${JSON.stringify(name)}`, instanceAt);
      }
      push(scope, item);
      return;
    }
    case 0x01:
      r.u32();
      r.string();
      return;
    case 0x02: {
      const countAt = r.pos;
      let count = r.u32();
      const index = r.u32();
      let outer: Scope | undefined = scope;
      while (count > 0 && outer !== undefined) {
        outer = outer.parent;
        count--;
      }
      if (outer === undefined) throw r.fail('an outer alias reaches past the outermost component', countAt);
      if (s === 'type') push(scope, { sort: 'type', type: typeAt(r, outer, index, countAt) });
      else if (s === 'component') push(scope, lookup(r, outer, 'component', index, countAt));
      return;
    }
  }
  throw r.fail(`unknown alias target 0x${hex(target)}`, at);
}

// Core types only occur inside instance and component types when a tool puts module types there;
// they are skipped, MVP function types and module types only.
function skipCoreType(r: Reader): void {
  const at = r.pos;
  const b = r.byte();
  if (b === 0x60) {
    vec(r, () => coreValType(r));
    vec(r, () => coreValType(r));
    return;
  }
  if (b !== 0x50) throw r.fail(`unsupported core type 0x${hex(b)}`, at);
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const declAt = r.pos;
    switch (r.byte()) {
      case 0x00:
        r.string();
        r.string();
        coreExternType(r);
        break;
      case 0x01:
        skipCoreType(r);
        break;
      case 0x02:
        r.expect(0x10, 'core type sort');
        r.expect(0x01, 'outer alias');
        r.u32();
        r.u32();
        break;
      case 0x03:
        r.string();
        coreExternType(r);
        break;
      default:
        throw r.fail('unknown module type declaration', declAt);
    }
  }
}

function coreValType(r: Reader): void {
  const at = r.pos;
  const b = r.byte();
  if (b === 0x63 || b === 0x64) {
    r.s33();
    return;
  }
  // Numbers, v128, and the abbreviated reference types.
  if ((b >= 0x7b && b <= 0x7f) || (b >= 0x69 && b <= 0x74)) return;
  throw r.fail(`unknown core value type 0x${hex(b)}`, at);
}

function coreLimits(r: Reader): void {
  const flags = r.byte();
  r.skipLeb();
  if ((flags & 0x01) !== 0) r.skipLeb();
  if ((flags & 0x08) !== 0) r.u32();
}

function coreExternType(r: Reader): void {
  const at = r.pos;
  switch (r.byte()) {
    case 0x00:
      r.u32();
      return;
    case 0x01:
      coreValType(r);
      coreLimits(r);
      return;
    case 0x02:
      coreLimits(r);
      return;
    case 0x03:
      coreValType(r);
      r.byte();
      return;
    case 0x04:
      r.expect(0x00, 'tag attribute');
      r.u32();
      return;
  }
  throw r.fail('unknown core extern type', at);
}

// --- sections ------------------------------------------------------------------------------------

interface Extern {
  readonly item: Item;
  readonly implements: string | undefined;
}

interface Decoded {
  readonly imports: ReadonlyMap<string, Extern>;
  readonly exports: ReadonlyMap<string, Extern>;
}

const SECTION = {
  custom: 0,
  coreModule: 1,
  coreInstance: 2,
  coreType: 3,
  component: 4,
  instance: 5,
  alias: 6,
  type: 7,
  canon: 8,
  start: 9,
  import: 10,
  export: 11,
  value: 12,
} as const;

function preamble(bytes: Uint8Array, start: number, end: number): void {
  const length = end - start;
  const magic = [0x00, 0x61, 0x73, 0x6d];
  const hasMagic = magic.every((b, i) => i >= length || bytes[start + i] === b);
  if (!hasMagic || length === 0) {
    throw invalid('the bytes are not a WebAssembly binary (no \\0asm header)', start);
  }
  if (length < 8) {
    throw invalid(`the component binary ends at byte ${end} inside its header`, end);
  }
  const version = (bytes[start + 4] as number) | ((bytes[start + 5] as number) << 8);
  const layer = (bytes[start + 6] as number) | ((bytes[start + 7] as number) << 8);
  if (layer === 0 && version === 1) {
    throw invalid('the binary is a core WebAssembly module, not a component', start + 4);
  }
  if (layer !== 1 || version !== 0x0d) {
    throw invalid(`unsupported component binary (layer ${layer}, version ${version})`, start + 4);
  }
}

function decodeComponent(
  bytes: Uint8Array,
  start: number,
  end: number,
  scope: Scope,
  work: Work,
  args: ReadonlyMap<string, Item> | undefined,
): Decoded {
  preamble(bytes, start, end);
  const imports = new Map<string, Extern>();
  const exports = new Map<string, Extern>();
  const r = new Reader(bytes, start + 8, end, work);
  while (r.pos < end) {
    r.end = end;
    const sectionStart = r.pos;
    const id = r.byte();
    const size = r.u32();
    // Skipped sections are charged too: a nested component is read again for each of its
    // instantiations, and a body of many tiny sections would otherwise make that quadratic.
    r.charge(Math.max(r.pos - sectionStart, SECTION_COST));
    const sectionEnd = r.pos + size;
    if (sectionEnd > end) throw r.overrun();
    r.end = sectionEnd;
    switch (id) {
      case SECTION.custom:
      case SECTION.coreModule:
      case SECTION.coreInstance:
      case SECTION.coreType:
      case SECTION.start:
      case SECTION.value:
        r.pos = sectionEnd;
        continue;
      case SECTION.component:
        scope.components.push({ t: 'component-def', start: r.pos, end: sectionEnd, scope });
        r.pos = sectionEnd;
        continue;
    }
    if (id > SECTION.value) throw r.fail(`unknown section id ${id}`, sectionStart);
    r.charge(size);
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      switch (id) {
        case SECTION.instance:
          instanceDefinition(r, scope, work);
          break;
        case SECTION.alias:
          alias(r, scope);
          break;
        case SECTION.type:
          scope.types.push(defType(r, scope));
          break;
        case SECTION.canon:
          canon(r, scope);
          break;
        case SECTION.import: {
          const name = externName(r);
          const item = externType(r, scope, name.name, 'import', args);
          push(scope, item);
          imports.set(name.name, { item, implements: name.implements });
          break;
        }
        case SECTION.export: {
          const { name, item } = exportDefinition(r, scope);
          exports.set(name.name, { item, implements: name.implements });
          break;
        }
      }
    }
    if (r.pos !== sectionEnd) throw r.fail(`section ${id} is shorter than its declared size`);
  }
  return { imports, exports };
}

function exportDefinition(r: Reader, scope: Scope): { name: ExternName; item: Item } {
  const name = externName(r);
  const s = sort(r);
  const at = r.pos;
  const index = r.u32();
  let item = lookup(r, scope, s, index, at);
  const ascribed = optional(r, () => externType(r, scope, name.name, 'ascription'));
  // An ascribed type says how the export is seen from outside, with the names it exports under.
  if (ascribed !== undefined && ascribed.sort === item.sort && ascribed.sort !== 'type') item = ascribed;
  if (item.sort === 'type') item = { sort: 'type', type: named(item.type, name.name) };
  push(scope, item);
  return { name, item };
}

function instanceDefinition(r: Reader, scope: Scope, work: Work): void {
  const at = r.pos;
  const kind = r.byte();
  if (kind === 0x00) {
    const componentAt = r.pos;
    const index = r.u32();
    const component = scope.components[index];
    if (component === undefined) throw r.fail(`component index ${index} is out of range`, componentAt);
    const args = new Map<string, Item>();
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      const name = r.string();
      const s = sort(r);
      const argAt = r.pos;
      args.set(name, lookup(r, scope, s, r.u32(), argAt));
    }
    scope.instances.push({
      t: 'lazy-instance',
      resolve: () => instantiate(r.bytes, component, args, work),
    });
    return;
  }
  if (kind === 0x01) {
    const exports = new Map<string, Item>();
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      const { name } = externName(r);
      const s = sort(r);
      const indexAt = r.pos;
      const item = lookup(r, scope, s, r.u32(), indexAt);
      exports.set(name, item.sort === 'type' ? { sort: 'type', type: named(item.type, name) } : item);
    }
    scope.instances.push({ t: 'instance', exports, ...UNIT });
    return;
  }
  throw r.fail(`unknown instance definition 0x${hex(kind)}`, at);
}

function instantiate(
  bytes: Uint8Array,
  component: ComponentEntry,
  args: ReadonlyMap<string, Item>,
  work: Work,
): InstanceTy {
  // An imported component is known by its type; instantiation arguments do not change its exports.
  if (component.t === 'component') return { t: 'instance', exports: component.exports, ...UNIT };
  const { scope: parent } = component;
  // The lexical depth alone does not bound this: a component can outer-alias itself and instantiate
  // that, which recurses without nesting deeper in the binary.
  if (parent.depth + 1 > MAX_SCOPE_DEPTH || work.nesting >= MAX_SCOPE_DEPTH) {
    throw invalid(`components are nested more than ${MAX_SCOPE_DEPTH} levels deep`, component.start);
  }
  work.nesting++;
  try {
    const decoded = decodeComponent(bytes, component.start, component.end, new Scope(parent), work, args);
    const exports = new Map([...decoded.exports].map(([name, { item }]) => [name, item]));
    return { t: 'instance', exports, ...UNIT };
  } finally {
    work.nesting--;
  }
}

function canonOptions(r: Reader): void {
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const at = r.pos;
    const option = r.byte();
    if (option === 0x03 || option === 0x04 || option === 0x05 || option === 0x07 || option === 0x08) r.u32();
    else if (option > 0x09) throw r.fail(`unknown canonical option 0x${hex(option)}`, at);
  }
}

/**
 * Operands of the canonical functions that define core functions (everything but `lift`), which only
 * need reading past: `u` an index, `b` a flag byte, `o` options, `v` a core value type, `r` a result
 * list. Covers resources, the async built-ins (tasks, streams, futures, waitables) and threads.
 */
const CANON_OPERANDS = new Map<number, string>([
  [0x01, 'buo'],
  [0x02, 'u'],
  [0x03, 'u'],
  [0x04, 'u'],
  [0x05, ''],
  [0x06, 'b'],
  [0x09, 'ro'],
  [0x0a, 'vu'],
  [0x0b, 'vu'],
  [0x0c, 'b'],
  [0x0d, ''],
  [0x0e, 'u'],
  [0x0f, 'uo'],
  [0x10, 'uo'],
  [0x11, 'ub'],
  [0x12, 'ub'],
  [0x13, 'u'],
  [0x14, 'u'],
  [0x15, 'u'],
  [0x16, 'uo'],
  [0x17, 'uo'],
  [0x18, 'ub'],
  [0x19, 'ub'],
  [0x1a, 'u'],
  [0x1b, 'u'],
  [0x1c, 'o'],
  [0x1d, 'o'],
  [0x1e, ''],
  [0x1f, ''],
  [0x20, 'bu'],
  [0x21, 'bu'],
  [0x22, ''],
  [0x23, ''],
  [0x24, ''],
  [0x25, ''],
  [0x26, ''],
  [0x27, 'uu'],
  [0x28, ''],
  [0x29, 'b'],
  [0x2a, 'b'],
  [0x2b, 'b'],
  [0x2c, 'b'],
  [0x2d, 'b'],
  [0x40, 'u'],
  [0x41, 'uu'],
  [0x42, ''],
]);

// Only `canon lift` defines a component function; the other forms must still be read past exactly.
function canon(r: Reader, scope: Scope): void {
  const at = r.pos;
  const opcode = r.byte();
  if (opcode === 0x00) {
    r.expect(0x00, 'func sort of canon lift');
    r.u32();
    canonOptions(r);
    const indexAt = r.pos;
    const index = r.u32();
    const ty = typeAt(r, scope, index, indexAt);
    if (ty.t !== 'func') throw r.fail(`canon lift uses type ${index}, which is not a function type`, indexAt);
    scope.funcs.push(ty);
    return;
  }
  const operands = CANON_OPERANDS.get(opcode);
  if (operands === undefined) throw r.fail(`unknown canonical function 0x${hex(opcode)}`, at);
  for (const operand of operands) {
    if (operand === 'u') r.u32();
    else if (operand === 'b') r.byte();
    else if (operand === 'o') canonOptions(r);
    else if (operand === 'v') coreValType(r);
    else if (r.byte() === 0x00) valType(r, scope);
    else vec(r, () => labeled(r, scope));
  }
}

// --- conversion to the WIT model -----------------------------------------------------------------

/** A type (used by one function) that has no wRPC encoding. */
class Unsupported extends Error {}

const INTERFACE_NAME = /^([^:/@]+):([^:/@]+)\/([^:/@]+)(?:@([0-9A-Za-z.+-]+))?$/;

function parseInterfaceName(name: string): { pkg: WitPackageName; iface: string } | undefined {
  const m = INTERFACE_NAME.exec(name);
  if (m === null) return undefined;
  const [, namespace, pkgName, iface, version] = m as unknown as [string, string, string, string, string?];
  if (!isWitName(namespace) || !isWitName(pkgName) || !isWitName(iface)) return undefined;
  return { pkg: Object.freeze({ namespace, name: pkgName, version }), iface };
}

const FUNCTION_NAME = /^(?:\[(constructor|method|static|async|async method|async static)\])?(.*)$/;

/** The wRPC name of a function export (`[method]blob.read` → `blob.read`), as `parseWit` names it. */
function wrpcFunctionName(name: string): string | undefined {
  const m = FUNCTION_NAME.exec(name);
  if (m === null) return undefined;
  const [, annotation, rest] = m as unknown as [string, string | undefined, string];
  const parts = rest.split('.');
  const expected = annotation === undefined || annotation === 'async' || annotation === 'constructor' ? 1 : 2;
  if (parts.length !== expected || !parts.every(isWitName)) return undefined;
  return rest;
}

class Converter {
  private readonly memo = new Map<Ty, WitType>();
  private readonly resourceNames: ReadonlyMap<ResourceTy, string>;
  private readonly steps: { count: number };

  constructor(resourceNames: ReadonlyMap<ResourceTy, string>, steps: { count: number }) {
    this.resourceNames = resourceNames;
    this.steps = steps;
  }

  resourceName(resource: ResourceTy): string {
    return this.resourceNames.get(resource) ?? resource.name ?? 'resource';
  }

  convert(ty: Ty): WitType {
    const cached = this.memo.get(ty);
    if (cached !== undefined) return cached;
    if (++this.steps.count > MAX_CONVERT_STEPS) {
      throw invalid(`the component's interface types have more than ${MAX_CONVERT_STEPS} nodes`);
    }
    const type = this.build(ty);
    this.memo.set(ty, type);
    return type;
  }

  private optional(ty: Ty | undefined): WitType | undefined {
    return ty === undefined ? undefined : this.convert(ty);
  }

  private build(ty: Ty): WitType {
    switch (ty.t) {
      case 'prim':
        return wit[ty.kind];
      case 'record':
        return wit.record(
          Object.fromEntries(unique('field', ty.fields).map((f) => [f.name, this.convert(f.type)])),
          ty.name,
        );
      case 'variant':
        return wit.variant(
          Object.fromEntries(
            unique('case', ty.cases).map((c) => [c.name, c.type === undefined ? null : this.convert(c.type)]),
          ),
          ty.name,
        );
      case 'enum':
        return wit.enum(ty.cases, ty.name);
      case 'flags':
        return wit.flags(ty.flags, ty.name);
      case 'list':
        return wit.list(this.convert(ty.of));
      case 'option':
        return wit.option(this.convert(ty.of));
      case 'tuple':
        return wit.tuple(...ty.types.map((t) => this.convert(t)));
      case 'result':
        return wit.result(this.optional(ty.ok), this.optional(ty.err));
      case 'own':
        return wit.own(this.resourceName(ty.resource));
      case 'borrow':
        return wit.borrow(this.resourceName(ty.resource));
      case 'stream':
        if (ty.of === undefined) throw new Unsupported('`stream` without an element type');
        return wit.stream(this.convert(ty.of));
      case 'future':
        return wit.future(this.optional(ty.of));
      case 'unsupported':
        throw new Unsupported(`\`${ty.what}\` has no wRPC encoding here`);
      default:
        throw new Unsupported(`a ${ty.t} type is not a value type`);
    }
  }
}

function unique<T extends { readonly name: string }>(what: string, items: readonly T[]): readonly T[] {
  const names = new Set(items.map((i) => i.name));
  if (names.size !== items.length) throw new Unsupported(`a ${what} name is used twice`);
  return items;
}

interface Converted {
  readonly types: ReadonlyMap<string, WitType>;
  readonly functions: ReadonlyMap<string, WitFunction>;
  readonly skipped: readonly { readonly function: string; readonly reason: string }[];
}

function convertInstance(exports: ReadonlyMap<string, Item>, steps: { count: number }): Converted {
  // A resource is called by the first name this instance exports it under, so one `use`d from
  // another interface (`input-stream` in wasi:http/types) gets its local name.
  const resourceNames = new Map<ResourceTy, string>();
  for (const [name, item] of exports) {
    if (
      item.sort === 'type' &&
      item.type.t === 'resource' &&
      !resourceNames.has(item.type) &&
      isWitName(name)
    ) {
      resourceNames.set(item.type, name);
    }
  }
  const converter = new Converter(resourceNames, steps);
  const types = new Map<string, WitType>();
  const functions = new Map<string, WitFunction>();
  const skipped: { function: string; reason: string }[] = [];
  for (const [name, item] of exports) {
    if (item.sort === 'type') {
      const ty = item.type;
      if (ty.t === 'resource') {
        // Another name for a resource (`type headers = fields`) is an owned handle, as in parseWit.
        const first = resourceNames.get(ty);
        if (first !== undefined && first !== name) types.set(name, wit.own(first));
        continue;
      }
      if (!isValueTy(ty) || !isWitName(name)) continue;
      const type = attempt(() => converter.convert(ty));
      if (typeof type !== 'string') types.set(name, type);
    } else if (item.sort === 'func') {
      const fnName = wrpcFunctionName(name);
      if (fnName === undefined) {
        skipped.push({ function: name, reason: 'not a WIT function name' });
        continue;
      }
      const fn = attempt(() =>
        wit.func(
          fnName,
          Object.fromEntries(
            unique('parameter', item.type.params).map((p) => [p.name, converter.convert(p.type)]),
          ),
          item.type.results.map((t) => converter.convert(t)),
        ),
      );
      if (typeof fn === 'string') skipped.push({ function: name, reason: fn });
      else functions.set(fnName, fn);
    }
  }
  return { types, functions, skipped };
}

/** Runs `build`; a type without wRPC encoding or an invalid WIT name gives the reason instead. */
function attempt<T>(build: () => T): T | string {
  try {
    return build();
  } catch (err) {
    if (err instanceof Unsupported || err instanceof WitInvalidError) return err.message;
    throw err;
  }
}

/**
 * Decodes the WIT interfaces (functions and named types) a component binary imports and exports as
 * instances named `ns:pkg/iface[@version]`. Plainly named imports and exports are left out, except
 * instances marked `(implements "ns:pkg/iface")`.
 *
 * Throws COMPONENT_TYPES_INVALID when the bytes are not a component binary or cannot be decoded.
 */
export function decodeComponentInterfaces(binary: Uint8Array): DecodedComponentInterfaces {
  const work: Work = { parsed: 0, nesting: 0 };
  const decoded = decodeComponent(binary, 0, binary.byteLength, new Scope(undefined), work, undefined);
  const steps = { count: 0 };
  // Instances of one instance type (an interface imported twice, or re-exported) convert once.
  const cache = new Map<ReadonlyMap<string, Item>, Converted>();
  const skipped: SkippedFunction[] = [];

  const collect = (externs: ReadonlyMap<string, Extern>): ReadonlyMap<string, WitInterface> => {
    const out = new Map<string, WitInterface>();
    for (const [name, { item, implements: implementsName }] of externs) {
      if (item.sort !== 'instance') continue;
      const parsed = parseInterfaceName(name) ?? parseInterfaceName(implementsName ?? '');
      if (parsed === undefined) continue;
      const exports = exportsOf(item.instance);
      let converted = cache.get(exports);
      if (converted === undefined) {
        converted = convertInstance(exports, steps);
        cache.set(exports, converted);
      }
      for (const s of converted.skipped) skipped.push({ instance: name, ...s });
      const { types, functions } = converted;
      out.set(name, Object.freeze({ name: parsed.iface, package: parsed.pkg, types, functions }));
    }
    return out;
  };

  const imports = collect(decoded.imports);
  const exports = collect(decoded.exports);
  return { imports, exports, skipped };
}
