import { WitInvalidError } from './errors.ts';
import { isWitName, wit } from './wit-types.ts';
import type { WitFunction, WitInterface, WitPackageName, WitParam, WitType } from './wit-types.ts';

/**
 * A deliberately small WIT parser: one package header, interfaces with type declarations (`type`,
 * `record`, `variant`, `enum`, `flags`, `resource` with methods) and functions. It is strict rather
 * than forgiving: anything outside that subset (`use`, `include`, nested packages) is an error naming
 * line and column, so an interface is never silently half-understood. `world` blocks are skipped,
 * since a world only says what a component imports and exports, not how values are encoded.
 */

export interface WitDocument {
  readonly package?: WitPackageName | undefined;
  readonly interfaces: readonly WitInterface[];
}

interface Position {
  readonly line: number;
  readonly column: number;
}

// `version` covers digit-led text such as `0.2.0`, which only appears inside skipped gates.
type TokenKind = 'name' | 'punct' | 'version' | 'eof';

interface Token extends Position {
  readonly kind: TokenKind;
  /** The name without a leading `%`, or the punctuation. */
  readonly text: string;
  /** `%name`: a keyword used as a name. */
  readonly escaped: boolean;
  readonly offset: number;
}

const KEYWORDS = new Set([
  'use',
  'type',
  'func',
  'u8',
  'u16',
  'u32',
  'u64',
  's8',
  's16',
  's32',
  's64',
  'f32',
  'f64',
  'float32',
  'float64',
  'char',
  'bool',
  'string',
  'option',
  'result',
  'list',
  'tuple',
  'flags',
  'enum',
  'variant',
  'record',
  'resource',
  'own',
  'borrow',
  'stream',
  'future',
  'interface',
  'world',
  'import',
  'export',
  'package',
  'constructor',
  'static',
  'include',
  'with',
  'as',
  'from',
  'async',
  '_',
]);

const PUNCT = ['->', '{', '}', '(', ')', '<', '>', ',', ':', ';', '=', '@', '.', '/', '*'];

/** Type expressions as written, resolved once every declaration of the interface is known. */
type TypeExpr =
  | { readonly at: Position; readonly kind: 'ref'; readonly name: string }
  | { readonly at: Position; readonly kind: 'builtin'; readonly type: WitType }
  | { readonly at: Position; readonly kind: 'list' | 'option' | 'stream'; readonly inner: TypeExpr }
  | { readonly at: Position; readonly kind: 'future'; readonly inner?: TypeExpr | undefined }
  | { readonly at: Position; readonly kind: 'tuple'; readonly items: readonly TypeExpr[] }
  | {
      readonly at: Position;
      readonly kind: 'result';
      readonly ok?: TypeExpr | undefined;
      readonly err?: TypeExpr | undefined;
    }
  | { readonly at: Position; readonly kind: 'own' | 'borrow'; readonly resource: string };

type Decl =
  | { readonly at: Position; readonly kind: 'alias'; readonly target: TypeExpr }
  | {
      readonly at: Position;
      readonly kind: 'record';
      readonly fields: readonly { name: string; type: TypeExpr }[];
    }
  | {
      readonly at: Position;
      readonly kind: 'variant';
      readonly cases: readonly { name: string; type?: TypeExpr | undefined }[];
    }
  | { readonly at: Position; readonly kind: 'enum' | 'flags'; readonly names: readonly string[] }
  | { readonly at: Position; readonly kind: 'resource' };

interface FuncDecl {
  readonly at: Position;
  readonly name: string;
  readonly params: readonly { name: string; type: TypeExpr; at: Position }[];
  readonly results: readonly TypeExpr[];
}

const BUILTINS: Readonly<Record<string, WitType>> = {
  bool: wit.bool,
  s8: wit.s8,
  s16: wit.s16,
  s32: wit.s32,
  s64: wit.s64,
  u8: wit.u8,
  u16: wit.u16,
  u32: wit.u32,
  u64: wit.u64,
  f32: wit.f32,
  f64: wit.f64,
  // Older WIT spelled the float types out; wit-parser still accepts them.
  float32: wit.f32,
  float64: wit.f64,
  char: wit.char,
  string: wit.string,
};

