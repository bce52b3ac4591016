import { WitInvalidError } from './errors.ts';

/**
 * A small model of WIT value types and function signatures: enough to encode and decode wRPC values
 * (see `wrpc-codec.ts`) without a component binary at hand. Types are plain immutable objects so they
 * can be written as literals, built with `wit.*`, or parsed from WIT text (`wit-parser.ts`).
 *
 * Names (record fields, cases, flags, resources) are kept exactly as written in WIT (kebab-case); the
 * JavaScript value mapping converts them where jco does (`witNameToJs`).
 */

export type WitPrimitiveKind =
  'bool' | 's8' | 's16' | 's32' | 's64' | 'u8' | 'u16' | 'u32' | 'u64' | 'f32' | 'f64' | 'char' | 'string';

export interface WitPrimitive {
  readonly kind: WitPrimitiveKind;
}

export interface WitList {
  readonly kind: 'list';
  readonly element: WitType;
}

export interface WitField {
  readonly name: string;
  readonly type: WitType;
}

export interface WitRecord {
  readonly kind: 'record';
  readonly name?: string | undefined;
  readonly fields: readonly WitField[];
}

export interface WitTuple {
  readonly kind: 'tuple';
  readonly types: readonly WitType[];
}

export interface WitCase {
  readonly name: string;
  /** Absent for a case without payload. */
  readonly type?: WitType | undefined;
}

export interface WitVariant {
  readonly kind: 'variant';
  readonly name?: string | undefined;
  readonly cases: readonly WitCase[];
}

export interface WitEnum {
  readonly kind: 'enum';
  readonly name?: string | undefined;
  readonly cases: readonly string[];
}

export interface WitOption {
  readonly kind: 'option';
  readonly type: WitType;
}

export interface WitResult {
  readonly kind: 'result';
  readonly ok?: WitType | undefined;
  readonly err?: WitType | undefined;
}

export interface WitFlags {
  readonly kind: 'flags';
  readonly name?: string | undefined;
  readonly flags: readonly string[];
}

/** `own<r>` / `borrow<r>`: on wRPC an opaque, length-prefixed byte string chosen by the owner. */
export interface WitHandle {
  readonly kind: 'own' | 'borrow';
  readonly resource: string;
}

export interface WitStream {
  readonly kind: 'stream';
  readonly element: WitType;
}

export interface WitFuture {
  readonly kind: 'future';
  /** Absent for `future` without payload. */
  readonly type?: WitType | undefined;
}

export type WitType =
  | WitPrimitive
  | WitList
  | WitRecord
  | WitTuple
  | WitVariant
  | WitEnum
  | WitOption
  | WitResult
  | WitFlags
  | WitHandle
  | WitStream
  | WitFuture;

export type WitKind = WitType['kind'];

export interface WitParam {
  readonly name: string;
  readonly type: WitType;
}

export interface WitFunction {
  /** The wRPC function name: `greet`, or `blob.read` for a method of resource `blob`. */
  readonly name: string;
  readonly params: readonly WitParam[];
  /** Encoded as a tuple; a function `-> T` has one result, a function without `->` none. */
  readonly results: readonly WitType[];
}

export interface WitPackageName {
  readonly namespace: string;
  readonly name: string;
  readonly version?: string | undefined;
}

export interface WitInterface {
  readonly name: string;
  readonly package?: WitPackageName | undefined;
  readonly types: ReadonlyMap<string, WitType>;
  readonly functions: ReadonlyMap<string, WitFunction>;
}

export const WIT_PRIMITIVE_KINDS: readonly WitPrimitiveKind[] = [
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
];

const PRIMITIVES = new Set<string>(WIT_PRIMITIVE_KINDS);

export function isWitPrimitive(type: WitType): type is WitPrimitive {
  return PRIMITIVES.has(type.kind);
}

// A WIT word is all lower-case or all upper-case letters and digits, starting with a letter; words
// are joined by single dashes (`get-URL`, `http2-server`).
const WIT_NAME = /^(?:[a-z][a-z0-9]*|[A-Z][A-Z0-9]*)(?:-(?:[a-z][a-z0-9]*|[A-Z][A-Z0-9]*))*$/;

export function isWitName(name: string): boolean {
  return WIT_NAME.test(name);
}

/**
 * The JavaScript property name jco uses for a WIT record field or flag: lower camel case
 * (`content-type` → `contentType`, `get-URL` → `getUrl`).
 */
