/**
 * nkeys (§5.1): Ed25519 identities written as base32 of `prefix ‖ key ‖ CRC16`. Public keys are 56
 * characters starting with the type letter; seeds are 58 characters starting with `S` and the type
 * letter. The codec is written here because nkeys.js knows only the NATS types (no `M` module or `V`
 * service keys, which wasmCloud adds); the Ed25519 and X25519 maths is nkeys.js's.
 *
 * A seed never leaves an `Nkey` by accident: it lives in a private field, and `toJSON`, string
 * conversion and Node's inspector show the public key only. `exportSeed()` is the one way out.
 */
import { fromCurveSeed, fromPublic, fromSeed } from '@nats-io/nkeys';
import { NkeyMalformedError, NkeyWrongTypeError } from './errors.ts';

export type NkeyType =
  'account' | 'module' | 'service' | 'server' | 'cluster' | 'operator' | 'user' | 'curve';

/** The letter each type's keys start with (seeds: `S` then this letter). */
export const NKEY_LETTERS: Readonly<Record<NkeyType, string>> = {
  account: 'A',
  module: 'M',
  service: 'V',
  server: 'N',
  cluster: 'C',
  operator: 'O',
  user: 'U',
  curve: 'X',
};

export const NKEY_TYPES = Object.keys(NKEY_LETTERS) as NkeyType[];

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const SEED_LETTER = 'S';
const KEY_BYTES = 32;
const PUBLIC_KEY_CHARS = 56;
const SEED_CHARS = 58;

/** Any seed of any type, anywhere in a text: what must never show up in a log line or an event. */
export const NKEY_SEED_PATTERN = /S[AMVNCOUX][A-Z2-7]{56}/g;

/** The prefix byte of a type: its letter's base32 value in the top five bits. */
function prefixByte(type: NkeyType): number {
  return ALPHABET.indexOf(NKEY_LETTERS[type]) << 3;
}

function typeOfPrefix(byte: number): NkeyType | undefined {
  return NKEY_TYPES.find((t) => prefixByte(t) === byte);
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) {
    crc ^= b << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const b of bytes) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** Strict: only the alphabet, and the unused low bits of the last character must be zero. */
function base32Decode(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let pos = 0;
  for (const ch of text) {
    const value = ALPHABET.indexOf(ch);
    if (value < 0) return undefined;
    buffer = (buffer << 5) | value;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[pos++] = (buffer >>> bits) & 0xff;
    }
    buffer &= (1 << bits) - 1;
  }
  return buffer === 0 ? out : undefined;
}

function withChecksum(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.byteLength + 2);
  out.set(payload);
  const crc = crc16(payload);
  out[payload.byteLength] = crc & 0xff;
  out[payload.byteLength + 1] = crc >>> 8;
  return out;
}

function encodePublic(type: NkeyType, raw: Uint8Array): string {
  const payload = new Uint8Array(1 + KEY_BYTES);
  payload[0] = prefixByte(type);
  payload.set(raw, 1);
  return base32Encode(withChecksum(payload));
}

function encodeSeed(type: NkeyType, raw: Uint8Array): string {
  const prefix = prefixByte(type);
  const payload = new Uint8Array(2 + KEY_BYTES);
  payload[0] = (ALPHABET.indexOf(SEED_LETTER) << 3) | (prefix >>> 5);
  payload[1] = (prefix & 31) << 3;
  payload.set(raw, 2);
  return base32Encode(withChecksum(payload));
}

/** The payload of an encoded key with a valid checksum, or undefined. */
function decodeChecked(text: string, chars: number): Uint8Array | undefined {
  if (text.length !== chars) return undefined;
  const raw = base32Decode(text);
  if (raw === undefined || raw.byteLength < 3) return undefined;
  const payload = raw.subarray(0, raw.byteLength - 2);
  const crc = (raw[raw.byteLength - 2] as number) | ((raw[raw.byteLength - 1] as number) << 8);
  return crc16(payload) === crc ? payload : undefined;
}

function expectedTypes(expected: NkeyType | readonly NkeyType[] | undefined): readonly NkeyType[] {
  if (expected === undefined) return NKEY_TYPES;
  return typeof expected === 'string' ? [expected] : expected;
}

function describeTypes(types: readonly NkeyType[]): string {
  return types.map((t) => `${t} (${NKEY_LETTERS[t]}…)`).join(' or ');
}

function checkType(type: NkeyType, expected: readonly NkeyType[], what: string): void {
  if (!expected.includes(type)) {
    throw new NkeyWrongTypeError(`${what} is a ${type} key, expected ${describeTypes(expected)}`, {
      hint: `generate one with: cirrus keys gen ${expected[0] ?? 'account'}`,
    });
  }
}

export interface NkeyPublic {
  readonly type: NkeyType;
  readonly publicKey: string;
  /** The 32 bytes of the Ed25519 (or X25519, for curve keys) public key. */
  readonly raw: Uint8Array;
}

/**
 * Decodes and checks a public key (type letter, length, base32, checksum). `what` names it in errors
 * (e.g. `--allowed-issuer`); the key itself is public and may be quoted.
 */
