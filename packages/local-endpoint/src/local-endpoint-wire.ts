/**
 * What the local endpoint writes to NATS clients (INFO, MSG, HMSG, -ERR, …) and the NATS header block
 * in both directions. Header blocks are `NATS/1.0[ status]\r\n` followed by `Name: value\r\n` lines
 * and an empty line.
 */
import type { MsgHeaders } from '@cirrus/lattice';
import { ProtocolViolation, WIRE } from './local-endpoint-parser.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const CRLF: Uint8Array = encoder.encode('\r\n');
export const PING: Uint8Array = encoder.encode('PING\r\n');
export const PONG: Uint8Array = encoder.encode('PONG\r\n');
export const OK: Uint8Array = encoder.encode('+OK\r\n');

const HEADER_PREFIX = 'NATS/1.0';
/** A header name as nats.js and nats-server accept it: printable ASCII without `:` or blanks. */
const HEADER_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
const LINE_BREAKS = /[\r\n]+/g;

export function errLine(message: string): Uint8Array {
  return encoder.encode(`-ERR '${message}'\r\n`);
}

export function infoLine(info: Readonly<Record<string, unknown>>): Uint8Array {
  return encoder.encode(`INFO ${JSON.stringify(info)}\r\n`);
}

/**
 * Reads an HPUB header block into the lattice's one-value-per-name form. A repeated name keeps its
 * first value, as the NATS adapter does, so a message looks the same whichever way it came in. A
 * status on the first line (`NATS/1.0 503`) has no place in the lattice message and is dropped.
 */
export function parseHeaderBlock(block: Uint8Array): MsgHeaders {
  const lines = decoder.decode(block).split('\r\n');
  if (!(lines[0] ?? '').startsWith(HEADER_PREFIX)) {
    throw new ProtocolViolation(WIRE.parser, 'header block does not start with NATS/1.0');
  }
  const headers: Record<string, string> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.length === 0) continue;
    const colon = line.indexOf(':');
    const name = colon <= 0 ? '' : line.slice(0, colon);
    if (!HEADER_NAME.test(name)) {
      throw new ProtocolViolation(WIRE.parser, `malformed header line ${JSON.stringify(line.slice(0, 64))}`);
    }
    if (!Object.hasOwn(headers, name)) headers[name] = line.slice(colon + 1).trim();
  }
  return headers;
}

/**
 * Writes lattice headers as a header block. In-process publishers are not held to NATS's rules, so a
 * name a NATS client would reject is left out and line breaks in a value become spaces: either would
 * otherwise corrupt the block for the client.
 */
export function headerBlock(headers: MsgHeaders | undefined, status?: string): Uint8Array {
  let text = status === undefined ? `${HEADER_PREFIX}\r\n` : `${HEADER_PREFIX} ${status}\r\n`;
  if (headers !== undefined) {
    for (const [name, value] of Object.entries(headers)) {
      if (!HEADER_NAME.test(name)) continue;
      text += `${name}: ${String(value).replace(LINE_BREAKS, ' ')}\r\n`;
    }
  }
  return encoder.encode(`${text}\r\n`);
}

/** The control line of a MSG (no header block) or HMSG delivery; the payload and CRLF follow it. */
export function msgLine(
  subject: string,
  sid: string,
  reply: string | undefined,
  headerBytes: number | undefined,
  payloadBytes: number,
): Uint8Array {
  const replyPart = reply === undefined ? '' : ` ${reply}`;
  return encoder.encode(
    headerBytes === undefined
      ? `MSG ${subject} ${sid}${replyPart} ${payloadBytes}\r\n`
      : `HMSG ${subject} ${sid}${replyPart} ${headerBytes} ${headerBytes + payloadBytes}\r\n`,
  );
}
