/**
 * Worker side of one HTTP call: collects the guest's response and streams it to the host thread
 * under the flow control the two threads share in the instance's `flow` slots.
 */
import type { ErrorJSON } from '@cirrus/protocol';
import type { FromInstance, ResponseHead } from './worker-protocol.ts';
import { ChunkSource } from './wasi/buffers.ts';
import { CLOSED } from './wasi/io.ts';
import type { ByteSink, IoError } from './wasi/io.ts';
import type { HttpErrorCode, ResponseChannel } from './wasi/http.ts';
import { latin1Text } from './wasi/http.ts';

/** The instance a call belongs to, as the call sees it. */
export interface CallOwner {
  /** The instance's flow-control slots (see ACKED and CLIENT_GONE). */
  readonly flow: Int32Array;
  /** How many response bytes may be in flight to the host. */
  readonly windowBytes: number;
  /** The call the instance is running; only that one sends output. */
  readonly current: HttpCall | undefined;
  post(message: FromInstance, transfer?: ArrayBuffer[]): void;
}

export function errorJson(code: string, message: string, hint?: string): ErrorJSON {
  return hint === undefined ? { code, message } : { code, message, hint };
}

/** Large chunks move without a copy; small ones are cheaper to clone than to transfer. */
function transferables(chunks: readonly Uint8Array[]): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const c of chunks) {
    const buffer = c.buffer;
    if (
      c.byteLength >= TRANSFER_BYTES &&
      buffer instanceof ArrayBuffer &&
      c.byteOffset === 0 &&
      c.byteLength === buffer.byteLength
    ) {
      out.push(buffer);
    }
  }
  return out;
}

const FLUSH_BYTES = 64 * 1024;
const TRANSFER_BYTES = 64 * 1024;

/**
 * Response flow control shared with the host thread, per instance: slot 0 counts bytes the client
 * has taken (the host adds), slot 1 is set when the client went away. Both are reset by the host
 * per call.
 */
const ACKED = 0;
const CLIENT_GONE = 1;

/** One HTTP call: collects the response and streams it to the host thread with flow control. */
export class HttpCall implements ResponseChannel, ByteSink {
  readonly id: number;
  readonly body: ByteSink = this;
  readonly source: ChunkSource | undefined;
  readonly #instance: CallOwner;
  #head: ResponseHead | undefined;
  #headSent = false;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** Bytes posted to the host this call (wraps like the shared counter). */
  #sent = 0;
  #trailers: string[] | undefined;
  #ended = false;
  #failure: HttpErrorCode | undefined;
  #consumed = 0;
  #consumedScheduled = false;

  constructor(instance: CallOwner, id: number, hasBody: boolean) {
    this.#instance = instance;
    this.id = id;
    this.source = hasBody ? new ChunkSource((bytes) => this.#noteConsumed(bytes)) : undefined;
  }

  get #flow(): Int32Array {
    return this.#instance.flow;
  }

  get closed(): boolean {
    return Atomics.load(this.#flow, CLIENT_GONE) !== 0;
  }

  get error(): IoError | undefined {
    return undefined;
  }

  head(status: number, headers: readonly [string, Uint8Array][]): void {
    const flat: string[] = [];
    for (const [name, value] of headers) flat.push(name, latin1Text(value));
    this.#head = { status, headers: flat };
  }

  end(trailers: readonly [string, Uint8Array][] | undefined): void {
    this.#ended = true;
    if (trailers !== undefined && trailers.length > 0) {
      this.#trailers = trailers.flatMap(([n, v]) => [n, latin1Text(v)]);
    }
  }

  fail(code: HttpErrorCode): void {
    this.#failure = code;
  }

  #unacked(): number {
    return (this.#sent - Atomics.load(this.#flow, ACKED)) | 0;
  }

  capacity(): number {
    return Math.max(0, this.#instance.windowBytes - this.#unacked() - this.#pendingBytes);
  }

  write(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.#pending.push(bytes);
    this.#pendingBytes += bytes.byteLength;
    if (this.#pendingBytes >= FLUSH_BYTES) this.flush();
  }

  blockUntilWritable(): void {
    this.flush();
    const flow = this.#flow;
    while (this.capacity() === 0 && !this.closed) Atomics.wait(flow, ACKED, Atomics.load(flow, ACKED), 1000);
    if (this.closed) throw CLOSED;
  }

  blockUntilDrained(): void {
    this.flush();
    const flow = this.#flow;
    while (this.#unacked() !== 0 && !this.closed) Atomics.wait(flow, ACKED, Atomics.load(flow, ACKED), 1000);
  }

  ready(): boolean {
    return this.capacity() > 0 || this.closed;
  }

  async wait(): Promise<void> {
    const flow = this.#flow;
    const result = Atomics.waitAsync(flow, ACKED, Atomics.load(flow, ACKED));
    if (result.async) await result.value;
  }

  /** Hands buffered output to the host thread now (once the response head is known). */
  flush(): void {
    if (this.#head === undefined || this.#instance.current !== this) return;
    if (this.#headSent && this.#pendingBytes === 0) return;
    const chunks = this.#takePending();
    const message: FromInstance = { t: 'out', id: this.id, chunks };
    if (!this.#headSent) {
      message.head = this.#head;
      this.#headSent = true;
    }
    for (const c of chunks) this.#sent = (this.#sent + c.byteLength) | 0;
    this.#instance.post(message, transferables(chunks));
  }

  #takePending(): Uint8Array[] {
    const chunks = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    return chunks;
  }

  #noteConsumed(bytes: number): void {
    this.#consumed += bytes;
    if (this.#consumedScheduled) return;
    this.#consumedScheduled = true;
    queueMicrotask(() => {
      this.#consumedScheduled = false;
      if (this.#instance.current !== this || this.#consumed === 0) return;
      this.#instance.post({ t: 'consumed', id: this.id, bytes: this.#consumed });
      this.#consumed = 0;
    });
  }

  /** Reports the outcome once the guest has returned. */
  complete(): void {
    if (this.#failure !== undefined) {
      const detail = this.#failure.val === undefined ? '' : ` (${JSON.stringify(this.#failure.val)})`;
      this.#instance.post({
        t: 'failed',
        id: this.id,
        fatal: false,
        error: errorJson('GUEST_TRAP', `component answered with error-code ${this.#failure.tag}${detail}`),
      });
      return;
    }
    if (this.#head === undefined) {
      this.#instance.post({
        t: 'failed',
        id: this.id,
        fatal: false,
        error: errorJson(
          'NO_RESPONSE',
          'component returned without setting a response',
          'call response-outparam.set before returning from handle',
        ),
      });
      return;
    }
    const chunks = this.#takePending();
    const message: FromInstance = { t: 'done', id: this.id, chunks };
    if (!this.#headSent) message.head = this.#head;
    if (this.#ended && this.#trailers !== undefined) message.trailers = this.#trailers;
    this.#instance.post(message, transferables(chunks));
  }
}
