/**
 * The server side of RFC 6455 framing: a parser of what clients send (masked frames, fragmented
 * messages, interleaved control frames) and the encoding of what the server sends (unmasked frames).
 *
 * Data frames are not buffered: their payload is unmasked and handed on as it arrives, since the NATS
 * protocol they carry is a byte stream whose own parser bounds what it holds. Only a frame header
 * (at most 14 bytes) and a control frame's payload (at most 125) are kept between `push` calls. The
 * frame size limit is checked from a frame's header, before any of its payload is read.
 */

/** Close codes (RFC 6455 section 7.4.1). */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  tooBig: 1009,
  internalError: 1011,
} as const;

const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;
const MAX_CONTROL_PAYLOAD = 125;
/** A close reason must fit in a control frame after the two bytes of the code. */
const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2;

/** A violation of the framing that ends the connection with `code` and `reason` in the close frame. */
export class WebSocketViolation extends Error {
  readonly code: number;

  constructor(code: number, reason: string) {
    super(reason);
    this.code = code;
  }
}

export interface FrameHandlers {
  /** Payload bytes of data frames (text or binary), unmasked, in order. */
  readonly data: (bytes: Uint8Array) => void;
  readonly ping: (payload: Uint8Array) => void;
  /** The client's close frame: its code (undefined when it gave none). */
  readonly close: (code: number | undefined) => void;
}

type Frame = {
  readonly opcode: number;
  readonly mask: Uint8Array;
  readonly length: number;
  /** Payload bytes read so far (also the position in the mask). */
  read: number;
  /** A control frame's payload, collected whole. */
  readonly control: Uint8Array | undefined;
};