class Scanner {
  private pos = 0;
  private line = 1;
  private column = 1;
  private peeked: Token | undefined;

  private readonly src: string;

  constructor(src: string) {
    this.src = src;
  }

  fail(at: Position, message: string): WitInvalidError {
    return new WitInvalidError(`line ${at.line}, column ${at.column}: ${message}`, {
      details: { line: at.line, column: at.column },
    });
  }

  peek(): Token {
    this.peeked ??= this.scan();
    return this.peeked;
  }

  next(): Token {
    const token = this.peek();
    this.peeked = undefined;
    return token;
  }

  /** Consumes `text` if it is the next punctuation or (unescaped) keyword. */
  eat(text: string): boolean {
    const token = this.peek();
    if (token.kind !== 'eof' && token.text === text && !token.escaped) {
      this.next();
      return true;
    }
    return false;
  }

  expect(text: string): Token {
    const token = this.next();
    if (token.kind === 'eof' || token.text !== text || token.escaped) {
      throw this.fail(token, `expected \`${text}\`, found ${describe(token)}`);
    }
    return token;
  }

  /** A name that is not a keyword (unless written `%keyword`). */
  name(what: string): Token {
    const token = this.next();
    if (token.kind !== 'name') throw this.fail(token, `expected ${what}, found ${describe(token)}`);
    if (!token.escaped && KEYWORDS.has(token.text)) {
      throw this.fail(token, `\`${token.text}\` is a keyword; write \`%${token.text}\` to use it as ${what}`);
    }
    if (!isWitName(token.text)) {
      throw this.fail(token, `${what} \`${token.text}\` is not a kebab-case WIT name`);
    }
    return token;
  }

  /** Raw source up to (not including) `stop`, for the package header whose versions are not tokens. */
  rawUntil(stop: string): { text: string; at: Position } {
    if (this.peeked !== undefined) throw new Error('rawUntil after peek');
    this.skipTrivia();
    const at = { line: this.line, column: this.column };
    const end = this.src.indexOf(stop, this.pos);
    const stopAt = end === -1 ? this.src.length : end;
    const text = this.src.slice(this.pos, stopAt);
    if (end === -1 || /[\n{}]/.test(text)) throw this.fail(at, `expected \`${stop}\` to end this line`);
    this.advance(text.length);
    return { text: text.trim(), at };
  }

  /** Skips a balanced `( … )` or `{ … }` group whose opening token was just consumed. */
  skipGroup(open: string, close: string, at: Position): void {
    let depth = 1;
    while (depth > 0) {
      const token = this.next();
      if (token.kind === 'eof') throw this.fail(at, `\`${open}\` is never closed`);
      if (token.kind === 'punct' && token.text === open) depth += 1;
      if (token.kind === 'punct' && token.text === close) depth -= 1;
    }
  }

  private advance(n: number): void {
    for (let i = 0; i < n; i += 1) {
      if (this.src.charCodeAt(this.pos) === 10) {
        this.line += 1;
        this.column = 1;
      } else {
        this.column += 1;
      }
      this.pos += 1;
    }
  }

  private skipTrivia(): void {
    for (;;) {
      const c = this.src[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
        this.advance(1);
      } else if (this.src.startsWith('//', this.pos)) {
        const end = this.src.indexOf('\n', this.pos);
        this.advance((end === -1 ? this.src.length : end) - this.pos);
      } else if (this.src.startsWith('/*', this.pos)) {
        // WIT block comments nest.
        const at = { line: this.line, column: this.column };
        let depth = 0;
        do {
          if (this.pos >= this.src.length) throw this.fail(at, 'block comment is never closed');
          if (this.src.startsWith('/*', this.pos)) {
            depth += 1;
            this.advance(2);
          } else if (this.src.startsWith('*/', this.pos)) {
            depth -= 1;
            this.advance(2);
          } else {
            this.advance(1);
          }
        } while (depth > 0);
      } else {
        return;
      }
    }
  }