export function witNameToJs(name: string): string {
  // Asked for every field of every value the wRPC codec carries: each name is converted once.
  let js = jsNames.get(name);
  if (js === undefined) {
    js = name
      .split('-')
      .map((word, i) => {
        const lower = word.toLowerCase();
        return i === 0 ? lower : lower.charAt(0).toUpperCase() + lower.slice(1);
      })
      .join('');
    if (jsNames.size < JS_NAMES_KEPT) jsNames.set(name, js);
  }
  return js;
}

/** Names come from WIT documents, a bounded set in practice; the bound keeps a hostile one harmless. */
const JS_NAMES_KEPT = 4096;
const jsNames = new Map<string, string>();

function invalid(message: string): WitInvalidError {
  return new WitInvalidError(message, {
    hint: 'WIT names are kebab-case words (`my-field`); records, tuples, variants, enums and flags need at least one member',
  });
}

function checkName(what: string, name: string): string {
  if (typeof name !== 'string' || !isWitName(name)) {
    throw invalid(`${what} ${JSON.stringify(name)} is not a valid WIT name`);
  }
  return name;
}

function checkUnique(what: string, names: readonly string[]): void {
  const seen = new Set<string>();
  // Two WIT names can differ only in case (`a-b` vs `A-B`) yet map to the same JavaScript name.
  const seenJs = new Map<string, string>();
  for (const name of names) {
    if (seen.has(name)) throw invalid(`${what} ${JSON.stringify(name)} is declared twice`);
    seen.add(name);
    const js = witNameToJs(name);
    const other = seenJs.get(js);
    if (other !== undefined) {
      throw invalid(`${what}s ${JSON.stringify(other)} and ${JSON.stringify(name)} both map to "${js}"`);
    }
    seenJs.set(js, name);
  }
}

function checkNonEmpty(what: string, count: number): void {
  // The component model rejects empty records, tuples, variants, enums and flags. The codec relies on
  // it too: every value then encodes to at least one byte, which bounds list counts by input size.
  if (count === 0) throw invalid(`${what} must have at least one member`);
}

function prim<K extends WitPrimitiveKind>(kind: K): { readonly kind: K } {
  return Object.freeze({ kind });
}

/** Builders that validate names and membership; the results are frozen. */
export const wit = {
  bool: prim('bool'),
  s8: prim('s8'),
  s16: prim('s16'),
  s32: prim('s32'),
  s64: prim('s64'),
  u8: prim('u8'),
  u16: prim('u16'),
  u32: prim('u32'),
  u64: prim('u64'),
  f32: prim('f32'),
  f64: prim('f64'),
  char: prim('char'),
  string: prim('string'),

  list(element: WitType): WitList {
    return Object.freeze({ kind: 'list', element });
  },

  /** Fields in declaration order (object key order); keys are WIT names. */
  record(fields: Readonly<Record<string, WitType>>, name?: string): WitRecord {
    const list = Object.entries(fields).map(([field, type]) => Object.freeze({ name: field, type }));
    checkNonEmpty('record', list.length);
    for (const field of list) checkName('record field', field.name);
    checkUnique(
      'record field',
      list.map((f) => f.name),
    );
    if (name !== undefined) checkName('record name', name);
    return Object.freeze({ kind: 'record', name, fields: Object.freeze(list) });
  },

  tuple(...types: WitType[]): WitTuple {
    checkNonEmpty('tuple', types.length);
    return Object.freeze({ kind: 'tuple', types: Object.freeze([...types]) });
  },

  /** Cases in declaration order; `null` marks a case without payload. */
  variant(cases: Readonly<Record<string, WitType | null>>, name?: string): WitVariant {
    const list = Object.entries(cases).map(([c, type]) =>
      Object.freeze(type === null ? { name: c } : { name: c, type }),
    );
    checkNonEmpty('variant', list.length);
    for (const c of list) checkName('variant case', c.name);
    checkUnique(
      'variant case',
      list.map((c) => c.name),
    );
    if (name !== undefined) checkName('variant name', name);
    return Object.freeze({ kind: 'variant', name, cases: Object.freeze(list) });
  },

  enum(cases: readonly string[], name?: string): WitEnum {
    checkNonEmpty('enum', cases.length);
    for (const c of cases) checkName('enum case', c);
    checkUnique('enum case', cases);
    if (name !== undefined) checkName('enum name', name);
    return Object.freeze({ kind: 'enum', name, cases: Object.freeze([...cases]) });
  },

  option(type: WitType): WitOption {
    return Object.freeze({ kind: 'option', type });
  },

  /** `result`, `result<T>`, `result<_, E>` (pass `undefined` for `_`), `result<T, E>`. */
  result(ok?: WitType, err?: WitType): WitResult {
    return Object.freeze({ kind: 'result', ok, err });
  },

  flags(names: readonly string[], name?: string): WitFlags {
    checkNonEmpty('flags', names.length);
    for (const f of names) checkName('flag', f);
    checkUnique('flag', names);
    if (name !== undefined) checkName('flags name', name);
    return Object.freeze({ kind: 'flags', name, flags: Object.freeze([...names]) });
  },

  own(resource: string): WitHandle {
    return Object.freeze({ kind: 'own', resource: checkName('resource', resource) });
  },

  borrow(resource: string): WitHandle {
    return Object.freeze({ kind: 'borrow', resource: checkName('resource', resource) });
  },

  stream(element: WitType): WitStream {
    return Object.freeze({ kind: 'stream', element });
  },

  future(type?: WitType): WitFuture {
    return Object.freeze({ kind: 'future', type });
  },

  /** `results`: one type for `-> T`, an array for several (old named results), omitted for none. */
  func(
    name: string,
    params: Readonly<Record<string, WitType>> = {},
    results?: WitType | readonly WitType[],
  ): WitFunction {
    // wRPC method names are `<resource>.<method>`; each part is a WIT name.
    for (const part of name.split('.')) checkName('function name', part);
    const list = Object.entries(params).map(([param, type]) => Object.freeze({ name: param, type }));
    for (const p of list) checkName('parameter', p.name);
    checkUnique(
      'parameter',
      list.map((p) => p.name),
    );
    const resultList = results === undefined ? [] : isTypeList(results) ? [...results] : [results];
    return Object.freeze({ name, params: Object.freeze(list), results: Object.freeze(resultList) });
  },
} as const;

