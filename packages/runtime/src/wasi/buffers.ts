import { ImmediateSink, IoError } from './io.ts';
import type { ByteSource } from './io.ts';

/**
 * A byte queue filled by the host (request bodies arriving from the main thread) and drained by the
 * guest through an input stream.
 */
export class ChunkSource implements ByteSource {
  readonly #chunks: Uint8Array[] = [];
  #head = 0;
  #finished = false;
  #error: IoError | undefined;
  #waiters: (() => void)[] = [];
  #onConsume: ((bytes: number) => void) | undefined;

  constructor(onConsume?: (bytes: number) => void) {
    this.#onConsume = onConsume;
  }

  get finished(): boolean {
    return this.#finished && this.#head >= this.#chunks.length;
  }

  get error(): IoError | undefined {
    return this.#head >= this.#chunks.length ? this.#error : undefined;
  }

  push(chunk: Uint8Array): void {
    if (this.#finished || chunk.byteLength === 0) return;
    this.#chunks.push(chunk);
    this.#wake();
  }

  end(): void {
    this.#finished = true;
    this.#wake();
  }

  fail(message: string): void {
    this.#error = new IoError(message);
    this.#finished = true;
    this.#wake();
  }

  take(max: number): Uint8Array | null {
    if (this.#head >= this.#chunks.length || max <= 0) return null;
    const chunk = this.#chunks[this.#head] as Uint8Array;
    let out: Uint8Array;
    if (chunk.byteLength <= max) {
      out = chunk;
      this.#chunks[this.#head++] = EMPTY;
      if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
        this.#chunks.splice(0, this.#head);
        this.#head = 0;
      }
    } else {
      out = chunk.subarray(0, max);
      this.#chunks[this.#head] = chunk.subarray(max);
    }
    this.#onConsume?.(out.byteLength);
    return out;
  }

  ready(): boolean {
    return this.#head < this.#chunks.length || this.#finished;
  }

  wait(): Promise<void> {
    if (this.ready()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  close(): void {
    this.#onConsume = undefined;
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}

const EMPTY = new Uint8Array(0);

/** stdout/stderr of a component: complete lines go to the host log, each cut to a maximum length. */
export class LineSink extends ImmediateSink {
  readonly #emit: (line: string) => void;
  readonly #maxLine: number;
  readonly #decoder = new TextDecoder();
  #pending = '';
  readonly closed = false;
  readonly error = undefined;

  constructor(emit: (line: string) => void, maxLine: number) {
    super();
    this.#emit = emit;
    this.#maxLine = maxLine;
  }

  capacity(): number {
    return 1024 * 1024;
  }

  write(bytes: Uint8Array): void {
    this.#pending += this.#decoder.decode(bytes, { stream: true });
    let newline = this.#pending.indexOf('\n');
    while (newline !== -1) {
      this.#line(this.#pending.slice(0, newline));
      this.#pending = this.#pending.slice(newline + 1);
      newline = this.#pending.indexOf('\n');
    }
    if (this.#pending.length > this.#maxLine) {
      this.#line(this.#pending);
      this.#pending = '';
    }
  }

  #line(text: string): void {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text;
    this.#emit(line.length > this.#maxLine ? `${line.slice(0, this.#maxLine)}…` : line);
  }

  /** Emits a trailing partial line (at the end of a call). */
  finish(): void {
    if (this.#pending.length > 0) {
      this.#line(this.#pending);
      this.#pending = '';
    }
  }
}
