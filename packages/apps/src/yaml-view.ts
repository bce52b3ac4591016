/**
 * A typed, position-aware view over a YAML document: every value knows its line, and reading a value
 * of the wrong shape records a problem (with the line and a fix) instead of throwing, so one pass
 * reports every mistake in a manifest.
 *
 * The text is untrusted, so parsing is bounded before anything recurses over it: the nesting depth is
 * checked while the (iterative) CST parser runs, and aliases are resolved once, in document order,
 * with their expanded size counted, so neither a deep document nor an alias bomb costs more than a
 * pass over the text.
 */
import { Composer, isAlias, isMap, isPair, isScalar, isSeq, Lexer, LineCounter, Parser } from 'yaml';
import type { Alias, CST, Node, Pair } from 'yaml';
import { limitEnvName } from '@cirrus/protocol';

export interface Problem {
  line: number;
  message: string;
  fix: string;
}

export class Problems {
  readonly list: Problem[] = [];

  add(line: number, message: string, fix: string): void {
    this.list.push({ line, message, fix });
  }
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = current;
    }
  }
  return row[b.length] as number;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** What every view of one document shares. */
interface Context {
  readonly lines: LineCounter;
  readonly problems: Problems;
  /** The node each alias stands for, resolved once by `AliasExpansion`. */
  readonly aliases: ReadonlyMap<Alias, Node>;
}

/** The alias through which a view was reached, so problems inside a reused value name the use too. */
interface Reuse {
  readonly anchor: string;
  readonly line: number;
}

const MERGE_KEY_FIX = 'write the keys out here; an alias such as "*shared" can stand for a whole value';

function lineAt(lines: LineCounter, offset: number): number {
  return lines.linePos(offset).line;
}

/**
 * A plain `<<` key. YAML 1.1 reads it as a merge; wadm's serde_yaml does not apply merges (it sees a
 * key named `<<`), so accepting one here would deploy something wadm refuses or reads differently.
 */
function isMergeKey(key: Node | null): boolean {
  return isScalar(key) && key.value === '<<' && key.type === 'PLAIN';
}

export class View {
  /** The value, with an alias already replaced by the value it stands for. */
  readonly node: Node | null;
  readonly path: string;
  readonly line: number;
  readonly #ctx: Context;
  readonly #reuse: Reuse | undefined;

  constructor(node: Node | null, path: string, ctx: Context, fallbackLine: number, reuse?: Reuse) {
    const offset = node?.range?.[0];
    this.line = offset === undefined ? fallbackLine : lineAt(ctx.lines, offset);
    if (isAlias(node)) {
      this.node = ctx.aliases.get(node) ?? null;
      this.#reuse = { anchor: node.source, line: this.line };
    } else {
      this.node = node;
      this.#reuse = reuse;
    }
    this.path = path;
    this.#ctx = ctx;
  }

  get missing(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  #add(line: number, message: string, fix: string): void {
    const reuse = this.#reuse;
    const note =
      reuse === undefined || reuse.line === line
        ? ''
        : ` (in the value of *${reuse.anchor} used at line ${reuse.line})`;
    this.#ctx.problems.add(line, `${message}${note}`, fix);
  }

  problem(message: string, fix: string): void {
    this.#add(this.line, `${this.path}: ${message}`, fix);
  }

  #child(node: Node | null, path: string, line: number): View {
    return new View(node, path, this.#ctx, line, this.#reuse);
  }

  #keyLine(pair: Pair<Node, Node | null>): number {
    const offset = pair.key.range?.[0];
    return offset === undefined ? this.line : lineAt(this.#ctx.lines, offset);
  }