export function parsePublicKey(
  key: string,
  expected?: NkeyType | readonly NkeyType[],
  what = 'the key',
): NkeyPublic {
  const payload = typeof key === 'string' ? decodeChecked(key, PUBLIC_KEY_CHARS) : undefined;
  const type = payload === undefined ? undefined : typeOfPrefix(payload[0] as number);
  if (payload === undefined || type === undefined) {
    throw new NkeyMalformedError(`${what} ${JSON.stringify(String(key))} is not a valid public nkey`, {
      hint: 'a public nkey is 56 characters of A–Z and 2–7 starting with its type letter, e.g. A… for an account',
    });
  }
  checkType(type, expectedTypes(expected), `${what} ${key}`);
  return { type, publicKey: key, raw: payload.slice(1) };
}

/** Whether `key` is a well-formed public key (of `type`, when given). */
export function isPublicKey(key: unknown, type?: NkeyType): key is string {
  if (typeof key !== 'string') return false;
  try {
    parsePublicKey(key, type);
    return true;
  } catch {
    return false;
  }
}

const SIGNING_AS: NkeyType = 'account';

/** Verifies an Ed25519 signature made by the seed of `publicKey` (any type but curve). */
export function verifyNkeySignature(publicKey: string, data: Uint8Array, signature: Uint8Array): boolean {
  const key = parsePublicKey(publicKey);
  if (key.type === 'curve' || signature.byteLength !== 64) return false;
  // nkeys.js accepts only NATS types; the Ed25519 check does not depend on the prefix.
  return fromPublic(encodePublic(SIGNING_AS, key.raw)).verify(data, signature);
}

const encoder = new TextEncoder();

/** A key pair. The seed stays inside; see the module comment. */
export class Nkey {
  readonly type: NkeyType;
  readonly publicKey: string;
  readonly #seed: string;
  readonly #raw: Uint8Array;

  private constructor(type: NkeyType, raw: Uint8Array) {
    this.type = type;
    this.#raw = raw;
    this.#seed = encodeSeed(type, raw);
    if (type === 'curve') {
      this.publicKey = fromCurveSeed(encoder.encode(this.#seed)).getPublicKey();
    } else {
      const asAccount = fromSeed(encoder.encode(encodeSeed(SIGNING_AS, raw))).getPublicKey();
      this.publicKey = encodePublic(type, parsePublicKey(asAccount).raw);
    }
  }

  /** A new random key of `type`. */
  static create(type: NkeyType): Nkey {
    if (!NKEY_TYPES.includes(type)) {
      throw new NkeyWrongTypeError(`unknown key type ${JSON.stringify(type)}`, {
        hint: `one of: ${NKEY_TYPES.join(', ')}`,
      });
    }
    return new Nkey(type, crypto.getRandomValues(new Uint8Array(KEY_BYTES)));
  }

  /**
   * Decodes a seed (surrounding whitespace is ignored, as in a seed file). Errors name `what`, never
   * the seed.
   */
  static fromSeed(seed: string, expected?: NkeyType | readonly NkeyType[], what = 'the seed'): Nkey {
    const text = typeof seed === 'string' ? seed.trim() : '';
    const payload = text.startsWith(SEED_LETTER) ? decodeChecked(text, SEED_CHARS) : undefined;
    const prefix =
      payload === undefined
        ? undefined
        : (((payload[0] as number) & 7) << 5) | ((payload[1] as number) >>> 3);
    const type = prefix === undefined ? undefined : typeOfPrefix(prefix);
    if (payload === undefined || type === undefined || (payload[1] as number) & 7) {
      throw new NkeyMalformedError(`${what} is not a valid nkey seed`, {
        hint: 'a seed is 58 characters starting with S and its type letter (SA… for an account); create one with cirrus keys gen',
      });
    }
    checkType(type, expectedTypes(expected), what);
    return new Nkey(type, payload.slice(2));
  }

  /** Ed25519 signature of `data` (64 bytes). Curve keys cannot sign. */
  sign(data: Uint8Array): Uint8Array {
    if (this.type === 'curve') {
      throw new NkeyWrongTypeError('a curve (X…) key cannot sign', { hint: 'sign with an account key' });
    }
    return fromSeed(encoder.encode(encodeSeed(SIGNING_AS, this.#raw))).sign(data);
  }

  /** The seed, for writing to a key file. Everything else shows the public key only. */
  exportSeed(): string {
    return this.#seed;
  }

  /**
   * The 32 bytes of the Ed25519 private seed, for a native implementation where signing is hot
   * (node:crypto signs in tens of µs, the pure JavaScript one here in milliseconds).
   */
  exportSeedBytes(): Uint8Array {
    return this.#raw.slice();
  }

  toJSON(): { type: NkeyType; publicKey: string } {
    return { type: this.type, publicKey: this.publicKey };
  }

  toString(): string {
    return this.publicKey;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `Nkey(${this.type} ${this.publicKey})`;
  }
}

/** The type a letter stands for (`A` → account), or undefined. */
export function nkeyTypeOfLetter(letter: string): NkeyType | undefined {
  return NKEY_TYPES.find((t) => NKEY_LETTERS[t] === letter);
}
