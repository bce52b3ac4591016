/**
 * The receiving half of a call's streams and futures: the bytes of one nested subject as they arrive,
 * and the `stream<T>` its consumer reads from them. A reader bounds what it holds and watches for a
 * sender that stalls or vanishes, so a slow consumer or a lost peer costs a window of memory and an
 * idle timeout, not more (the flow control in wrpc-streams.ts).
 */
import {
  decodeWrpcStreamChunks,
  LatticeClosedError,
  WrpcDecodeError,
  WrpcStreamCancelledError,
  WrpcStreamFailedError,
  WrpcStreamOverflowError,
  WrpcStreamStalledError,
  wrpcIndexSubject,
  WRPC_HEADER_STREAM_ERROR,
} from '@cirrus/protocol';
import type { WitType, WrpcPath } from '@cirrus/protocol';
import { EMPTY } from './codec.ts';
import type { Msg } from './port.ts';
import { concat, isArrayLike, keyOf, now } from './wrpc-session-port.ts';
import type { WrpcSessionPort, WrpcStream } from './wrpc-session-port.ts';

type InboundKind = 'unclaimed' | 'stream' | 'future';

/** The byte stream on one nested subject, as it arrives, for the one reader that decodes it. */
export class InboundChannel {
  readonly path: WrpcPath;
  readonly key: string;
  /** Futures wait as long as the sender is there; streams and unclaimed bytes stall. */
  kind: InboundKind = 'unclaimed';
  readonly #session: WrpcSessionPort;
  #queue: Uint8Array[] = [];
  #queued = 0;
  /** Bytes a reader gave back: the start of a value that follows another on this subject. */
  #front: Uint8Array | undefined;
  #eof = false;
  #peerError: string | undefined;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #taken = 0;
  #granted: number;
  #lastIn = now();
  #lastProbe = 0;
  #lastActivity = now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #released = false;

  constructor(session: WrpcSessionPort, path: WrpcPath) {
    this.#session = session;
    this.path = path;
    this.key = keyOf(path);
    this.#granted = session.limits.wrpcStreamWindowBytes;
    if (session.announced) this.#schedule();
  }

