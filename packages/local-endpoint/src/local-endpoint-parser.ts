/**
 * A byte-level parser for what NATS clients send (the core client protocol: CONNECT, PING, PONG, PUB,
 * HPUB, SUB, UNSUB). TCP hands data over in arbitrary pieces, so the parser keeps its state between
 * `push` calls and never assumes that a line or a payload arrives whole. Every buffer it keeps is
 * bounded: a control line by `maxControlLine`, a payload by `maxPayload` (checked from the announced
 * size before a single payload byte is stored) and by the bytes that actually arrived: the buffer
 * grows with them, so a client announcing a large payload and sending little holds little.
 */

export type ClientOp =
  | { readonly kind: 'CONNECT'; readonly json: string }
  | { readonly kind: 'PING' }
  | { readonly kind: 'PONG' }
  | {
      readonly kind: 'PUB';
      readonly subject: string;
      readonly reply: string | undefined;
      /** The raw `NATS/1.0` header block of an HPUB; undefined for PUB. */
      readonly headers: Uint8Array | undefined;
      readonly payload: Uint8Array;
    }
  | {
      readonly kind: 'SUB';
      readonly subject: string;
      readonly queue: string | undefined;
      readonly sid: string;
    }
  | { readonly kind: 'UNSUB'; readonly sid: string; readonly max: number | undefined };

/**
 * A violation of the protocol that ends the connection. `wire` is the text nats-server sends in its
 * `-ERR '…'` for the same violation, so clients report it the way they would against a real server.
 */
export class ProtocolViolation extends Error {
  readonly wire: string;

  constructor(wire: string, detail?: string) {
    super(detail === undefined ? wire : `${wire}: ${detail}`);
    this.wire = wire;
  }
}

export const WIRE = {
  unknownOp: 'Unknown Protocol Operation',
  parser: 'Parser Error',
  controlLine: 'Maximum Control Line Exceeded',
  payload: 'Maximum Payload Violation',
  auth: 'Authorization Violation',
} as const;

export interface ParserLimits {
  /** Longest control line (the op and its arguments, without CRLF). */
  readonly maxControlLine: number;
  /** Largest PUB payload, or HPUB header block plus payload. */
  readonly maxPayload: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const DIGITS = /^[0-9]+$/;

type State =
  | { readonly name: 'line' }
  | {
      readonly name: 'payload';
      readonly subject: string;
      readonly reply: string | undefined;
      readonly headerBytes: number;
      /** The announced size. */
      readonly total: number;
      /** Grows with the bytes received, to `total`. */
      buffer: Uint8Array;
      filled: number;
    }
  | { readonly name: 'cr' | 'lf'; readonly op: ClientOp };

const decoder = new TextDecoder();

function isBlank(byte: number): boolean {
  return byte === SPACE || byte === TAB;
}

function splitArgs(text: string): string[] {
  return text.split(/[ \t]+/).filter((t) => t.length > 0);
}

/** nats-server's sizes are plain decimal digits; anything else (sign, exponent, hex) is a parse error. */
function parseSize(text: string | undefined): number {
  if (text === undefined || !DIGITS.test(text) || text.length > 15) {
    throw new ProtocolViolation(WIRE.parser, `bad size ${JSON.stringify(text)}`);
  }
  return Number(text);
}

export class ClientProtocolParser {
  /**
   * While true, any op other than CONNECT is an authorization violation (nats-server requires CONNECT
   * first when auth is on). Cleared by the first CONNECT; the session checks its token.
   */
  awaitingConnect = true;
  readonly #limits: ParserLimits;
  readonly #onOp: (op: ClientOp) => void;
  /** The control line read so far (bounded by maxControlLine plus a trailing CR). */
  readonly #line: Uint8Array;
  #lineLength = 0;
  #state: State = { name: 'line' };
  #stopped = false;

  constructor(limits: ParserLimits, onOp: (op: ClientOp) => void) {
    this.#limits = limits;
    this.#onOp = onOp;
    this.#line = new Uint8Array(limits.maxControlLine + 1);
  }

  /** Ends parsing: the rest of the current chunk and everything after it is ignored. */
  stop(): void {
    this.#stopped = true;
  }

  /**
   * Consumes one chunk of bytes, calling `onOp` for each complete operation in order. Throws
   * ProtocolViolation at the first violation; the parser is stopped after that.
   */
  push(chunk: Uint8Array): void {
    let i = 0;
    try {
      while (i < chunk.length && !this.#stopped) {
        const state = this.#state;
        switch (state.name) {
          case 'line':
            i = this.#readLine(chunk, i);
            break;
          case 'payload': {
            const take = Math.min(state.total - state.filled, chunk.length - i);
            if (state.filled + take > state.buffer.length) {
              // Doubling keeps the copies linear; the buffer stays within twice what arrived.
              const grown = new Uint8Array(
                Math.min(state.total, Math.max(state.filled + take, 2 * state.buffer.length)),
              );
              grown.set(state.buffer.subarray(0, state.filled));
              state.buffer = grown;
            }
            state.buffer.set(chunk.subarray(i, i + take), state.filled);
            state.filled += take;
            i += take;
            if (state.filled === state.total) this.#state = { name: 'cr', op: this.#publication(state) };
            break;
          }
          case 'cr':
          case 'lf': {
            const expected = state.name === 'cr' ? CR : LF;
            if (chunk[i] !== expected)
              throw new ProtocolViolation(WIRE.parser, 'payload not followed by CRLF');
            i++;
            if (state.name === 'cr') {
              this.#state = { name: 'lf', op: state.op };
            } else {
              this.#state = { name: 'line' };
              this.#onOp(state.op);
            }
            break;
          }
        }
      }
    } catch (err) {
      this.#stopped = true;
      throw err;
    }
  }