  private scan(): Token {
    this.skipTrivia();
    const at = { line: this.line, column: this.column, offset: this.pos };
    if (this.pos >= this.src.length) return { ...at, kind: 'eof', text: '', escaped: false };
    const rest = this.src.slice(this.pos, this.pos + 64);
    const word = /^(%?)([A-Za-z_][A-Za-z0-9_-]*)/.exec(rest);
    if (word !== null) {
      const [all, percent, text] = word as unknown as [string, string, string];
      this.advance(all.length);
      return { ...at, kind: 'name', text, escaped: percent === '%' };
    }
    const version = /^[0-9][0-9A-Za-z.+-]*/.exec(rest);
    if (version !== null) {
      this.advance(version[0].length);
      return { ...at, kind: 'version', text: version[0], escaped: false };
    }
    for (const p of PUNCT) {
      if (this.src.startsWith(p, this.pos)) {
        this.advance(p.length);
        return { ...at, kind: 'punct', text: p, escaped: false };
      }
    }
    const bad = String.fromCodePoint(this.src.codePointAt(this.pos) ?? 0);
    throw this.fail(at, `unexpected character ${JSON.stringify(bad)}`);
  }
}

function describe(token: Token): string {
  if (token.kind === 'eof') return 'the end of the input';
  return `\`${token.escaped ? '%' : ''}${token.text}\``;
}

