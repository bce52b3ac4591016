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
 *
 * The session routes a call's messages and knows when its values have all ended; the bytes of one
 * subject are read in wrpc-inbound.ts and written in wrpc-outbound.ts. Those see the session only
 * through `WrpcSessionPort` (wrpc-session-port.ts), so they never import this module, which creates
 * them, and the imports point one way.
 */
import {
  DEFAULT_LIMITS,
  decodeWrpcValue,
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
  wrpcAsyncPaths,
  wrpcCreditSubject,
  wrpcGoneSubject,
  wrpcIndexSubject,
  wrpcPathMatches,
  wrpcStreamEnd,
  wrpcSubjectPath,
  witTypeToString,
} from '@cirrus/protocol';
import type { WitFuture, WitStream, WitType, WrpcAsyncValue, WrpcDeferred, WrpcPath } from '@cirrus/protocol';
import { EMPTY } from './codec.ts';
import type { LatticeConnection, Msg } from './port.ts';
import { InboundChannel, readyStream, StreamReader } from './wrpc-inbound.ts';
import { OutboundChannel } from './wrpc-outbound.ts';
import { concat, isArrayLike, keyOf, now } from './wrpc-session-port.ts';
import type { WrpcSessionPort, WrpcStreamLimits } from './wrpc-session-port.ts';

export type { WrpcStream, WrpcStreamLimits } from './wrpc-session-port.ts';

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
export class WrpcSession implements WrpcSessionPort {
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
  /** When the writers of this call last let the event loop run (see TURN_MS in wrpc-outbound.ts). */
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
