/**
 * An unbounded single-consumer queue exposed as an async iterable. `end()` lets buffered items drain
 * and then finishes the iteration; `fail()` makes the next read throw.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #waiter: ((result: IteratorResult<T>) => void) | undefined;
  #failWaiter: ((err: Error) => void) | undefined;
  #ended = false;
  #error: Error | undefined;

  get ended(): boolean {
    return this.#ended;
  }

  push(item: T): void {
    if (this.#ended) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      waiter({ value: item, done: false });
    } else {
      this.#items.push(item);
    }
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    const waiter = this.#waiter;
    if (waiter !== undefined && this.#items.length === 0) {
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      waiter({ value: undefined, done: true });
    }
  }

  fail(err: Error): void {
    if (this.#ended) return;
    this.#error = err;
    this.#ended = true;
    const failWaiter = this.#failWaiter;
    if (failWaiter !== undefined) {
      this.#waiter = undefined;
      this.#failWaiter = undefined;
      failWaiter(err);
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#items.length > 0) {
      return Promise.resolve({ value: this.#items.shift() as T, done: false });
    }
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiter = resolve;
      this.#failWaiter = reject;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => this.next(),
      return: () => {
        this.end();
        this.#items.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