const PACKAGE_NAME =
  /^(?<namespace>[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*):(?<name>[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*)(?:@(?<version>(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?))?$/;

class Parser {
  private readonly s: Scanner;

  constructor(scanner: Scanner) {
    this.s = scanner;
  }

  document(): WitDocument {
    let pkg: WitPackageName | undefined;
    const interfaces: WitInterface[] = [];
    const names = new Set<string>();
    this.gates();
    if (this.s.eat('package')) {
      const { text, at } = this.s.rawUntil(';');
      this.s.expect(';');
      const m = PACKAGE_NAME.exec(text);
      if (m?.groups === undefined) {
        throw this.s.fail(at, `\`${text}\` is not a package name like \`acme:demo@0.1.0\``);
      }
      const { namespace, name, version } = m.groups as { namespace: string; name: string; version?: string };
      pkg = Object.freeze({ namespace, name, version });
    }
    for (;;) {
      this.gates();
      const token = this.s.peek();
      if (token.kind === 'eof') break;
      if (this.s.eat('interface')) {
        const iface = this.interface(pkg);
        if (names.has(iface.name)) throw this.s.fail(token, `interface \`${iface.name}\` is declared twice`);
        names.add(iface.name);
        interfaces.push(iface);
      } else if (this.s.eat('world')) {
        this.s.name('a world name');
        const open = this.s.expect('{');
        this.s.skipGroup('{', '}', open);
      } else {
        throw this.s.fail(token, `expected \`interface\` or \`world\`, found ${describe(token)}`);
      }
    }
    return Object.freeze({ package: pkg, interfaces: Object.freeze(interfaces) });
  }

  /** Skips feature gates such as `@since(version = 0.2.0)`, which do not change any encoding. */
  private gates(): void {
    while (this.s.eat('@')) {
      this.s.name('a gate name');
      const open = this.s.expect('(');
      this.s.skipGroup('(', ')', open);
    }
  }

  private interface(pkg: WitPackageName | undefined): WitInterface {
    const name = this.s.name('an interface name').text;
    this.s.expect('{');
    const decls = new Map<string, Decl>();
    const funcs: FuncDecl[] = [];
    const seen = new Map<string, Position>();
    const declare = (token: Token): string => {
      const first = seen.get(token.text);
      if (first !== undefined) {
        throw this.s.fail(token, `\`${token.text}\` is already declared on line ${first.line}`);
      }
      seen.set(token.text, token);
      return token.text;
    };
    for (;;) {
      this.gates();
      const token = this.s.peek();
      if (this.s.eat('}')) break;
      if (token.kind === 'eof') throw this.s.fail(token, `interface \`${name}\` is never closed`);
      if (token.kind === 'name' && !token.escaped && token.text === 'use') {
        throw this.s.fail(token, '`use` is not supported: declare the types this interface needs in it');
      }
      if (this.s.eat('type')) {
        const id = declare(this.s.name('a type name'));
        this.s.expect('=');
        decls.set(id, { at: token, kind: 'alias', target: this.type() });
        this.s.expect(';');
      } else if (this.s.eat('record')) {
        const id = declare(this.s.name('a record name'));
        const fields = this.members('a field name', () => {
          this.s.expect(':');
          return this.type();
        });
        decls.set(id, { at: token, kind: 'record', fields: fields.map(([n, t]) => ({ name: n, type: t })) });
      } else if (this.s.eat('variant')) {
        const id = declare(this.s.name('a variant name'));
        const cases = this.members('a case name', () => {
          if (!this.s.eat('(')) return undefined;
          const type = this.type();
          this.s.expect(')');
          return type;
        });
        decls.set(id, { at: token, kind: 'variant', cases: cases.map(([n, t]) => ({ name: n, type: t })) });
      } else if (this.s.eat('enum') || this.s.eat('flags')) {
        const kind = token.text as 'enum' | 'flags';
        const id = declare(this.s.name(`a ${kind} name`));
        const names = this.members(kind === 'enum' ? 'a case name' : 'a flag name', () => undefined);
        decls.set(id, { at: token, kind, names: names.map(([n]) => n) });
      } else if (this.s.eat('resource')) {
        const id = declare(this.s.name('a resource name'));
        decls.set(id, { at: token, kind: 'resource' });
        if (!this.s.eat(';')) {
          this.s.expect('{');
          this.resourceBody(id, funcs, declare);
        }
      } else {
        const fnName = declare(this.s.name('a function or type declaration'));
        this.s.expect(':');
        funcs.push(this.func(token, fnName, []));
      }
    }
    return new Resolver(this.s, decls).interface(name, pkg, funcs);
  }

  private resourceBody(resource: string, funcs: FuncDecl[], declare: (token: Token) => string): void {
    const self = {
      name: 'self',
      at: this.s.peek(),
      type: { at: this.s.peek(), kind: 'borrow', resource },
    } as const;
    for (;;) {
      this.gates();
      const token = this.s.peek();
      if (this.s.eat('}')) return;
      if (token.kind === 'eof') throw this.s.fail(token, `resource \`${resource}\` is never closed`);
      if (this.s.eat('constructor')) {
        const params = this.params();
        this.s.expect(';');
        // wRPC serves a constructor under the bare resource name, returning the new handle.
        funcs.push({
          at: token,
          name: `${resource}`,
          params,
          results: [{ at: token, kind: 'own', resource }],
        });
        continue;
      }
      const method = this.s.name('a method name');
      const rpcName = `${resource}.${method.text}`;
      declare({ ...method, text: rpcName });
      this.s.expect(':');
      const isStatic = this.s.eat('static');
      funcs.push(this.func(method, rpcName, isStatic ? [] : [self]));
    }
  }

  /** `{ a, b: T, c(T), }` — comma separated, trailing comma allowed, at least one member. */
  private members<T>(what: string, rest: () => T): [string, T][] {
    this.s.expect('{');
    const out: [string, T][] = [];
    while (!this.s.eat('}')) {
      this.gates();
      out.push([this.s.name(what).text, rest()]);
      if (!this.s.eat(',')) {
        this.s.expect('}');
        break;
      }
    }
    return out;
  }

  private params(): { name: string; type: TypeExpr; at: Position }[] {
    this.s.expect('(');
    const params: { name: string; type: TypeExpr; at: Position }[] = [];
    while (!this.s.eat(')')) {
      const token = this.s.name('a parameter name');
      this.s.expect(':');
      params.push({ name: token.text, type: this.type(), at: token });
      if (!this.s.eat(',')) {
        this.s.expect(')');
        break;
      }
    }
    return params;
  }

  private func(at: Position, name: string, implicit: FuncDecl['params']): FuncDecl {
    this.s.eat('async');
    this.s.expect('func');
    const params = [...implicit, ...this.params()];
    const results: TypeExpr[] = [];
    if (this.s.eat('->')) {
      if (this.s.eat('(')) {
        // Named results (`-> (a: u32, b: string)`), removed from newer WIT but still in older files.
        const names = new Set<string>();
        while (!this.s.eat(')')) {
          const token = this.s.name('a result name');
          if (names.has(token.text)) throw this.s.fail(token, `result \`${token.text}\` is declared twice`);
          names.add(token.text);
          this.s.expect(':');
          results.push(this.type());
          if (!this.s.eat(',')) {
            this.s.expect(')');
            break;
          }
        }
      } else {
        results.push(this.type());
      }
    }
    this.s.expect(';');
    return { at, name, params, results };
  }

  type(): TypeExpr {
    const token = this.s.next();
    if (token.kind !== 'name') throw this.s.fail(token, `expected a type, found ${describe(token)}`);
    const at: Position = token;
    if (token.escaped) return { at, kind: 'ref', name: token.text };
    const builtin = BUILTINS[token.text];
    if (builtin !== undefined) return { at, kind: 'builtin', type: builtin };
    switch (token.text) {
      case 'list':
      case 'option':
      case 'stream': {
        this.s.expect('<');
        const inner = this.type();
        this.s.expect('>');
        return { at, kind: token.text, inner };
      }
      case 'future': {
        if (!this.s.eat('<')) return { at, kind: 'future' };
        const inner = this.type();
        this.s.expect('>');
        return { at, kind: 'future', inner };
      }
      case 'tuple': {
        this.s.expect('<');
        const items: TypeExpr[] = [];
        while (!this.s.eat('>')) {
          items.push(this.type());
          if (!this.s.eat(',')) {
            this.s.expect('>');
            break;
          }
        }
        if (items.length === 0) throw this.s.fail(at, 'a tuple needs at least one type');
        return { at, kind: 'tuple', items };
      }
      case 'result': {
        if (!this.s.eat('<')) return { at, kind: 'result' };
        const ok = this.s.eat('_') ? undefined : this.type();
        let err: TypeExpr | undefined;
        if (this.s.eat(',')) err = this.type();
        else if (ok === undefined) throw this.s.fail(at, '`result<_>` needs an error type: `result<_, E>`');
        this.s.expect('>');
        return { at, kind: 'result', ok, err };
      }
      case 'own':
      case 'borrow': {
        this.s.expect('<');
        const resource = this.s.name('a resource name').text;
        this.s.expect('>');
        return { at, kind: token.text, resource };
      }
      default:
        if (KEYWORDS.has(token.text)) throw this.s.fail(token, `expected a type, found \`${token.text}\``);
        if (!isWitName(token.text))
          throw this.s.fail(token, `\`${token.text}\` is not a kebab-case WIT name`);
        return { at, kind: 'ref', name: token.text };
    }
  }
}

/** Turns declarations into `WitType`s, following aliases and rejecting unknown or recursive types. */
class Resolver {
  private readonly done = new Map<string, WitType>();
  private readonly active = new Set<string>();

  protected readonly s: Scanner;
  private readonly decls: ReadonlyMap<string, Decl>;

  constructor(scanner: Scanner, decls: ReadonlyMap<string, Decl>) {
    this.s = scanner;
    this.decls = decls;
  }

  interface(name: string, pkg: WitPackageName | undefined, funcs: readonly FuncDecl[]): WitInterface {
    const types = new Map<string, WitType>();
    for (const id of this.decls.keys()) {
      if (this.decls.get(id)?.kind !== 'resource') types.set(id, this.named(id, this.decls.get(id)?.at));
    }
    const functions = new Map<string, WitFunction>();
    for (const f of funcs) {
      const params: WitParam[] = f.params.map((p) =>
        Object.freeze({ name: p.name, type: this.resolve(p.type) }),
      );
      const dup = params.find((p, i) => params.findIndex((q) => q.name === p.name) !== i);
      if (dup !== undefined)
        throw this.s.fail(f.at, `parameter \`${dup.name}\` of \`${f.name}\` is declared twice`);
      functions.set(
        f.name,
        Object.freeze({
          name: f.name,
          params: Object.freeze(params),
          results: Object.freeze(f.results.map((r) => this.resolve(r))),
        }),
      );
    }
    return Object.freeze({ name, package: pkg, types, functions });
  }

  resolve(expr: TypeExpr): WitType {
    switch (expr.kind) {
      case 'builtin':
        return expr.type;
      case 'ref': {
        const decl = this.decls.get(expr.name);
        if (decl === undefined) throw this.s.fail(expr.at, `unknown type \`${expr.name}\``);
        // A resource named as a type means an owned handle to it.
        if (decl.kind === 'resource') return wit.own(expr.name);
        return this.named(expr.name, expr.at);
      }
      case 'list':
        return wit.list(this.resolve(expr.inner));
      case 'option':
        return wit.option(this.resolve(expr.inner));
      case 'stream':
        return wit.stream(this.resolve(expr.inner));
      case 'future':
        return wit.future(expr.inner === undefined ? undefined : this.resolve(expr.inner));
      case 'tuple':
        return wit.tuple(...expr.items.map((t) => this.resolve(t)));
      case 'result':
        return wit.result(
          expr.ok === undefined ? undefined : this.resolve(expr.ok),
          expr.err === undefined ? undefined : this.resolve(expr.err),
        );
      case 'own':
      case 'borrow': {
        if (this.decls.get(expr.resource)?.kind !== 'resource') {
          throw this.s.fail(expr.at, `\`${expr.resource}\` is not a resource declared in this interface`);
        }
        return expr.kind === 'own' ? wit.own(expr.resource) : wit.borrow(expr.resource);
      }
    }
  }

  private named(id: string, at: Position | undefined): WitType {
    const cached = this.done.get(id);
    if (cached !== undefined) return cached;
    const decl = this.decls.get(id) as Decl;
    if (this.active.has(id)) {
      // WIT value types are finite trees; a type containing itself cannot be encoded.
      throw this.s.fail(at ?? decl.at, `type \`${id}\` refers to itself`);
    }
    this.active.add(id);
    let type: WitType;
    try {
      type = this.build(id, decl);
    } catch (err) {
      if (err instanceof WitInvalidError && err.details === undefined) {
        throw this.s.fail(decl.at, `${err.message} (in \`${id}\`)`);
      }
      throw err;
    }
    this.active.delete(id);
    this.done.set(id, type);
    return type;
  }

  private build(id: string, decl: Decl): WitType {
    switch (decl.kind) {
      case 'alias':
        return this.resolve(decl.target);
      case 'record':
        return wit.record(
          Object.fromEntries(decl.fields.map((f): [string, WitType] => [f.name, this.resolve(f.type)])),
          id,
        );
      case 'variant':
        return wit.variant(
          Object.fromEntries(
            decl.cases.map((c): [string, WitType | null] => [
              c.name,
              c.type === undefined ? null : this.resolve(c.type),
            ]),
          ),
          id,
        );
      case 'enum':
        return wit.enum(decl.names, id);
      case 'flags':
        return wit.flags(decl.names, id);
      case 'resource':
        return wit.own(id);
    }
  }
}

/** Parses a WIT document: an optional `package` header followed by interfaces (worlds are skipped). */
export function parseWit(source: string): WitDocument {
  return new Parser(new Scanner(source)).document();
}

/** Parses a document that declares exactly one interface and returns it. */
export function parseWitInterface(source: string): WitInterface {
  const doc = parseWit(source);
  if (doc.interfaces.length !== 1) {
    throw new WitInvalidError(`expected exactly one interface, found ${doc.interfaces.length}`, {
      hint: 'use parseWit() for documents with several interfaces',
    });
  }
  return doc.interfaces[0] as WitInterface;
}

/**
 * Parses one type expression such as `list<tuple<string, u32>>`. Names refer to `types` (e.g. the
 * `types` of a parsed interface).
 */
export function parseWitType(source: string, types: ReadonlyMap<string, WitType> = new Map()): WitType {
  const scanner = new Scanner(source);
  const expr = new Parser(scanner).type();
  const end = scanner.peek();
  if (end.kind !== 'eof') throw scanner.fail(end, `unexpected ${describe(end)} after the type`);
  return new KnownResolver(scanner, types).resolve(expr);
}

/** Resolves names against already-built types instead of declarations. */
class KnownResolver extends Resolver {
  private readonly known: ReadonlyMap<string, WitType>;

  constructor(scanner: Scanner, known: ReadonlyMap<string, WitType>) {
    super(scanner, new Map());
    this.known = known;
  }

  override resolve(expr: TypeExpr): WitType {
    if (expr.kind === 'ref') {
      const type = this.known.get(expr.name);
      if (type === undefined) throw this.s.fail(expr.at, `unknown type \`${expr.name}\``);
      return type;
    }
    if (expr.kind === 'own' || expr.kind === 'borrow') {
      return expr.kind === 'own' ? wit.own(expr.resource) : wit.borrow(expr.resource);
    }
    return super.resolve(expr);
  }
}
