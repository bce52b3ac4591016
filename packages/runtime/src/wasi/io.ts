/**
 * wasi:io (error, poll, streams) for one instance. Blocking operations return a promise only when
 * they really have to wait: jco's JSPI mode suspends the guest on that promise and resumes it when the
 * host has data, so no thread ever spins.
 */

export class IoError {
  readonly #message: string;

  constructor(message: string) {
    this.#message = message;
  }

  toDebugString(): string {
    return this.#message;
  }
}

/** Something a pollable can wait for. */
export interface Readiness {
  ready(): boolean;
  /** Resolves when `ready()` may have become true. */
  wait(): Promise<void>;
}

export const ALWAYS_READY: Readiness = {
  ready: () => true,
  wait: () => Promise.resolve(),
};

export class Pollable {
  readonly #source: Readiness;

  constructor(source: Readiness) {
    this.#source = source;
  }

  ready(): boolean {
    return this.#source.ready();
  }

  block(): void | Promise<void> {
    if (this.#source.ready()) return;
    return suspend(() => this.#blockUntilReady());
  }

  async #blockUntilReady(): Promise<void> {
    while (!this.#source.ready()) await this.#source.wait();
  }

  wait(): Promise<void> {
    return this.#source.wait();
  }
}

function readyIndices(list: readonly Pollable[]): Uint32Array {
  const out: number[] = [];
  for (let i = 0; i < list.length; i++) if ((list[i] as Pollable).ready()) out.push(i);
  return Uint32Array.from(out);
}

export function poll(list: readonly Pollable[]): Uint32Array | Promise<Uint32Array> {
  if (list.length === 0) throw new Error('wasi:io/poll.poll called with an empty list');
  const ready = readyIndices(list);
  if (ready.length > 0) return ready;
  return suspend(async () => {
    for (;;) {
      await Promise.race(list.map((p) => p.wait()));
      const now = readyIndices(list);
      if (now.length > 0) return now;
    }
  });
}

/** A stream error as jco expects it thrown: the `stream-error` variant. */
export type StreamError = { tag: 'closed' } | { tag: 'last-operation-failed'; val: IoError };

export const CLOSED: StreamError = Object.freeze({ tag: 'closed' });

export function failed(message: string): StreamError {
  return { tag: 'last-operation-failed', val: new IoError(message) };
}

/** Where an input stream's bytes come from. */
export interface ByteSource extends Readiness {
  /** Up to `max` bytes available now, or null when none are buffered. */
  take(max: number): Uint8Array | null;
  /** True once every byte has been taken and no more will come. */
  readonly finished: boolean;
  readonly error: IoError | undefined;
  close?(): void;
}

const MAX_READ = 64 * 1024 * 1024;

function lengthOf(len: bigint): number {
  return len > BigInt(MAX_READ) ? MAX_READ : Number(len);
}

export class InputStream {
  readonly #source: ByteSource;
  #dropped = false;

  constructor(source: ByteSource) {
    this.#source = source;
  }

  #takeNow(len: bigint): Uint8Array | null {
    const chunk = this.#source.take(lengthOf(len));
    if (chunk !== null) return chunk;
    const error = this.#source.error;
    if (error !== undefined) throw { tag: 'last-operation-failed', val: error } satisfies StreamError;
    if (this.#source.finished) throw CLOSED;
    return null;
  }

  read(len: bigint): Uint8Array {
    return this.#takeNow(len) ?? new Uint8Array(0);
  }

  blockingRead(len: bigint): Uint8Array | Promise<Uint8Array> {
    const now = this.#takeNow(len);
    if (now !== null || len === 0n) return now ?? new Uint8Array(0);
    return suspend(async () => {
      for (;;) {
        await this.#source.wait();
        const chunk = this.#takeNow(len);
        if (chunk !== null) return chunk;
      }
    });
  }

  skip(len: bigint): bigint {
    return BigInt(this.read(len).byteLength);
  }

  blockingSkip(len: bigint): bigint | Promise<bigint> {
    const result = this.blockingRead(len);
    return result instanceof Uint8Array
      ? BigInt(result.byteLength)
      : result.then((bytes) => BigInt(bytes.byteLength));
  }

  subscribe(): Pollable {
    return new Pollable(this.#source);
  }

  [Symbol.dispose](): void {
    if (this.#dropped) return;
    this.#dropped = true;
    this.#source.close?.();
  }
}

/** Where an output stream's bytes go. */
export interface ByteSink extends Readiness {
  /** Bytes that can be written now without blocking. */
  capacity(): number;
  /** Buffers bytes; the sink hands them on when its buffer fills, on `flush`, or when the guest yields. */
  write(bytes: Uint8Array): void;
  /** Hands buffered bytes on now. */
  flush(): void;
  /** Blocks the thread until `capacity() > 0`; throws a stream error if the sink closed meanwhile. */
  blockUntilWritable(): void;
  /** Blocks the thread until everything written has been taken by the destination. */
  blockUntilDrained(): void;
  readonly closed: boolean;
  readonly error: IoError | undefined;
  close?(): void;
}

/**
 * A sink that takes every write at once and holds nothing back (it keeps or forwards bytes in
 * `write`): there is never anything to flush, wait for or block on.
 */
export abstract class ImmediateSink implements ByteSink {
  abstract readonly closed: boolean;
  abstract readonly error: IoError | undefined;
  abstract capacity(): number;
  abstract write(bytes: Uint8Array): void;

  flush(): void {}

  blockUntilWritable(): void {}

  blockUntilDrained(): void {}

  ready(): boolean {
    return true;
  }

  wait(): Promise<void> {
    return Promise.resolve();
  }
}

let beforeSuspend: () => void = () => {};

/** Runs `hook` whenever the guest is about to be suspended, so buffered output goes out first. */
export function setSuspendHook(hook: () => void): void {
  beforeSuspend = hook;
}

/** Waits on a JSPI-suspending import: buffered output is handed on before the guest sleeps. */
function suspend<T>(work: () => Promise<T>): Promise<T> {
  beforeSuspend();
  return work();
}

export class OutputStream {
  readonly #sink: ByteSink;
  #permit = 0;
  #dropped = false;

  constructor(sink: ByteSink) {
    this.#sink = sink;
  }

  #assertWritable(): void {
    const error = this.#sink.error;
    if (error !== undefined) throw { tag: 'last-operation-failed', val: error } satisfies StreamError;
    if (this.#sink.closed || this.#dropped) throw CLOSED;
  }

  checkWrite(): bigint {
    this.#assertWritable();
    this.#permit = this.#sink.capacity();
    return BigInt(this.#permit);
  }

  write(bytes: Uint8Array): void {
    this.#assertWritable();
    if (bytes.byteLength > this.#permit) {
      throw new Error(
        `wasi:io/streams write of ${bytes.byteLength} bytes exceeds the permit of ${this.#permit}`,
      );
    }
    this.#permit -= bytes.byteLength;
    this.#sink.write(bytes);
  }

  /**
   * Synchronous by design: the common case (room in the window) costs no suspension. When the
   * destination is behind, the instance's own thread blocks until it catches up.
   */
  blockingWriteAndFlush(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.byteLength) {
      this.#assertWritable();
      const room = this.#sink.capacity();
      if (room === 0) {
        this.#sink.blockUntilWritable();
        continue;
      }
      const end = Math.min(bytes.byteLength, offset + room);
      this.#sink.write(offset === 0 && end === bytes.byteLength ? bytes : bytes.subarray(offset, end));
      offset = end;
    }
    this.#assertWritable();
  }

  flush(): void {
    this.#assertWritable();
    this.#permit = 0;
    this.#sink.flush();
  }

  blockingFlush(): void {
    this.#assertWritable();
    this.#sink.blockUntilDrained();
  }

  writeZeroes(len: bigint): void {
    this.write(new Uint8Array(lengthOf(len)));
  }

  blockingWriteZeroesAndFlush(len: bigint): void {
    this.blockingWriteAndFlush(new Uint8Array(lengthOf(len)));
  }

  splice(source: InputStream, len: bigint): bigint {
    this.#assertWritable();
    const room = BigInt(this.#sink.capacity());
    const bytes = source.read(len < room ? len : room);
    if (bytes.byteLength > 0) this.#sink.write(bytes);
    return BigInt(bytes.byteLength);
  }

  blockingSplice(source: InputStream, len: bigint): bigint | Promise<bigint> {
    const bytes = source.blockingRead(len);
    if (bytes instanceof Uint8Array) {
      this.blockingWriteAndFlush(bytes);
      return BigInt(bytes.byteLength);
    }
    return bytes.then((b) => {
      this.blockingWriteAndFlush(b);
      return BigInt(b.byteLength);
    });
  }

  subscribe(): Pollable {
    return new Pollable(this.#sink);
  }

  [Symbol.dispose](): void {
    if (this.#dropped) return;
    this.#dropped = true;
    this.#sink.close?.();
  }
}

/** A source that is already at its end (stdin of a component). */
export const EMPTY_SOURCE: ByteSource = {
  take: () => null,
  finished: true,
  error: undefined,
  ready: () => true,
  wait: () => Promise.resolve(),
};
