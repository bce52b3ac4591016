/**
 * What the channels of a wRPC call (wrpc-inbound.ts, wrpc-outbound.ts) need from the session that
 * owns them, and what they share with it. The channels see their session only through
 * `WrpcSessionPort`, so they need not import wrpc-streams.ts, which creates them: the imports point
 * one way, from the session to its channels to this module.
 */
import type { Limits, WitFuture, WitStream, WrpcAsyncValue, WrpcPath } from '@cirrus/protocol';
import type { LatticeConnection } from './port.ts';

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

/** A decoded stream: chunks in order (`Uint8Array` for `stream<u8>`), one reader; `return()` cancels. */
export interface WrpcStream<T = unknown> extends AsyncIterableIterator<T> {
  /** Stops reading: the sender is told to stop, and buffered bytes are dropped. */
  cancel(reason?: Error): void;
}

/** The session of a call, as its channels see it; `WrpcSession` (wrpc-streams.ts) is the one there is. */
export interface WrpcSessionPort {
  readonly conn: LatticeConnection;
  readonly limits: WrpcStreamLimits;
  /** Largest future value or stream chunk put together (wrpcMaxValueBytes). */
  readonly maxBytes: number;
  /** Where this side's incoming values arrive: `R.results` or `S.params`. */
  readonly inboundBase: string;
  /** Between Cirrus peers both sides take credit; a 1.x peer sends no window. */
  readonly credited: boolean;
  /** The peer knows where to send its values; until then nothing can arrive, so no sender is watched. */
  readonly announced: boolean;
  /** When the writers of this call last let the event loop run (see TURN_MS in wrpc-outbound.ts). */
  readonly lastTurn: number;
  /** Called by a reader before it waits for bytes (the server's held-back handshake). */
  readonly demand: () => void;
  /** The decoder's hook for nested streams and futures; a property, so it is passed on unbound. */
  readonly revive: (value: WrpcAsyncValue, type: WitStream | WitFuture) => unknown;
  /** An incoming channel is done with; typed by what is looked at, so it needs no InboundChannel. */
  released(channel: { readonly key: string }, err: Error | undefined): void;
  sendGrant(path: WrpcPath, total: number, probe: boolean): void;
  sendCancel(path: WrpcPath): void;
  turn(): Promise<void>;
}

export const now = (): number => Date.now();
export const keyOf = (path: WrpcPath): string =>
  path.length === 1 ? String(path[0]) : path.length === 2 ? `${path[0]}.${path[1]}` : path.join('.');

export function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
