/**
 * Pending streams and futures of a wRPC call (§4.3–4.4 of the 1.x protocol, wrpc-transport-nats
 * 0.28/0.29): a value that is not complete when the call starts travels as `0x00` in the parameters
 * or results, and its contents follow as a byte stream on its own subject, `S.params.<path>` for a
 * parameter, `R.results.<path>` for a result. A stream's contents are chunks (an element count, then
 * the elements) ending with an empty chunk; a future's are its value. Either subject then gets an
 * empty message. Message boundaries mean nothing: a chunk may span messages and a message hold many.
 *
 * One `WrpcSession` per call and side holds the subjects of its values: it hands decoded values out
 * as live objects (an async iterable of chunks for a stream, a promise for a future) and pumps the
 * async iterables and promises a caller gave into their subjects.
 *
 * Flow control (docs/adr/0007-wrpc-async-values.md): between Cirrus peers every subject has a window.
 * The reader grants credit on `<sender inbox>.credit.<path>` as its consumer takes bytes, and the
 * sender never has more than the window beyond the reader's last grant, so neither side holds more
 * than a window of a stream however slow the consumer. Against a 1.x peer, which knows no credit, a
 * sender flushes after every window of bytes (its buffer towards NATS stays bounded) and a reader
 * holds at most `wrpcStreamBufferMaxBytes` before failing the stream.
 */
import {
  DEFAULT_LIMITS,
  decodeWrpcCredit,
  decodeWrpcStreamChunks,
  decodeWrpcValue,
  describeError,
  encodeWrpcByteChunk,
  encodeWrpcCredit,
  encodeWrpcStreamChunk,
  encodeWrpcValue,
  isWrpcTruncated,
  LatticeClosedError,
  WrpcDecodeError,
  WrpcEncodeError,
  WrpcStreamCancelledError,
  WrpcStreamFailedError,
  WrpcStreamOverflowError,
  WrpcStreamStalledError,
  wrpcAsyncPaths,
  wrpcCreditSubject,
  wrpcGoneSubject,
  wrpcIndexSubject,
  wrpcPathMatches,
  wrpcStreamEnd,
  wrpcSubjectPath,
  witTypeToString,
  WRPC_HEADER_STREAM_ERROR,
} from '@cirrus/protocol';
import type {
  Limits,
  WitFuture,
  WitStream,
  WitType,
  WrpcAsyncValue,
  WrpcDeferred,
  WrpcPath,
} from '@cirrus/protocol';
import { EMPTY } from './codec.ts';
import type { LatticeConnection, Msg } from './port.ts';

/** The limits a call's streams and futures obey; every one has a default in LIMIT_SPECS. */
export type WrpcStreamLimits = Pick<
  Limits,
  | 'wrpcStreamWindowBytes'
  | 'wrpcStreamBufferMaxBytes'
  | 'wrpcStreamIdleTimeoutMs'
  | 'wrpcStreamProbeIntervalMs'
  | 'wrpcHandshakeDelayMs'
  | 'wrpcMaxAsyncValues'
  | 'wrpcMaxListLength'
>;

export function wrpcStreamLimits(given: Partial<WrpcStreamLimits> = {}): WrpcStreamLimits {
  return {
    wrpcStreamWindowBytes: given.wrpcStreamWindowBytes ?? DEFAULT_LIMITS.wrpcStreamWindowBytes,
    wrpcStreamBufferMaxBytes: given.wrpcStreamBufferMaxBytes ?? DEFAULT_LIMITS.wrpcStreamBufferMaxBytes,
    wrpcStreamIdleTimeoutMs: given.wrpcStreamIdleTimeoutMs ?? DEFAULT_LIMITS.wrpcStreamIdleTimeoutMs,
    wrpcStreamProbeIntervalMs: given.wrpcStreamProbeIntervalMs ?? DEFAULT_LIMITS.wrpcStreamProbeIntervalMs,
    wrpcHandshakeDelayMs: given.wrpcHandshakeDelayMs ?? DEFAULT_LIMITS.wrpcHandshakeDelayMs,
    wrpcMaxAsyncValues: given.wrpcMaxAsyncValues ?? DEFAULT_LIMITS.wrpcMaxAsyncValues,
    wrpcMaxListLength: given.wrpcMaxListLength ?? DEFAULT_LIMITS.wrpcMaxListLength,
  };
}

