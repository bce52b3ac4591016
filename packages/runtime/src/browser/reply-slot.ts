/**
 * Where a browser worker blocked on a linked import reads the host's reply: a growable shared buffer
 * holding the encoded reply (value-codec.ts) behind its length. The host writes and then raises the
 * signal; the worker, woken, reads and empties the slot. One reply is in flight at a time, because
 * the worker is blocked on it.
 */
import type { ImportReply } from '../worker-protocol.ts';
import { decodeValue, encodeValue } from './value-codec.ts';

const HEADER_BYTES = 8;
const INITIAL_BYTES = 64 * 1024;

/**
 * A slot for replies of up to `maxBytes` encoded: no larger value could be lowered into the guest
 * anyway once it passes the guest's linear memory cap.
 */
export function createReplySlot(maxBytes: number): SharedArrayBuffer {
  const max = HEADER_BYTES + maxBytes;
  return new SharedArrayBuffer(Math.min(INITIAL_BYTES, max), { maxByteLength: max });
}

/** Host side; throws when the value cannot be encoded or is larger than the slot can grow. */
export function putReply(slot: SharedArrayBuffer, reply: ImportReply): void {
  const bytes = encodeValue(reply);
  const needed = HEADER_BYTES + bytes.byteLength;
  if (needed > slot.byteLength) {
    if (needed > slot.maxByteLength) {
      throw new RangeError(
        `the reply takes ${bytes.byteLength} bytes, more than an instance's memory cap allows`,
      );
    }
    slot.grow(needed);
  }
  new Uint8Array(slot, HEADER_BYTES, bytes.byteLength).set(bytes);
  // Length + 1, so that 0 means empty.
  Atomics.store(new Int32Array(slot, 0, 1), 0, bytes.byteLength + 1);
}

/** Worker side: the reply waiting in the slot, if any, which leaves it empty. */
export function takeReply(slot: SharedArrayBuffer): ImportReply | undefined {
  const header = new Int32Array(slot, 0, 1);
  const stored = Atomics.exchange(header, 0, 0);
  if (stored === 0) return undefined;
  // A copy, which the value keeps: the slot is overwritten by the next reply, and browsers decode
  // text from no view of a growable buffer.
  return decodeValue(new Uint8Array(slot, HEADER_BYTES, stored - 1).slice()) as ImportReply;
}
