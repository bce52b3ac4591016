import { subscriptionTokens } from './subject.ts';

/**
 * Subject-to-subscriber index: a token trie with `*` and `>` branches and a per-subject result cache,
 * so publishing costs one cache hit on hot subjects no matter how many subscriptions exist.
 */
interface Node<T> {
  children: Map<string, Node<T>>;
  values: Set<T>;
  /** Values subscribed with a trailing `>` at this level. */
  rest: Set<T>;
}

function node<T>(): Node<T> {
  return { children: new Map(), values: new Set(), rest: new Set() };
}

const CACHE_LIMIT = 4096;

export class Sublist<T> {
  readonly #root: Node<T> = node();
  readonly #cache = new Map<string, T[]>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  insert(subject: string, value: T): void {
    const tokens = subscriptionTokens(subject);
    let n = this.#root;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i] as string;
      if (t === '>') {
        n.rest.add(value);
        this.#changed(1);
        return;
      }
      let child = n.children.get(t);
      if (child === undefined) {
        child = node();
        n.children.set(t, child);
      }
      n = child;
    }
    n.values.add(value);
    this.#changed(1);
  }

  remove(subject: string, value: T): void {
    const tokens = subject.split('.');
    const path: [Node<T>, string][] = [];
    let n: Node<T> | undefined = this.#root;
    for (const t of tokens) {
      if (t === '>') {
        if (n.rest.delete(value)) this.#changed(-1);
        break;
      }
      const child: Node<T> | undefined = n.children.get(t);
      if (child === undefined) return;
      path.push([n, t]);
      n = child;
    }
    if (tokens[tokens.length - 1] !== '>' && n.values.delete(value)) this.#changed(-1);
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, token] = path[i] as [Node<T>, string];
      const child = parent.children.get(token);
      if (child && child.children.size === 0 && child.values.size === 0 && child.rest.size === 0) {
        parent.children.delete(token);
      } else break;
    }
  }

  match(subject: string): readonly T[] {
    const cached = this.#cache.get(subject);
    if (cached !== undefined) return cached;
    const out: T[] = [];
    this.#collect(this.#root, subject.split('.'), 0, out);
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(subject, out);
    return out;
  }

  #collect(n: Node<T>, tokens: string[], i: number, out: T[]): void {
    if (i < tokens.length) for (const v of n.rest) out.push(v);
    if (i === tokens.length) {
      for (const v of n.values) out.push(v);
      return;
    }
    const exact = n.children.get(tokens[i] as string);
    if (exact !== undefined) this.#collect(exact, tokens, i + 1, out);
    const star = n.children.get('*');
    if (star !== undefined) this.#collect(star, tokens, i + 1, out);
  }

  #changed(delta: number): void {
    this.#size += delta;
    this.#cache.clear();
  }
}