/** A decoded stream: chunks in order (`Uint8Array` for `stream<u8>`), one reader; `return()` cancels. */
export interface WrpcStream<T = unknown> extends AsyncIterableIterator<T> {
  /** Stops reading: the sender is told to stop, and buffered bytes are dropped. */
  cancel(reason?: Error): void;
}

const now = (): number => Date.now();

/**
 * On the in-memory lattice deliveries are microtasks, so a producer that never waits for I/O and its
 * reader could keep the event loop from timers (deadlines included); writers give it a turn this often.
 */
const TURN_MS = 10;
const keyOf = (path: WrpcPath): string =>
  path.length === 1 ? String(path[0]) : path.length === 2 ? `${path[0]}.${path[1]}` : path.join('.');
const samePath = (a: WrpcPath, b: WrpcPath): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** A promise whose rejection nobody may be waiting for must not crash the process. */
function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** An error message short enough for a header on the message that ends a failed stream. */
function headerText(err: unknown): string {
  // Header values end at a line break; a long one would eat into max_payload.
  const text = describeError(err).replace(/[\r\n]+/g, ' ');
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

// --- receiving ----------------------------------------------------------------------------------

type InboundKind = 'unclaimed' | 'stream' | 'future';

/** The byte stream on one nested subject, as it arrives, for the one reader that decodes it. */
class InboundChannel {
  readonly path: WrpcPath;
  readonly key: string;
  /** Futures wait as long as the sender is there; streams and unclaimed bytes stall. */
  kind: InboundKind = 'unclaimed';
  readonly #session: WrpcSession;
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

  constructor(session: WrpcSession, path: WrpcPath) {
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
class StreamReader implements WrpcStream {
  readonly #session: WrpcSession;
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

  constructor(session: WrpcSession, channel: InboundChannel, element: WitType) {
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
function readyStream(items: unknown): WrpcStream {
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

// --- sending ------------------------------------------------------------------------------------

/** One nested subject written by this side: credit, pacing and the end of the stream. */
class OutboundChannel {
  readonly path: WrpcPath;
  readonly subject: string;
  readonly #session: WrpcSession;
  #sent = 0;
  #allowed: number;
  #unflushed = 0;
  #stopped: Error | undefined;
  #cancelledByPeer = false;
  #wake: (() => void) | undefined;
  #onStop: ((reason: Error) => void) | undefined;
  #ended = false;

  constructor(session: WrpcSession, path: WrpcPath, subject: string, window: number | undefined) {
    this.#session = session;
    this.path = path;
    this.subject = subject;
    this.#allowed = window ?? Number.POSITIVE_INFINITY;
  }

  get cancelledByPeer(): boolean {
    return this.#cancelledByPeer;
  }

  credit(payload: Uint8Array): void {
    const credit = decodeWrpcCredit(payload);
    if (credit === undefined) return;
    if (credit.kind === 'cancel') {
      this.#cancelledByPeer = true;
      this.stop(new WrpcStreamCancelledError(`${this.subject}: the reader stopped reading`));
    } else if (credit.total > this.#allowed) {
      this.#allowed = credit.total;
      this.#wakeWriter();
    }
  }

  /** Makes the writer's next step throw `reason` (the reader left, or the call was abandoned). */
  stop(reason: Error): void {
    if (this.#stopped !== undefined) return;
    this.#stopped = reason;
    this.#onStop?.(reason);
    this.#wakeWriter();
  }

  checkStopped(): void {
    if (this.#stopped !== undefined) throw this.#stopped;
  }

  /**
   * What `work` (the producer's next chunk, a future's value) gives, unless the channel is stopped
   * first: then the writer stops at once instead of when the producer next yields.
   */
  async unlessStopped<T>(work: Promise<T>): Promise<T> {
    this.checkStopped();
    const stopped = new Promise<never>((_, reject) => (this.#onStop = reject));
    try {
      return await Promise.race([work, stopped]);
    } finally {
      this.#onStop = undefined;
    }
  }

  async write(bytes: Uint8Array): Promise<void> {
    const maxPayload = this.#session.conn.maxPayload;
    const window = this.#session.limits.wrpcStreamWindowBytes;
    let at = 0;
    while (at < bytes.length) {
      this.checkStopped();
      const room = Math.min(maxPayload, bytes.length - at, this.#allowed - this.#sent);
      if (room <= 0) {
        await this.#credit();
        continue;
      }
      this.#session.conn.publish(this.subject, bytes.subarray(at, at + room));
      at += room;
      this.#sent += room;
      if (this.#allowed === Number.POSITIVE_INFINITY) {
        // A 1.x reader takes no credit: a flush after every window keeps the client's outgoing
        // buffer from growing past it when NATS is slower than the producer.
        this.#unflushed += room;
        if (this.#unflushed >= window) {
          this.#unflushed = 0;
          await this.#flush();
        }
      }
      if (now() - this.#session.lastTurn >= TURN_MS) await this.#session.turn();
    }
  }

  /** The empty message that ends the subject, or with `err` says why it ended early. */
  end(err?: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#cancelledByPeer) return;
    try {
      this.#session.conn.publish(
        this.subject,
        EMPTY,
        err === undefined ? {} : { headers: { [WRPC_HEADER_STREAM_ERROR]: headerText(err) } },
      );
    } catch (thrown) {
      if (!(thrown instanceof LatticeClosedError)) throw thrown;
    }
  }

  #wakeWriter(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #credit(): Promise<void> {
    const { wrpcStreamIdleTimeoutMs: idle, wrpcStreamProbeIntervalMs: probe } = this.#session.limits;
    const until = now() + idle;
    while (this.#allowed - this.#sent <= 0) {
      this.checkStopped();
      // A closed connection brings no credit: noticed within a probe interval, not at the deadline.
      if (this.#session.conn.isClosed) {
        throw new LatticeClosedError(`${this.subject}: the lattice connection closed mid-stream`);
      }
      const left = until - now();
      if (left <= 0) {
        throw new WrpcStreamStalledError(`${this.subject}: the reader granted no credit for ${idle} ms`, {
          hint: 'the reader stopped reading, or left the lattice',
        });
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, Math.min(left, probe));
      });
      clearTimeout(timer);
    }
  }

  async #flush(): Promise<void> {
    const idle = this.#session.limits.wrpcStreamIdleTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        this.#session.conn.flush(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new WrpcStreamStalledError(`${this.subject}: the lattice took no bytes for ${idle} ms`)),
            idle,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

// --- the call -----------------------------------------------------------------------------------

export interface WrpcSessionInit {
  readonly conn: LatticeConnection;
  /** This side's inbox: `R` for the invoker, `S` for the server. */
  readonly own: string;
  /** Where this side's incoming values arrive: `R.results` or `S.params`. */
  readonly inboundBase: string;
  /** The types of the incoming tuple (results or parameters), for the subjects values may arrive on. */
  readonly inboundTypes: readonly WitType[];
  readonly limits: WrpcStreamLimits;
  /** Largest future value or stream chunk put together (wrpcMaxValueBytes). */
  readonly maxBytes: number;
  /** A value this side sends failed (its producer threw, or it could not be encoded). */
  readonly onSendError?: (err: unknown, subject: string) => void;
  /** A reader of an incoming value waits for bytes for the first time (the server's held-back handshake). */
  readonly onDemand?: () => void;
  /**
   * The peer has not been told yet where to send its values (the server's held-back handshake): until
   * `announce`, nothing can arrive, so incoming values are not watched for a stalled sender.
   */
  readonly heldBack?: boolean;
}

/** The streams and futures of one call on one side; see the module comment. */
export class WrpcSession {
  readonly conn: LatticeConnection;
  readonly limits: WrpcStreamLimits;
  readonly maxBytes: number;
  readonly inboundBase: string;
  /** Aborted when the call is abandoned, or a value this side sends cannot be delivered. */
  readonly signal: AbortSignal;
  readonly #own: string;
  readonly #controller = new AbortController();
  readonly #patterns: (number | null)[][];
  readonly #onSendError: WrpcSessionInit['onSendError'];
  #peer: string | undefined;
  #outboundBase: string | undefined;
  #peerWindow: number | undefined;
  readonly #inbound = new Map<string, InboundChannel>();
  readonly #revived = new Map<string, unknown>();
  /** Subjects done with, so that what still arrives on them (their empty message) is dropped. */
  readonly #finished = new Map<string, Error | undefined>();
  #created = 0;
  readonly #outbound = new Map<string, OutboundChannel>();
  #sealed = false;
  #dropUnread: boolean | 'quietly' = false;
  #closed = false;
  #aborted: Error | undefined;
  #onClose: (() => void) | undefined;
  /** When the writers of this call last let the event loop run (see TURN_MS). */
  lastTurn = now();
  /** Called by a reader before it waits for bytes; see WrpcSessionInit.onDemand. */
  readonly demand: () => void;
  #announced: boolean;

  constructor(init: WrpcSessionInit) {
    this.conn = init.conn;
    this.limits = init.limits;
    this.maxBytes = init.maxBytes;
    this.inboundBase = init.inboundBase;
    this.signal = this.#controller.signal;
    this.#own = init.own;
    this.#patterns = wrpcAsyncPaths(init.inboundTypes);
    this.#onSendError = init.onSendError;
    this.demand = init.onDemand ?? (() => undefined);
    this.#announced = init.heldBack !== true;
  }

  /** The peer knows where to send its values; see WrpcSessionInit.heldBack. */
  get announced(): boolean {
    return this.#announced;
  }

  announce(): void {
    if (this.#announced) return;
    this.#announced = true;
    for (const channel of this.#inbound.values()) channel.watch();
  }

  /** Between Cirrus peers both sides take credit; a 1.x peer sends no window. */
  get credited(): boolean {
    return this.#peerWindow !== undefined;
  }

  /** The peer is known: its inbox, where this side's values go, and the window it offers. */
  connect(peer: string, outboundBase: string, peerWindow: number | undefined): void {
    this.#peer = peer;
    this.#outboundBase = outboundBase;
    this.#peerWindow = peerWindow;
  }

  /** Takes a message on this side's inbox below the root subjects; false when it is not one of ours. */
  route(msg: Msg): boolean {
    const inbound = wrpcSubjectPath(msg.subject, this.inboundBase);
    if (inbound !== undefined) {
      this.#deliver(inbound, msg);
      return true;
    }
    const credit = `${this.#own}.credit`;
    if (msg.subject === credit) {
      if (msg.data.length === 0) {
        this.abort(new WrpcStreamCancelledError('the peer abandoned the call'), false);
      }
      return true;
    }
    const credited = wrpcSubjectPath(msg.subject, credit);
    if (credited !== undefined) {
      this.#outbound.get(keyOf(credited))?.credit(msg.data);
      return true;
    }
    const gone = wrpcSubjectPath(msg.subject, `${this.#own}.gone`);
    if (gone !== undefined) {
      // Only a "no responders" status comes back on a probe's reply subject.
      const channel = this.#inbound.get(keyOf(gone));
      channel?.fail(
        new WrpcStreamFailedError(`${channel.subject}: the sender is no longer on the lattice`, {
          hint: 'the host or provider on the other side stopped or lost its connection mid-call',
        }),
        false,
      );
      return true;
    }
    return false;
  }

  #deliver(path: WrpcPath, msg: Msg): void {
    const key = keyOf(path);
    if (this.#finished.has(key)) return;
    let channel = this.#inbound.get(key);
    if (channel === undefined) {
      // Bytes may arrive before the value that names their subject is decoded (an element of a
      // stream whose chunk is still on its way); they wait, if the signature has a value there.
      if (!this.#patterns.some((p) => wrpcPathMatches(p, path))) return;
      if (this.#created >= this.limits.wrpcMaxAsyncValues || this.#aborted !== undefined) return;
      channel = this.#open(path);
    }
    channel.push(msg);
  }

  #open(path: WrpcPath): InboundChannel {
    this.#created += 1;
    const channel = new InboundChannel(this, path);
    this.#inbound.set(channel.key, channel);
    return channel;
  }

  released(channel: InboundChannel, err: Error | undefined): void {
    if (this.#inbound.get(channel.key) !== channel) return;
    this.#inbound.delete(channel.key);
    this.#finished.set(channel.key, err);
    this.#settle();
  }

  /**
   * The decoder's hook: each stream becomes an async iterable of chunks, each future a promise, whether
   * it travelled inline or follows on its subject.
   */
  readonly revive = (value: WrpcAsyncValue, type: WitStream | WitFuture): unknown => {
    if (value.tag === 'ready') {
      return type.kind === 'stream' ? readyStream(value.val) : handled(Promise.resolve(value.val));
    }
    const key = keyOf(value.path);
    if (this.#revived.has(key)) return this.#revived.get(key);
    let channel = this.#inbound.get(key);
    if (channel === undefined) {
      if (this.#created >= this.limits.wrpcMaxAsyncValues) {
        throw new WrpcDecodeError(
          `more than ${this.limits.wrpcMaxAsyncValues} pending streams and futures in one call (wrpcMaxAsyncValues)`,
          { details: { reason: 'limit' } },
        );
      }
      channel = this.#open(value.path);
      const early = this.#finished.get(key) ?? this.#aborted;
      if (early !== undefined) channel.fail(early, false);
      else if (this.#finished.has(key)) channel.finish();
    }
    const revived = this.#reader(channel, type);
    this.#revived.set(key, revived);
    return revived;
  };

  #reader(channel: InboundChannel, type: WitStream | WitFuture): unknown {
    if (type.kind === 'stream') return new StreamReader(this, channel, type.element);
    channel.kind = 'future';
    return handled(this.#readFuture(channel, type));
  }

  async #readFuture(channel: InboundChannel, type: WitFuture): Promise<unknown> {
    const inner = type.type;
    let buffer: Uint8Array = EMPTY;
    // A stream or future directly inside the value (future<stream<u8>>) has the future's own path:
    // its contents follow the value on this same subject.
    let follower: unknown;
    const revive = (value: WrpcAsyncValue, t: WitStream | WitFuture): unknown => {
      if (value.tag === 'pending' && samePath(value.path, channel.path)) {
        follower ??= this.#reader(channel, t);
        return follower;
      }
      return this.revive(value, t);
    };
    try {
      if (inner === undefined) {
        if ((await channel.read(false)) !== null) {
          throw new WrpcDecodeError(`${channel.subject}: bytes for a future without a value`, {
            details: { reason: 'malformed' },
          });
        }
        channel.finish();
        return undefined;
      }
      for (;;) {
        const next = await channel.read(false);
        if (next === null) {
          throw new WrpcStreamFailedError(`${channel.subject}: the future ended without its value`, {
            hint: 'the sender failed or went away before the value was ready',
          });
        }
        buffer = concat(buffer, next);
        try {
          const decoded = decodeWrpcValue(inner, buffer, {
            path: channel.path,
            allowTrailing: true,
            maxValueBytes: this.maxBytes,
            maxListLength: this.limits.wrpcMaxListLength,
            revive,
          });
          const rest = buffer.subarray(decoded.bytesRead);
          if (follower !== undefined) channel.unread(rest);
          else if (rest.length > 0) {
            throw new WrpcDecodeError(`${channel.subject}: ${rest.length} bytes after the future's value`, {
              details: { reason: 'malformed' },
            });
          } else channel.finish();
          return decoded.value;
        } catch (err) {
          if (!isWrpcTruncated(err)) throw err;
        }
      }
    } catch (err) {
      channel.fail(err instanceof Error ? err : new Error(String(err)), true);
      throw err;
    }
  }

  /** Sends the contents of a value the encoder left pending onto its subject. */
  send(deferred: WrpcDeferred): void {
    const base = this.#outboundBase;
    if (base === undefined) throw new Error('wRPC session: send before connect');
    const subject = wrpcIndexSubject(base, deferred.path);
    const channel = new OutboundChannel(this, deferred.path, subject, this.#peerWindow);
    this.#outbound.set(keyOf(deferred.path), channel);
    if (this.#aborted !== undefined) channel.stop(this.#aborted);
    void this.#pump(deferred, channel, true).finally(() => {
      if (this.#outbound.get(keyOf(deferred.path)) === channel) this.#outbound.delete(keyOf(deferred.path));
      this.#settle();
    });
  }

  async #pump(deferred: WrpcDeferred, channel: OutboundChannel, end: boolean): Promise<void> {
    try {
      if (deferred.type.kind === 'stream') await this.#pumpStream(deferred.type, deferred, channel);
      else await this.#pumpFuture(deferred.type, deferred, channel);
      if (end) channel.end();
    } catch (err) {
      if (end) channel.end(err);
      if (!channel.cancelledByPeer && this.#aborted === undefined) this.#onSendError?.(err, channel.subject);
      // The handler of a call whose results cannot all be delivered may as well stop.
      this.#controller.abort(err);
      if (!end) throw err;
    }
  }

  async #pumpStream(type: WitStream, deferred: WrpcDeferred, channel: OutboundChannel): Promise<void> {
    const value = deferred.value;
    const given =
      typeof value === 'object' &&
      value !== null &&
      !isArrayLike(value) &&
      (value as { tag?: unknown }).tag === 'ready'
        ? (value as { val?: unknown }).val
        : value;
    if (isArrayLike(given)) {
      // A complete stream the encoder could not inline: an empty one.
      if (given.length > 0) await this.#writeChunk(type, deferred.path, channel, given, 0);
    } else if (isAsyncIterable(given)) {
      const chunks = given[Symbol.asyncIterator]();
      let index = 0;
      try {
        for (;;) {
          const next = await channel.unlessStopped(chunks.next());
          if (next.done === true) break;
          index += await this.#writeChunk(type, deferred.path, channel, next.value, index);
        }
      } catch (err) {
        // The producer learns that nobody wants the rest; it may be busy, so it is not waited for.
        void Promise.resolve(chunks.return?.()).catch(() => {});
        throw err;
      }
    } else {
      throw new WrpcEncodeError(
        `${channel.subject}: a ${witTypeToString(type)} is sent from an async iterable of chunks or an array, not ${typeof given}`,
      );
    }
    channel.checkStopped();
    await channel.write(wrpcStreamEnd());
  }

  /** Writes one chunk the producer gave; returns its element count. */
  async #writeChunk(
    type: WitStream,
    path: WrpcPath,
    channel: OutboundChannel,
    chunk: unknown,
    index: number,
  ): Promise<number> {
    if (type.element.kind === 'u8') {
      if (!(chunk instanceof Uint8Array)) {
        throw new WrpcEncodeError(`${channel.subject}: a stream<u8> chunk must be a Uint8Array`);
      }
      // One message per piece: a chunk never waits for a later message to be complete.
      const piece = Math.max(1, this.conn.maxPayload - 5);
      for (let at = 0; at < chunk.length; at += piece) {
        channel.checkStopped();
        await channel.write(encodeWrpcByteChunk(chunk.subarray(at, at + piece)));
      }
      return chunk.length;
    }
    if (!isArrayLike(chunk)) {
      throw new WrpcEncodeError(`${channel.subject}: a ${witTypeToString(type)} chunk must be an array`);
    }
    // An empty chunk would end the stream on the wire.
    if (chunk.length === 0) return 0;
    const encoded = encodeWrpcStreamChunk(type.element, chunk, { path, firstIndex: index });
    await channel.write(encoded.bytes);
    for (const nested of encoded.deferred) this.send(nested);
    return chunk.length;
  }

  async #pumpFuture(type: WitFuture, deferred: WrpcDeferred, channel: OutboundChannel): Promise<void> {
    const value = deferred.value;
    if (!isThenable(value)) {
      throw new WrpcEncodeError(
        `${channel.subject}: a ${witTypeToString(type)} is sent from a promise or { tag: 'ready', val }`,
      );
    }
    const resolved = await channel.unlessStopped(Promise.resolve(value));
    if (type.type === undefined) return;
    const encoded = encodeWrpcValue(type.type, resolved, deferred.path);
    await channel.write(encoded.bytes);
    for (const nested of encoded.deferred) {
      if (samePath(nested.path, deferred.path)) await this.#pump(nested, channel, false);
      else this.send(nested);
    }
  }

  async turn(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.lastTurn = now();
  }

  sendGrant(path: WrpcPath, total: number, probe: boolean): void {
    const peer = this.#peer;
    if (peer === undefined || (!probe && !this.credited)) return;
    this.#publish(
      wrpcCreditSubject(peer, path),
      encodeWrpcCredit({ kind: 'grant', total }),
      probe ? wrpcGoneSubject(this.#own, path) : undefined,
    );
  }

  /**
   * Asks whether the server still holds the call, while its results are awaited: a grant on its
   * root credit subject, which it ignores, with `<own inbox>.gone` as the reply subject, which only
   * a "no responders" status reaches, once the server's inbox is gone. Only a Cirrus peer is probed.
   */
  probePeer(): void {
    const peer = this.#peer;
    if (peer === undefined || !this.credited || this.#aborted !== undefined) return;
    this.#publish(
      wrpcCreditSubject(peer, []),
      encodeWrpcCredit({ kind: 'grant', total: 0 }),
      `${this.#own}.gone`,
    );
  }

  sendCancel(path: WrpcPath): void {
    const peer = this.#peer;
    if (peer === undefined || !this.credited) return;
    this.#publish(wrpcCreditSubject(peer, path), encodeWrpcCredit({ kind: 'cancel' }), undefined);
  }

  /** A closed connection is noticed by the channels' own checks; a message lost to it is harmless. */
  #publish(subject: string, data: Uint8Array, reply: string | undefined): void {
    try {
      this.conn.publish(subject, data, reply === undefined ? {} : { reply });
    } catch (err) {
      if (!(err instanceof LatticeClosedError)) throw err;
    }
  }

  /**
   * Nothing new starts on this side but what the started values bring (elements' nested values);
   * `onClose` runs once every value in both directions has ended. With `dropUnread`, values the
   * peer still sends are cancelled once everything this side sends has ended (a served call whose
   * handler did not read all its parameters); `'quietly'` drops them without telling the peer, which
   * was never told where to send them.
   */
  seal(onClose: () => void, dropUnread: boolean | 'quietly' = false): void {
    this.#sealed = true;
    this.#onClose = onClose;
    this.#dropUnread = dropUnread;
    this.#settle();
  }

  /** Ends every value of the call with `reason`; with `tellPeer`, a Cirrus peer is told too. */
  abort(reason: Error, tellPeer: boolean): void {
    if (this.#aborted !== undefined || this.#closed) return;
    this.#aborted = reason;
    this.#controller.abort(reason);
    const peer = this.#peer;
    if (tellPeer && peer !== undefined && this.credited) {
      this.#publish(wrpcCreditSubject(peer, []), encodeWrpcCredit({ kind: 'cancel' }), undefined);
    }
    for (const channel of [...this.#inbound.values()]) channel.fail(reason, false);
    for (const channel of this.#outbound.values()) channel.stop(reason);
    this.#settle();
  }

  #settle(): void {
    if (!this.#sealed || this.#closed) return;
    if (this.#dropUnread && this.#outbound.size === 0 && this.#inbound.size > 0) {
      for (const channel of [...this.#inbound.values()]) channel.dropUnread(this.#dropUnread === 'quietly');
    }
    if (this.#inbound.size > 0 || this.#outbound.size > 0) return;
    this.#closed = true;
    this.#onClose?.();
  }
}
