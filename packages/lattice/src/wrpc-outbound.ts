/**
 * The sending half of a call's streams and futures: one nested subject this side writes. A writer
 * never gets ahead of its reader's credit, or of NATS when the reader is a 1.x peer that takes none,
 * so a slow reader costs a window of memory on this side, not more (the flow control in
 * wrpc-streams.ts).
 */
import {
  decodeWrpcCredit,
  describeError,
  LatticeClosedError,
  WrpcStreamCancelledError,
  WrpcStreamStalledError,
  WRPC_HEADER_STREAM_ERROR,
} from '@cirrus/protocol';
import type { WrpcPath } from '@cirrus/protocol';
import { EMPTY } from './codec.ts';
import { now } from './wrpc-session-port.ts';
import type { WrpcSessionPort } from './wrpc-session-port.ts';

/**
 * On the in-memory lattice deliveries are microtasks, so a producer that never waits for I/O and its
 * reader could keep the event loop from timers (deadlines included); writers give it a turn this often.
 */
const TURN_MS = 10;

/** An error message short enough for a header on the message that ends a failed stream. */
function headerText(err: unknown): string {
  // Header values end at a line break; a long one would eat into max_payload.
  const text = describeError(err).replace(/[\r\n]+/g, ' ');
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** One nested subject written by this side: credit, pacing and the end of the stream. */
export class OutboundChannel {
  readonly path: WrpcPath;
  readonly subject: string;
  readonly #session: WrpcSessionPort;
  #sent = 0;
  #allowed: number;
  #unflushed = 0;
  #stopped: Error | undefined;
  #cancelledByPeer = false;
  #wake: (() => void) | undefined;
  #onStop: ((reason: Error) => void) | undefined;
  #ended = false;

  constructor(session: WrpcSessionPort, path: WrpcPath, subject: string, window: number | undefined) {
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
