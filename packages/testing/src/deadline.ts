/** Every wait in a test has a deadline: these helpers reject with a message naming what was awaited. */

export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms`. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms: number,
  what: string,
  intervalMs = 10,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() >= until) throw new DeadlineError(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Takes the next `count` items of an async iterable, failing after `ms`. */
export async function take<T>(
  iterable: AsyncIterable<T>,
  count: number,
  ms: number,
  what: string,
): Promise<T[]> {
  const out: T[] = [];
  const iterator = iterable[Symbol.asyncIterator]();
  const collect = async (): Promise<T[]> => {
    while (out.length < count) {
      const next = await iterator.next();
      if (next.done === true) break;
      out.push(next.value);
    }
    return out;
  };
  return withDeadline(collect(), ms, `${count} × ${what} (got ${out.length})`);
}