function isTypeList(value: WitType | readonly WitType[]): value is readonly WitType[] {
  return Array.isArray(value);
}

/** `acme:demo/greeter@0.1.0`: the instance name under which an interface is served over wRPC. */
export function witInstanceName(iface: Pick<WitInterface, 'name' | 'package'>): string {
  const pkg = iface.package;
  if (pkg === undefined) return iface.name;
  const version = pkg.version === undefined ? '' : `@${pkg.version}`;
  return `${pkg.namespace}:${pkg.name}/${iface.name}${version}`;
}

/** WIT syntax for a type; named types (records, variants, …) print their name when they have one. */
export function witTypeToString(type: WitType): string {
  switch (type.kind) {
    case 'list':
      return `list<${witTypeToString(type.element)}>`;
    case 'option':
      return `option<${witTypeToString(type.type)}>`;
    case 'result':
      if (type.ok === undefined && type.err === undefined) return 'result';
      if (type.err === undefined) return `result<${witTypeToString(type.ok as WitType)}>`;
      return `result<${type.ok === undefined ? '_' : witTypeToString(type.ok)}, ${witTypeToString(type.err)}>`;
    case 'tuple':
      return `tuple<${type.types.map(witTypeToString).join(', ')}>`;
    case 'own':
      return `own<${type.resource}>`;
    case 'borrow':
      return `borrow<${type.resource}>`;
    case 'stream':
      return `stream<${witTypeToString(type.element)}>`;
    case 'future':
      return type.type === undefined ? 'future' : `future<${witTypeToString(type.type)}>`;
    case 'record':
      return (
        type.name ??
        `record { ${type.fields.map((f) => `${f.name}: ${witTypeToString(f.type)}`).join(', ')} }`
      );
    case 'variant':
      return (
        type.name ??
        `variant { ${type.cases.map((c) => (c.type === undefined ? c.name : `${c.name}(${witTypeToString(c.type)})`)).join(', ')} }`
      );
    case 'enum':
      return type.name ?? `enum { ${type.cases.join(', ')} }`;
    case 'flags':
      return type.name ?? `flags { ${type.flags.join(', ')} }`;
    default:
      return type.kind;
  }
}

/** `greet: func(name: string) -> string` */
export function witFunctionToString(fn: WitFunction): string {
  const params = fn.params.map((p) => `${p.name}: ${witTypeToString(p.type)}`).join(', ');
  const results =
    fn.results.length === 0
      ? ''
      : fn.results.length === 1
        ? ` -> ${witTypeToString(fn.results[0] as WitType)}`
        : ` -> (${fn.results.map((t, i) => `r${i}: ${witTypeToString(t)}`).join(', ')})`;
  return `${fn.name}: func(${params})${results}`;
}