  /** Starts watching for a stalled or vanished sender (once the sender knows where to send). */
  watch(): void {
    if (this.#timer === undefined && !this.#released) this.#schedule();
  }

  get subject(): string {
    return wrpcIndexSubject(this.#session.inboundBase, this.path);
  }

  push(msg: Msg): void {
    if (this.#released || this.#eof) return;
    this.#lastIn = this.#lastActivity = now();
    if (msg.data.length === 0) {
      this.#eof = true;
      this.#peerError = msg.headers?.[WRPC_HEADER_STREAM_ERROR];
      this.#wakeReader();
      return;
    }
    // Kept as it arrived, not copied: adapters hand out a fresh buffer per message (nats.js a view of
    // the socket read it came in).
    this.#queue.push(msg.data);
    this.#queued += msg.data.length;
    const credited = this.#session.credited;
    const bound = credited
      ? this.#session.limits.wrpcStreamWindowBytes
      : this.#session.limits.wrpcStreamBufferMaxBytes;
    if (this.#queued > bound) {
      this.fail(
        new WrpcStreamOverflowError(
          `${this.subject}: ${this.#queued} bytes arrived that nobody has read, more than the ${bound}-byte ${credited ? 'window the sender was granted' : 'buffer for a sender that takes no credit'}`,
          {
            hint: credited
              ? 'the sender ignores wRPC flow control'
              : 'read the stream faster, or raise CIRRUS_LIMIT_WRPC_STREAM_BUFFER_MAX_BYTES',
          },
        ),
        true,
      );
      return;
    }
    this.#wakeReader();
  }

  /**
   * The next bytes, or null at the end of the subject (its empty message). A stream's reader reads
   * because its consumer asks (`demand`); a future's reads at once, whether its value is awaited or
   * not, so it does not count as asking.
   */
  async read(demand = true): Promise<Uint8Array | null> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure;
      const front = this.#front;
      if (front !== undefined) {
        this.#front = undefined;
        return front;
      }
      const next = this.#queue.shift();
      if (next !== undefined) {
        this.#queued -= next.length;
        this.#taken += next.length;
        this.#lastActivity = now();
        this.#grant();
        return next;
      }
      if (this.#eof) {
        if (this.#peerError !== undefined) {
          throw new WrpcStreamFailedError(`${this.subject}: the sender failed: ${this.#peerError}`);
        }
        return null;
      }
      this.#lastActivity = now();
      if (demand) this.#session.demand();
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Gives back bytes read too far: they start the next value on this subject. */
  unread(bytes: Uint8Array): void {
    if (bytes.length > 0) this.#front = bytes;
  }

  /** The reader has all it needs (the end of a stream, a future's value); the rest is dropped. */
  finish(): void {
    this.#release(undefined);
  }

  /**
   * The call ended without reading (all of) this value. When its sender has sent all of it, or was
   * never told where to send it (`quietly`), what is left is dropped without a word; otherwise the
   * sender is told to stop.
   */
  dropUnread(quietly: boolean): void {
    if (this.#released) return;
    if (this.#eof || quietly) {
      this.#release(undefined);
      return;
    }
    this.fail(new WrpcStreamCancelledError(`${this.subject}: the call ended without reading it`), true);
  }

  /** Ends reading with `err`; with `tellSender`, a sender that takes credit is told to stop. */
  fail(err: Error, tellSender: boolean): void {
    if (this.#released) return;
    this.#failure = err;
    if (tellSender) this.#session.sendCancel(this.path);
    this.#release(err);
    this.#wakeReader();
  }

  #release(err: Error | undefined): void {
    if (this.#released) return;
    this.#released = true;
    clearTimeout(this.#timer);
    this.#queue = [];
    this.#queued = 0;
    this.#front = undefined;
    this.#session.released(this, err);
  }

  #wakeReader(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #grant(): void {
    if (!this.#session.credited) return;
    const window = this.#session.limits.wrpcStreamWindowBytes;
    const total = this.#taken + window;
    // Half a window at a time: one grant per message would double the message count.
    if (total - this.#granted >= window / 2) {
      this.#granted = total;
      this.#session.sendGrant(this.path, total, false);
    }
  }

  #schedule(): void {
    const { wrpcStreamIdleTimeoutMs: idle, wrpcStreamProbeIntervalMs: probe } = this.#session.limits;
    // At least every probe interval, to notice a closed connection.
    let due = now() + probe;
    if (this.kind !== 'future') due = Math.min(due, this.#lastActivity + idle);
    if (!this.#eof) due = Math.min(due, Math.max(this.#lastIn, this.#lastProbe) + probe);
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, due - now()));
  }

  #tick(): void {
    if (this.#released) return;
    const { wrpcStreamIdleTimeoutMs: idle, wrpcStreamProbeIntervalMs: probe } = this.#session.limits;
    const t = now();
    if (this.#session.conn.isClosed) {
      this.fail(new LatticeClosedError(`${this.subject}: the lattice connection closed mid-call`), false);
      return;
    }
    if (this.kind !== 'future' && t - this.#lastActivity >= idle) {
      this.fail(
        new WrpcStreamStalledError(
          this.#eof || this.#queued > 0
            ? `${this.subject}: nothing was read for ${idle} ms`
            : `${this.subject}: no bytes arrived for ${idle} ms`,
          {
            hint: 'the other side stopped producing or reading; raise CIRRUS_LIMIT_WRPC_STREAM_IDLE_TIMEOUT_MS if that is normal',
          },
        ),
        true,
      );
      return;
    }
    if (!this.#eof && t - Math.max(this.#lastIn, this.#lastProbe) >= probe) {
      this.#lastProbe = t;
      this.#session.sendGrant(this.path, this.#granted, true);
    }
    this.#schedule();
  }
}

/** A `stream<T>` read from its subject: chunks decoded as the consumer asks for them. */
export class StreamReader implements WrpcStream {
  readonly #session: WrpcSessionPort;
  readonly #channel: InboundChannel;
  readonly #element: WitType;
  readonly #bytes: boolean;
  #buffer: Uint8Array = EMPTY;
  /** `stream<u8>`: bytes of the current chunk still to come; they are passed on as they arrive. */
  #chunkLeft = 0;
  #decoded: unknown[] = [];
  #index = 0;
  #ended = false;
  #done = false;

  constructor(session: WrpcSessionPort, channel: InboundChannel, element: WitType) {
    this.#session = session;
    this.#channel = channel;
    this.#element = element;
    this.#bytes = element.kind === 'u8';
    channel.kind = 'stream';
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<unknown>> {
    if (this.#done) return { value: undefined, done: true };
    try {
      const value = this.#bytes ? await this.#nextBytes() : await this.#nextChunk();
      if (value === undefined) {
        this.#done = true;
        this.#channel.finish();
        return { value: undefined, done: true };
      }
      return { value, done: false };
    } catch (err) {
      this.#done = true;
      this.#channel.fail(err instanceof Error ? err : new Error(String(err)), true);
      throw err;
    }
  }

  return(): Promise<IteratorResult<unknown>> {
    this.cancel();
    return Promise.resolve({ value: undefined, done: true });
  }

  cancel(reason?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#channel.fail(
      reason ?? new WrpcStreamCancelledError(`${this.#channel.subject}: the reader stopped reading`),
      true,
    );
  }

  async #more(): Promise<void> {
    const next = await this.#channel.read();
    if (next === null) {
      throw new WrpcStreamFailedError(`${this.#channel.subject}: the stream ended before its last chunk`, {
        hint: 'the sender failed or went away mid-stream',
      });
    }
    this.#buffer = concat(this.#buffer, next);
  }

  async #nextBytes(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.#chunkLeft > 0) {
        if (this.#buffer.length === 0) await this.#more();
        const n = Math.min(this.#chunkLeft, this.#buffer.length);
        const out = this.#buffer.subarray(0, n);
        this.#buffer = this.#buffer.subarray(n);
        this.#chunkLeft -= n;
        return out;
      }
      const length = readChunkLength(this.#buffer, this.#channel.subject);
      if (length === undefined) {
        await this.#more();
        continue;
      }
      this.#buffer = this.#buffer.subarray(length.size);
      if (length.count === 0) {
        this.#expectEnd();
        return undefined;
      }
      this.#chunkLeft = length.count;
    }
  }

  async #nextChunk(): Promise<unknown> {
    for (;;) {
      if (this.#decoded.length > 0) return this.#decoded.shift();
      if (this.#ended) return undefined;
      if (this.#buffer.length > 0) {
        const r = decodeWrpcStreamChunks(this.#element, this.#buffer, {
          path: this.#channel.path,
          firstIndex: this.#index,
          maxValueBytes: this.#session.maxBytes,
          maxListLength: this.#session.limits.wrpcMaxListLength,
          revive: this.#session.revive,
          allowTrailing: true,
        });
        this.#decoded = r.chunks;
        this.#index += r.elementCount;
        this.#buffer = this.#buffer.subarray(r.bytesRead);
        if (r.done) {
          this.#ended = true;
          this.#expectEnd();
        }
        if (this.#decoded.length > 0 || this.#ended) continue;
      }
      if (this.#buffer.length > this.#session.maxBytes) {
        throw new WrpcDecodeError(
          `${this.#channel.subject}: a stream chunk of more than ${this.#session.maxBytes} bytes (wrpcMaxValueBytes)`,
          { details: { reason: 'limit' } },
        );
      }
      await this.#more();
    }
  }

  #expectEnd(): void {
    if (this.#buffer.length > 0) {
      throw new WrpcDecodeError(
        `${this.#channel.subject}: ${this.#buffer.length} bytes after the end of the stream`,
        { details: { reason: 'malformed' } },
      );
    }
  }
}

/** The LEB128 count that starts a chunk, or undefined when `bytes` ends inside it. */
function readChunkLength(bytes: Uint8Array, subject: string): { count: number; size: number } | undefined {
  let count = 0;
  let scale = 1;
  for (let i = 0; i < 5; i += 1) {
    if (i >= bytes.length) return undefined;
    const b = bytes[i] as number;
    if (i === 4 && b > 0x0f) break;
    count += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return { count, size: i + 1 };
    scale *= 0x80;
  }
  throw new WrpcDecodeError(`${subject}: a stream chunk length that is not a u32 LEB128`, {
    details: { reason: 'malformed' },
  });
}

/** A complete stream that travelled inline: its elements as one chunk. */
export function readyStream(items: unknown): WrpcStream {
  let pending = isArrayLike(items) && items.length > 0 ? [items] : [];
  const stream: WrpcStream = {
    [Symbol.asyncIterator]: () => stream,
    next: () => {
      const value = pending.shift();
      return Promise.resolve(value === undefined ? { value: undefined, done: true } : { value, done: false });
    },
    return: () => {
      pending = [];
      return Promise.resolve({ value: undefined, done: true });
    },
    cancel: () => {
      pending = [];
    },
  };
  return stream;
}
