/**
 * A typed, position-aware view over a YAML document: every value knows its line, and reading a value
 * of the wrong shape records a problem (with the line and a fix) instead of throwing, so one pass
 * reports every mistake in a manifest.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node, Pair } from 'yaml';

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

export class View {
  readonly node: Node | null;
  readonly path: string;
  readonly #lines: LineCounter;
  readonly #problems: Problems;
  readonly #fallbackLine: number;

  constructor(node: Node | null, path: string, lines: LineCounter, problems: Problems, fallbackLine: number) {
    this.node = node;
    this.path = path;
    this.#lines = lines;
    this.#problems = problems;
    this.#fallbackLine = fallbackLine;
  }

  get line(): number {
    const offset = this.node?.range?.[0];
    return offset === undefined ? this.#fallbackLine : this.#lines.linePos(offset).line;
  }

  get missing(): boolean {
    return this.node === null || (isScalar(this.node) && this.node.value === null);
  }

  problem(message: string, fix: string): void {
    this.#problems.add(this.line, `${this.path}: ${message}`, fix);
  }

  #child(node: Node | null, path: string, line: number): View {
    return new View(node, path, this.#lines, this.#problems, line);
  }

  #keyLine(pair: Pair<Node, Node | null>): number {
    const offset = pair.key.range?.[0];
    return offset === undefined ? this.line : this.#lines.linePos(offset).line;
  }

  #pairs(): Pair<Node, Node | null>[] {
    return isMap(this.node) ? (this.node.items as Pair<Node, Node | null>[]) : [];
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
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      if (!known.includes(key)) {
        const line = this.#keyLine(pair);
        const guess = closest(key, known);
        this.#problems.add(
          line,
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
      if (isScalar(pair.key) && pair.key.value === key) {
        const line = this.#keyLine(pair);
        return this.#child(pair.value, `${this.path}.${key}`, line);
      }
    }
    return this.#child(null, `${this.path}.${key}`, this.line);
  }

  entries(): [string, View][] {
    return this.#pairs().map((pair) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      const line = this.#keyLine(pair);
      return [key, this.#child(pair.value, `${this.path}.${key}`, line)];
    });
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
    for (const [key, value] of this.entries()) {
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

export interface ParsedYaml {
  root: View;
  problems: Problems;
  document: Document;
}

/** Parses YAML (or JSON); syntax errors become problems with their line. */
export function parseYaml(text: string, rootName: string): ParsedYaml {
  const lines = new LineCounter();
  const document = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const problems = new Problems();
  // An unclosed quote or bracket is reported at the end of the text; point at the last line with
  // content rather than at an empty line past it.
  const lastLine = Math.max(1, lines.linePos(text.trimEnd().length).line);
  for (const error of document.errors) {
    const line = Math.min(lines.linePos(error.pos[0]).line, lastLine);
    problems.add(line, error.message.split('\n')[0] ?? error.message, 'fix the YAML syntax at that line');
  }
  const root = new View(document.contents, rootName, lines, problems, 1);
  return { root, problems, document };
}