  #keyName(pair: Pair<Node, Node | null>): string {
    const key = isAlias(pair.key) ? this.#ctx.aliases.get(pair.key) : pair.key;
    return isScalar(key) ? String(key.value) : '?';
  }

  #pairs(): Pair<Node, Node | null>[] {
    return isMap(this.node) ? (this.node.items as Pair<Node, Node | null>[]) : [];
  }

  #mergeKey(pair: Pair<Node, Node | null>): boolean {
    if (!isMergeKey(pair.key)) return false;
    this.#add(
      this.#keyLine(pair),
      `${this.path}: YAML merge keys ("<<") are not supported: wadm reads "<<" as a plain key`,
      MERGE_KEY_FIX,
    );
    return true;
  }

  isMap(): boolean {
    return isMap(this.node);
  }

  /** Checks this is a mapping whose keys are all known; suggests the closest key for a typo. */
  map(known: readonly string[], fix: string): boolean {
    if (!isMap(this.node)) {
      if (!this.missing) this.problem('must be a mapping of keys to values', fix);
      return false;
    }
    for (const pair of this.#pairs()) {
      if (this.#mergeKey(pair)) continue;
      const key = this.#keyName(pair);
      if (!known.includes(key)) {
        const guess = closest(key, known);
        this.#add(
          this.#keyLine(pair),
          `${this.path}: unknown key "${key}"`,
          guess === undefined
            ? `remove it; allowed keys here: ${known.join(', ')}`
            : `did you mean "${guess}"?`,
        );
      }
    }
    return true;
  }

  get(key: string): View {
    for (const pair of this.#pairs()) {
      if (this.#keyName(pair) === key) {
        return this.#child(pair.value, `${this.path}.${key}`, this.#keyLine(pair));
      }
    }
    return this.#child(null, `${this.path}.${key}`, this.line);
  }

  list(fix: string): View[] {
    if (this.missing) return [];
    if (!isSeq(this.node)) {
      this.problem('must be a list', fix);
      return [];
    }
    return this.node.items.map((item, i) =>
      this.#child(item as Node | null, `${this.path}[${i}]`, this.line),
    );
  }

  string(fix: string): string | undefined {
    if (this.missing) return undefined;
    if (!isScalar(this.node) || typeof this.node.value !== 'string') {
      this.problem('must be a string', fix);
      return undefined;
    }
    return this.node.value;
  }

  requiredString(fix: string): string | undefined {
    if (this.missing) {
      this.problem('is required', fix);
      return undefined;
    }
    return this.string(fix);
  }

  integer(fix: string): number | undefined {
    if (this.missing) return undefined;
    if (!isScalar(this.node) || typeof this.node.value !== 'number' || !Number.isInteger(this.node.value)) {
      this.problem('must be a whole number', fix);
      return undefined;
    }
    return this.node.value;
  }

  /**
   * A flat map of string values. Numbers and booleans are accepted and kept as written (`1.10` stays
   * "1.10", not "1.1"), as wadm reads them into strings.
   */
  stringMap(fix: string): Record<string, string> {
    const out: Record<string, string> = {};
    if (this.missing) return out;
    if (!isMap(this.node)) {
      this.problem('must be a mapping of names to values', fix);
      return out;
    }
    for (const pair of this.#pairs()) {
      if (this.#mergeKey(pair)) continue;
      const key = this.#keyName(pair);
      const value = this.#child(pair.value, `${this.path}.${key}`, this.#keyLine(pair));
      const scalar = value.node;
      if (isScalar(scalar) && ['string', 'number', 'boolean'].includes(typeof scalar.value)) {
        out[key] = typeof scalar.value === 'string' ? scalar.value : (scalar.source ?? String(scalar.value));
      } else {
        value.problem('must be a plain value (string, number or boolean)', fix);
      }
    }
    return out;
  }
}

export interface YamlLimits {
  /** Deepest nesting of mappings and lists (`manifestMaxDepth`). */
  maxDepth: number;
  /** Nodes once aliases are expanded (`manifestMaxNodes`). */
  maxNodes: number;
}

export interface ParsedYaml {
  root: View;
  problems: Problems;
  /** The text is not one well-formed document within the limits; `root` is then empty. */
  syntaxError: boolean;
}

const SYNTAX_FIX = 'fix the YAML syntax at that line';
const COLLECTIONS: ReadonlySet<string> = new Set(['block-map', 'block-seq', 'flow-collection']);

/**
 * Runs the CST parser token by token and stops at the first token nested deeper than `maxDepth`, so
 * that nothing recursive (yaml's composer, this module) ever sees a deep document, and a document of
 * a million `[` costs as much as its first few.
 */
function tokenize(text: string, lines: LineCounter, maxDepth: number): CST.Token[] | { deepAt: number } {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  const tokens: CST.Token[] = [];
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) tokens.push(token);
    // The parser's stack holds the document and each collection it is inside (and, briefly, a scalar).
    if (
      parser.stack.length > maxDepth &&
      parser.stack.filter((t) => COLLECTIONS.has(t.type)).length > maxDepth
    ) {
      return { deepAt: parser.offset };
    }
  }
  for (const token of parser.end()) tokens.push(token);
  return tokens;
}

/**
 * Resolves every alias to its anchored node and counts the nodes of the document with aliases
 * expanded, failing at the first alias (or node) that takes the count past `maxNodes`. An anchored
 * node's expanded size is counted once and remembered, so the cost is one pass over the written
 * nodes whatever the expansion. Recursion follows the written nesting, which `tokenize` has bounded.
 */
class AliasExpansion {
  readonly aliases = new Map<Alias, Node>();
  readonly #anchors = new Map<string, Node>();
  readonly #sizes = new Map<Node, number>();
  readonly #open = new Set<Node>();
  readonly #lines: LineCounter;
  readonly #maxNodes: number;
  #count = 0;
  failure: Problem | undefined;

