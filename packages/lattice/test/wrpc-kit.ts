/**
 * Shared pieces of the wRPC stream and HTTP suites: the lattice under test, retained-memory samples,
 * and test bodies whose every byte is checked.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { LatticeConnection } from '../src/index.ts';

export interface WrpcTarget {
  connect(): Promise<LatticeConnection>;
  teardown(): Promise<void>;
  /** Subscriptions left on the lattice (the in-memory one can tell): calls must leave none behind. */
  subscriptionCount?: () => number;
}

/** A lattice for one suite; `maxPayload` asks for a smaller max_payload than the default. */
export type WrpcSetup = (options: { maxPayload?: number }) => Promise<WrpcTarget>;

export const KiB = 1024;
export const MiB = 1024 * KiB;

export const unique = (): string => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

export const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// A full collection before each sample, so that the samples measure what is held, not garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/**
 * JavaScript heap plus array buffers (where message bytes live) after full collections; the second
 * one waits for the array buffers the first freed, which are swept concurrently.
 */
export function retainedBytes(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** The most retained memory seen above a baseline taken when it was made. */
export class MemoryWatch {
  readonly #baseline = retainedBytes();
  #peak = 0;

  sample(): void {
    this.#peak = Math.max(this.#peak, retainedBytes() - this.#baseline);
  }

  get peak(): number {
    return this.#peak;
  }
}

export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(2)} MiB`;

/** Byte `i` of every test body, so that a lost, repeated or reordered byte is noticed. */
const patternByte = (i: number): number => (i * 31 + 7) & 0xff;

/**
 * A body of `size` bytes in fresh `chunk`-sized pieces, made as they are asked for; `produced`
 * counts what has been handed out, so a test can see how far the producer runs ahead.
 */
export class PatternBody implements AsyncIterable<Uint8Array> {
  produced = 0;
  finished = false;
  readonly #size: number;
  readonly #chunk: number;

  constructor(size: number, chunk = 64 * KiB) {
    this.#size = size;
    this.#chunk = chunk;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    try {
      while (this.produced < this.#size) {
        const n = Math.min(this.#chunk, this.#size - this.produced);
        const out = new Uint8Array(n);
        for (let i = 0; i < n; i += 1) out[i] = patternByte(this.produced + i);
        this.produced += n;
        yield out;
      }
    } finally {
      this.finished = true;
    }
  }
}

/** Checks a pattern body as it is read; `onProgress` runs after each chunk with the total so far. */
export async function readPattern(
  body: AsyncIterable<Uint8Array>,
  onProgress?: (total: number) => Promise<void> | void,
): Promise<number> {
  let total = 0;
  for await (const chunk of body) {
    for (let i = 0; i < chunk.length; i += 1) {
      if (chunk[i] !== patternByte(total + i)) throw new Error(`byte ${total + i} of the body is wrong`);
    }
    total += chunk.length;
    await onProgress?.(total);
  }
  return total;
}

/** Reads everything into one array (small bodies). */
export async function readAll(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of body) parts.push(chunk);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