  /** Reads control-line bytes from `chunk` at `start`; returns where it stopped. */
  #readLine(chunk: Uint8Array, start: number): number {
    const newline = chunk.indexOf(LF, start);
    const end = newline === -1 ? chunk.length : newline;
    const room = this.#line.length - this.#lineLength;
    if (end - start > room) {
      throw new ProtocolViolation(WIRE.controlLine, `longer than ${this.#limits.maxControlLine} bytes`);
    }
    this.#line.set(chunk.subarray(start, end), this.#lineLength);
    this.#lineLength += end - start;
    if (newline === -1) return chunk.length;
    let length = this.#lineLength;
    if (length > 0 && this.#line[length - 1] === CR) length--;
    this.#lineLength = 0;
    if (length > this.#limits.maxControlLine) {
      throw new ProtocolViolation(WIRE.controlLine, `longer than ${this.#limits.maxControlLine} bytes`);
    }
    this.#controlLine(this.#line.subarray(0, length));
    return newline + 1;
  }

  #controlLine(bytes: Uint8Array): void {
    let opEnd = 0;
    while (opEnd < bytes.length && !isBlank(bytes[opEnd] as number)) opEnd++;
    const op = decoder.decode(bytes.subarray(0, opEnd)).toUpperCase();
    if (this.awaitingConnect && op !== 'CONNECT')
      throw new ProtocolViolation(WIRE.auth, `${op} before CONNECT`);
    const rest = decoder.decode(bytes.subarray(opEnd));
    switch (op) {
      case 'CONNECT':
        // The argument is JSON and may itself contain blanks: take the whole rest of the line.
        this.#onOp({ kind: 'CONNECT', json: rest.trim() });
        // Ops may be parsed before the CONNECT is handled; a refused CONNECT closes the connection
        // and nothing after it is handled.
        this.awaitingConnect = false;
        return;
      case 'PING':
        this.#onOp({ kind: 'PING' });
        return;
      case 'PONG':
        this.#onOp({ kind: 'PONG' });
        return;
      case 'PUB':
      case 'HPUB':
        this.#startPayload(op, splitArgs(rest));
        return;
      case 'SUB': {
        const args = splitArgs(rest);
        if (args.length !== 2 && args.length !== 3) {
          throw new ProtocolViolation(WIRE.parser, `SUB takes 2 or 3 arguments, got ${args.length}`);
        }
        const [subject, second, third] = args as [string, string, string | undefined];
        this.#onOp(
          third === undefined
            ? { kind: 'SUB', subject, queue: undefined, sid: second }
            : { kind: 'SUB', subject, queue: second, sid: third },
        );
        return;
      }
      case 'UNSUB': {
        const args = splitArgs(rest);
        if (args.length !== 1 && args.length !== 2) {
          throw new ProtocolViolation(WIRE.parser, `UNSUB takes 1 or 2 arguments, got ${args.length}`);
        }
        const [sid, max] = args as [string, string | undefined];
        this.#onOp({ kind: 'UNSUB', sid, max: max === undefined ? undefined : parseSize(max) });
        return;
      }
      default:
        throw new ProtocolViolation(WIRE.unknownOp, JSON.stringify(op.slice(0, 16)));
    }
  }

  #startPayload(op: 'PUB' | 'HPUB', args: string[]): void {
    const sizes = op === 'PUB' ? 1 : 2;
    if (args.length !== sizes + 1 && args.length !== sizes + 2) {
      throw new ProtocolViolation(WIRE.parser, `${op} takes ${sizes + 1} or ${sizes + 2} arguments`);
    }
    const subject = args[0] as string;
    const reply = args.length === sizes + 2 ? args[1] : undefined;
    const total = parseSize(args[args.length - 1]);
    const headerBytes = op === 'HPUB' ? parseSize(args[args.length - 2]) : 0;
    if (headerBytes > total) throw new ProtocolViolation(WIRE.parser, 'header size above total size');
    if (total > this.#limits.maxPayload) {
      throw new ProtocolViolation(WIRE.payload, `${total} bytes, limit ${this.#limits.maxPayload}`);
    }
    const state: State = {
      name: 'payload',
      subject,
      reply,
      // nats.js sends an empty header set as `HPUB … 0 n`, which nats-server takes as no headers.
      headerBytes: op === 'HPUB' && headerBytes > 0 ? headerBytes : -1,
      total,
      buffer: new Uint8Array(0),
      filled: 0,
    };
    this.#state = total === 0 ? { name: 'cr', op: this.#publication(state) } : state;
  }

  #publication(state: Extract<State, { name: 'payload' }>): ClientOp {
    const { buffer, headerBytes } = state;
    return {
      kind: 'PUB',
      subject: state.subject,
      reply: state.reply,
      headers: headerBytes < 0 ? undefined : buffer.subarray(0, headerBytes),
      // A copy, so a receiver that keeps the payload never holds the header bytes alive or sees them
      // through `.buffer`.
      payload: headerBytes < 0 ? buffer : buffer.slice(headerBytes),
    };
  }
}