  constructor(lines: LineCounter, maxNodes: number) {
    this.#lines = lines;
    this.#maxNodes = maxNodes;
  }

  #fail(node: { range?: readonly number[] | null }, message: string, fix: string): false {
    const offset = node.range?.[0];
    this.failure = { line: offset === undefined ? 1 : lineAt(this.#lines, offset), message, fix };
    return false;
  }

  #alias(alias: Alias): boolean {
    const target = this.#anchors.get(alias.source);
    if (target === undefined) {
      return this.#fail(
        alias,
        `alias "*${alias.source}" has no anchor "&${alias.source}" before it`,
        `put "&${alias.source}" on the value to reuse, above this line, or write the value out`,
      );
    }
    if (this.#open.has(target)) {
      return this.#fail(
        alias,
        `alias "*${alias.source}" is inside the value anchored as "&${alias.source}", which would repeat without end`,
        'refer only to a value that is complete before the alias',
      );
    }
    this.aliases.set(alias, target);
    this.#count += this.#sizes.get(target) ?? 1;
    if (this.#count > this.#maxNodes) {
      return this.#fail(
        alias,
        `alias "*${alias.source}" expands the manifest past ${this.#maxNodes} values`,
        `reuse smaller values, or raise manifestMaxNodes (${limitEnvName('manifestMaxNodes')}) if the manifest is meant to be this large`,
      );
    }
    return true;
  }

  /** Counts `node`; false (with `failure` set) stops the walk. */
  walk(node: unknown): boolean {
    if (isAlias(node)) return this.#alias(node);
    if (isPair(node)) return this.walk(node.key) && this.walk(node.value);
    if (!isScalar(node) && !isMap(node) && !isSeq(node)) return true;
    const start = this.#count;
    this.#count += 1;
    if (this.#count > this.#maxNodes) {
      return this.#fail(
        node,
        `the manifest has more than ${this.#maxNodes} values`,
        `split the application, or raise manifestMaxNodes (${limitEnvName('manifestMaxNodes')})`,
      );
    }
    const anchor = node.anchor;
    if (anchor !== undefined) {
      this.#anchors.set(anchor, node);
      this.#open.add(node);
    }
    if (isMap(node) || isSeq(node)) {
      for (const item of node.items) if (!this.walk(item)) return false;
    }
    if (anchor !== undefined) {
      this.#open.delete(node);
      this.#sizes.set(node, this.#count - start);
    }
    return true;
  }
}

/**
 * Parses YAML (or JSON); syntax errors, nesting deeper than `maxDepth`, unresolvable aliases and an
 * expansion past `maxNodes` become problems with their line, and `syntaxError` is set.
 */
export function parseYaml(text: string, rootName: string, limits: YamlLimits): ParsedYaml {
  const lines = new LineCounter();
  const problems = new Problems();
  const aliases = new Map<Alias, Node>();
  const empty = (): ParsedYaml => ({
    root: new View(null, rootName, { lines, problems, aliases }, 1),
    problems,
    syntaxError: true,
  });

  const tokens = tokenize(text, lines, limits.maxDepth);
  if (!Array.isArray(tokens)) {
    problems.add(
      lineAt(lines, tokens.deepAt),
      `the YAML is nested deeper than ${limits.maxDepth} levels (a manifest needs about 11)`,
      `close the brackets or reduce the indentation at that line, or raise manifestMaxDepth (${limitEnvName('manifestMaxDepth')})`,
    );
    return empty();
  }

  const composer = new Composer({ uniqueKeys: true });
  const documents = [...composer.compose(tokens, true, text.length)];
  const document = documents[0];
  // An unclosed quote or bracket is reported at the end of the text; point at the last line with
  // content rather than at an empty line past it.
  const lastLine = Math.max(1, lineAt(lines, text.trimEnd().length));
  for (const error of document?.errors ?? []) {
    const line = Math.min(lineAt(lines, error.pos[0]), lastLine);
    problems.add(line, error.message.split('\n')[0] ?? error.message, SYNTAX_FIX);
  }
  const second = documents[1];
  if (second !== undefined) {
    problems.add(
      lineAt(lines, second.range[0]),
      'Source contains multiple documents; a manifest is one document',
      SYNTAX_FIX,
    );
  }
  if (document === undefined || problems.list.length > 0) return empty();

  const expansion = new AliasExpansion(lines, limits.maxNodes);
  if (!expansion.walk(document.contents)) {
    const failure = expansion.failure as Problem;
    problems.add(failure.line, failure.message, failure.fix);
    return empty();
  }
  const root = new View(document.contents, rootName, { lines, problems, aliases: expansion.aliases }, 1);
  return { root, problems, syntaxError: false };
}