/** Close codes a peer may send (RFC 6455 section 7.4); others are a protocol error. */
function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export class FrameParser {
  readonly #maxFrameBytes: number;
  readonly #handlers: FrameHandlers;
  readonly #header = new Uint8Array(14);
  #headerFilled = 0;
  #frame: Frame | undefined;
  /** A fragmented data message is open: only continuation frames (and control frames) may follow. */
  #inMessage = false;
  #stopped = false;

  constructor(maxFrameBytes: number, handlers: FrameHandlers) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#handlers = handlers;
  }

  /** Reads no more input (the connection is closing). */
  stop(): void {
    this.#stopped = true;
  }

  /** Parses `chunk`, which it may unmask in place; throws WebSocketViolation. */
  push(chunk: Uint8Array): void {
    let offset = 0;
    while (offset < chunk.length && !this.#stopped) {
      if (this.#frame === undefined) offset = this.#readHeader(chunk, offset);
      else offset = this.#readPayload(chunk, offset, this.#frame);
    }
  }

  #readHeader(chunk: Uint8Array, offset: number): number {
    const header = this.#header;
    let at = offset;
    const before = this.#headerFilled;
    while (this.#headerFilled < 2 && at < chunk.length) header[this.#headerFilled++] = chunk[at++] as number;
    if (this.#headerFilled < 2) return at;
    // Checked as soon as the first two bytes are in: a bad frame is refused without waiting for more.
    if (before < 2) this.#checkStart();
    const length7 = (header[1] as number) & 0x7f;
    const need = 2 + (length7 === 126 ? 2 : length7 === 127 ? 8 : 0) + 4;
    while (this.#headerFilled < need && at < chunk.length)
      header[this.#headerFilled++] = chunk[at++] as number;
    if (this.#headerFilled < need) return at;
    this.#startFrame(need);
    this.#headerFilled = 0;
    return at;
  }

  /** The rules the first two bytes of a frame can break. */
  #checkStart(): void {
    const first = this.#header[0] as number;
    const second = this.#header[1] as number;
    const opcode = first & 0x0f;
    // No extension is negotiated, so no reserved bit may be set.
    if ((first & 0x70) !== 0) throw new WebSocketViolation(CLOSE.protocolError, 'reserved bits set');
    if ((second & 0x80) === 0) throw new WebSocketViolation(CLOSE.protocolError, 'client frame not masked');
    if (opcode >= 0x8) {
      if (opcode !== OP.close && opcode !== OP.ping && opcode !== OP.pong) {
        throw new WebSocketViolation(CLOSE.protocolError, `unknown opcode ${opcode}`);
      }
      if ((first & 0x80) === 0) throw new WebSocketViolation(CLOSE.protocolError, 'fragmented control frame');
      if ((second & 0x7f) > MAX_CONTROL_PAYLOAD) {
        throw new WebSocketViolation(CLOSE.protocolError, 'control frame payload over 125 bytes');
      }
      return;
    }
    if (opcode !== OP.continuation && opcode !== OP.text && opcode !== OP.binary) {
      throw new WebSocketViolation(CLOSE.protocolError, `unknown opcode ${opcode}`);
    }
    if (opcode === OP.continuation && !this.#inMessage) {
      throw new WebSocketViolation(CLOSE.protocolError, 'continuation frame without a message');
    }
    if (opcode !== OP.continuation && this.#inMessage) {
      throw new WebSocketViolation(CLOSE.protocolError, 'new message inside a fragmented one');
    }
  }

  #startFrame(headerBytes: number): void {
    const header = this.#header;
    const fin = ((header[0] as number) & 0x80) !== 0;
    const opcode = (header[0] as number) & 0x0f;
    let length = (header[1] as number) & 0x7f;
    const view = new DataView(header.buffer, header.byteOffset, headerBytes);
    if (length === 126) length = view.getUint16(2);
    else if (length === 127) {
      const high = view.getUint32(2);
      if (high >= 0x80000000) throw new WebSocketViolation(CLOSE.protocolError, 'frame length out of range');
      length = high * 2 ** 32 + view.getUint32(6);
    }
    const control = opcode >= 0x8;
    if (!control) {
      if (length > this.#maxFrameBytes) {
        throw new WebSocketViolation(
          CLOSE.tooBig,
          `frame of ${length} bytes over the ${this.#maxFrameBytes}-byte limit`,
        );
      }
      this.#inMessage = !fin;
    }
    const frame: Frame = {
      opcode,
      mask: header.slice(headerBytes - 4, headerBytes),
      length,
      read: 0,
      control: control ? new Uint8Array(length) : undefined,
    };
    this.#frame = frame;
    if (length === 0) this.#endFrame(frame);
  }

  #readPayload(chunk: Uint8Array, offset: number, frame: Frame): number {
    const take = Math.min(frame.length - frame.read, chunk.length - offset);
    const piece = chunk.subarray(offset, offset + take);
    const { mask } = frame;
    for (let i = 0, m = frame.read; i < piece.length; i++, m++)
      piece[i] = (piece[i] as number) ^ (mask[m & 3] as number);
    if (frame.control === undefined) this.#handlers.data(piece);
    else frame.control.set(piece, frame.read);
    frame.read += take;
    if (frame.read === frame.length) this.#endFrame(frame);
    return offset + take;
  }

  #endFrame(frame: Frame): void {
    this.#frame = undefined;
    const payload = frame.control;
    if (payload === undefined) return;
    if (frame.opcode === OP.ping) this.#handlers.ping(payload);
    else if (frame.opcode === OP.close) {
      if (payload.length === 1) throw new WebSocketViolation(CLOSE.protocolError, 'close frame of one byte');
      const code = payload.length === 0 ? undefined : new DataView(payload.buffer).getUint16(0);
      if (code !== undefined && !isValidCloseCode(code)) {
        throw new WebSocketViolation(CLOSE.protocolError, `invalid close code ${code}`);
      }
      this.stop();
      this.#handlers.close(code);
    }
    // A pong answers nothing the server sent (liveness is the NATS protocol's PING): ignored.
  }
}

/** The header of an unmasked frame with FIN set. */
function frameHeader(opcode: number, length: number): Uint8Array {
  if (length < 126) return Uint8Array.of(0x80 | opcode, length);
  if (length < 0x10000) return Uint8Array.of(0x80 | opcode, 126, length >> 8, length & 0xff);
  const header = new Uint8Array(10);
  header[0] = 0x80 | opcode;
  header[1] = 127;
  const view = new DataView(header.buffer);
  view.setUint32(2, Math.floor(length / 2 ** 32));
  view.setUint32(6, length >>> 0);
  return header;
}

/** The header of one binary frame carrying `length` bytes (written before them). */
export function binaryFrameHeader(length: number): Uint8Array {
  return frameHeader(OP.binary, length);
}

export function pongFrame(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(2 + payload.length);
  frame.set(frameHeader(OP.pong, payload.length));
  frame.set(payload, 2);
  return frame;
}

/** A close frame; the reasons given here are ASCII, so cutting them to size cuts no character. */
export function closeFrame(code: number, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason).subarray(0, MAX_CLOSE_REASON);
  const frame = new Uint8Array(4 + text.length);
  frame.set(frameHeader(OP.close, 2 + text.length));
  new DataView(frame.buffer).setUint16(2, code);
  frame.set(text, 4);
  return frame;
}
