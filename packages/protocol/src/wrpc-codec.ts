import { WrpcDecodeError, WrpcEncodeError } from './errors.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import type { WitFunction, WitType } from './wit-types.ts';
import { numericKind, U32_MAX, Writer } from './wrpc-values.ts';
import {
  compiledDecoder,
  compiledEncoder,
  compiledTupleDecoder,
  compiledTupleEncoder,
  DecodeState,
  MISS,
} from './wrpc-compiled.ts';
import type { EncodeState } from './wrpc-compiled.ts';
import { Decoder, encodeWith } from './wrpc-reference.ts';
import type {
  WrpcDecodedTuple,
  WrpcDecodedValue,
  WrpcDecodeOptions,
  WrpcDeferred,
  WrpcEncoded,
  WrpcPath,
} from './wrpc-values.ts';

/**
 * wRPC value encoding (the component-model value definition encoding used by wrpc-transport 0.28/0.29,
 * protocol `wrpc.0.0.1`): integers as LEB128 (`u8`/`s8` as one raw byte), floats little-endian,
 * strings and lists length-prefixed, discriminants as LEB128, flags as a little-endian bitmask.
 * Parameters and results travel as tuples: the encodings of the members, concatenated.
 *
 * JavaScript values follow jco's mapping so that values pass between a jco-transpiled component and
 * the lattice unchanged: `s64`/`u64` are bigints, other integers and floats numbers, `char` a
 * one-code-point string, records objects with camelCase keys, tuples arrays, lists of numbers typed
 * arrays (`list<u8>` → `Uint8Array`), variants `{ tag, val }` (no `val` when the case has no
 * payload), enums the case name, options `value | undefined` (nested options, which `undefined` could
 * not tell apart, as `{ tag: 'some', val }` / `{ tag: 'none' }`), results `{ tag: 'ok' | 'err', val }`,
 * flags an object of booleans with camelCase keys. Resource handles, which wRPC passes as opaque
 * bytes, are `Uint8Array`s.
 *
 * Streams and futures have two forms on the wire. Complete values travel inline (a non-empty list;
 * `0x01` + value). Pending ones are a single `0x00` whose contents follow on a nested subject named by
 * the value's index path (its position in the parameter/result tuple, then record field, tuple or
 * list element indices; variant, option and result payloads add no index). Decoding a pending value
 * yields `{ tag: 'pending', path }` and lists it in `deferred`, so a transport knows which nested
 * subject to read; encoding a value that is not complete lists it in `deferred` with the caller's
 * value, so a transport knows what to send there.
 *
 * Decoding is defensive: every read is bounds-checked, LEB128 longer than its type allows or with
 * bits beyond its width is rejected, lengths are checked against the remaining input before anything
 * is allocated, lists are capped by `wrpcMaxListLength`, invalid UTF-8 and unknown discriminants are
 * rejected. Failures are WRPC_DECODE_FAILED naming the value path and byte offset; `details.reason`
 * is `truncated` when more input would have been needed (a transport reading a stream incrementally
 * waits for more bytes then), `limit` or `malformed` otherwise.
 */

export type {
  WrpcAsyncValue,
  WrpcDecodedTuple,
  WrpcDecodedValue,
  WrpcDecodeFailure,
  WrpcDecodeOptions,
  WrpcDeferred,
  WrpcEncoded,
  WrpcPath,
  WrpcPending,
  WrpcReady,
} from './wrpc-values.ts';

/** True when decoding failed only because the input ended early (more bytes may complete it). */
export function isWrpcTruncated(err: unknown): boolean {
  return err instanceof WrpcDecodeError && err.details?.['reason'] === 'truncated';
}

// --- encoding ----------------------------------------------------------------------------------

export function encodeWrpcValue(type: WitType, value: unknown, path: WrpcPath = []): WrpcEncoded {
  return encodeFast(compiledEncoder(type), value, path) ?? encodeWith(path, '$', (e) => e.value(type, value));
}

/** Encodes values as a tuple (parameters or results); member `i` has index path `[...path, i]`. */
export function encodeWrpcTuple(
  types: readonly WitType[],
  values: readonly unknown[],
  path: WrpcPath = [],
): WrpcEncoded {
  return (
    encodeFast(tupleCodec(types).encode, values, path) ?? encodeWith(path, '$', (e) => e.tuple(types, values))
  );
}

/** Encodes call arguments; error paths name the parameters. */
export function encodeWrpcParams(fn: WitFunction, args: readonly unknown[]): WrpcEncoded {
  const fast = encodeFast(functionCodec(fn).params.encode, args, []);
  if (fast !== undefined) return fast;
  return encodeWith([], fn.name, (e) =>
    e.tuple(
      fn.params.map((p) => p.type),
      args,
      fn.params.map((p) => p.name),
    ),
  );
}

export function encodeWrpcResults(fn: WitFunction, results: readonly unknown[]): WrpcEncoded {
  return (
    encodeFast(functionCodec(fn).results.encode, results, []) ??
    encodeWith([], `${fn.name} result`, (e) => e.tuple(fn.results, results))
  );
}

/**
 * One chunk of a pending stream, for its nested subject: the count and the elements. Element `i`
 * of the chunk is element `firstIndex + i` of the stream (nested values in it are indexed so). An
 * empty `items` is the end-of-stream chunk.
 */
export function encodeWrpcStreamChunk(
  element: WitType,
  items: ArrayLike<unknown>,
  opts: { readonly path?: WrpcPath; readonly firstIndex?: number } = {},
): WrpcEncoded {
  const first = opts.firstIndex ?? 0;
  return encodeWith(opts.path ?? [], '$', (e) => {
    e.out.uleb(items.length);
    if (numericKind(element) === 'u8' && items instanceof Uint8Array) {
      e.out.bytes(items);
      return;
    }
    for (let i = 0; i < items.length; i += 1) e.chunkElement(element, items[i], first + i);
  });
}

/**
 * One chunk of a pending `stream<u8>`: the byte count as LEB128, then the bytes, in one allocation
 * (the general encoder's growing buffer would copy a large chunk several times). `bytes` must not be
 * empty: an empty chunk ends the stream.
 */
export function encodeWrpcByteChunk(bytes: Uint8Array): Uint8Array {
  if (bytes.length === 0 || bytes.length > U32_MAX) {
    throw new WrpcEncodeError(`a stream<u8> chunk holds 1 to ${U32_MAX} bytes, got ${bytes.length}`);
  }
  let header = 1;
  for (let n = bytes.length; n >= 0x80; n = Math.floor(n / 0x80)) header += 1;
  const out = new Uint8Array(header + bytes.length);
  let n = bytes.length;
  for (let i = 0; i < header - 1; i += 1) {
    out[i] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  out[header - 1] = n;
  out.set(bytes, header);
  return out;
}

/** The end-of-stream chunk of a pending stream (an empty list): one `0x00` byte. */
export function wrpcStreamEnd(): Uint8Array {
  return Uint8Array.of(0);
}

// --- the compiled fast path ---------------------------------------------------------------------

interface TupleCodec {
  readonly encode: (values: unknown, s: EncodeState) => void;
  readonly decode: (s: DecodeState) => unknown[];
}

const tupleCodecs = new WeakMap<readonly WitType[], TupleCodec>();

function tupleCodec(types: readonly WitType[]): TupleCodec {
  let found = tupleCodecs.get(types);
  if (found === undefined) {
    found = { encode: compiledTupleEncoder(types), decode: compiledTupleDecoder(types) };
    tupleCodecs.set(types, found);
  }
  return found;
}

const functionCodecs = new WeakMap<WitFunction, { params: TupleCodec; results: TupleCodec }>();

function functionCodec(fn: WitFunction): { params: TupleCodec; results: TupleCodec } {
  let found = functionCodecs.get(fn);
  if (found === undefined) {
    found = { params: tupleCodec(fn.params.map((p) => p.type)), results: tupleCodec(fn.results) };
    functionCodecs.set(fn, found);
  }
  return found;
}

/** The compiled encoding, or undefined when the value needs the reference encoder's error. */
function encodeFast(
  encode: (value: unknown, s: EncodeState) => void,
  value: unknown,
  path: WrpcPath,
): WrpcEncoded | undefined {
  const s: EncodeState = { out: new Writer(), wire: [...path], deferred: [] };
  try {
    encode(value, s);
  } catch (err) {
    if (err === MISS) return undefined;
    throw err;
  }
  return { bytes: s.out.result(), deferred: s.deferred };
}

/** The compiled decoding, or undefined when the bytes need the reference decoder's error. */
function decodeFast<T>(
  decode: (s: DecodeState) => T,
  bytes: Uint8Array,
  opts: WrpcDecodeOptions,
): { value: T; deferred: WrpcDeferred[]; bytesRead: number } | undefined {
  const maxValueBytes = opts.maxValueBytes ?? DEFAULT_LIMITS.wrpcMaxValueBytes;
  if (bytes.length > maxValueBytes) return undefined;
  const s = new DecodeState(
    bytes,
    opts,
    maxValueBytes,
    opts.maxListLength ?? DEFAULT_LIMITS.wrpcMaxListLength,
  );
  try {
    const value = decode(s);
    if (opts.allowTrailing !== true && s.pos < bytes.length) return undefined;
    return { value, deferred: s.deferred, bytesRead: s.pos };
  } catch (err) {
    if (err === MISS) return undefined;
    throw err;
  }
}

// --- decoding ----------------------------------------------------------------------------------

/** Decodes one value of `type` from `bytes` (the whole input unless `allowTrailing`). */
export function decodeWrpcValue(
  type: WitType,
  bytes: Uint8Array,
  opts: WrpcDecodeOptions = {},
): WrpcDecodedValue {
  const fast = decodeFast(compiledDecoder(type), bytes, opts);
  if (fast !== undefined) return { value: fast.value, deferred: fast.deferred, bytesRead: fast.bytesRead };
  const d = new Decoder(bytes, opts, '$');
  const value = d.value(type);
  d.finish(opts.allowTrailing);
  return { value, deferred: d.deferred, bytesRead: d.pos };
}

/** Decodes a tuple of values (parameters or results); member `i` has index path `[...path, i]`. */
export function decodeWrpcTuple(
  types: readonly WitType[],
  bytes: Uint8Array,
  opts: WrpcDecodeOptions = {},
): WrpcDecodedTuple {
  const fast = decodeFast(tupleCodec(types).decode, bytes, opts);
  if (fast !== undefined) return { values: fast.value, deferred: fast.deferred, bytesRead: fast.bytesRead };
  const d = new Decoder(bytes, opts, '$');
  const values = d.tuple(types);
  d.finish(opts.allowTrailing);
  return { values, deferred: d.deferred, bytesRead: d.pos };
}

/** Decodes call arguments; error paths name the parameters. */
export function decodeWrpcParams(
  fn: WitFunction,
  bytes: Uint8Array,
  opts: WrpcDecodeOptions = {},
): WrpcDecodedTuple {
  const fast = decodeFast(functionCodec(fn).params.decode, bytes, opts);
  if (fast !== undefined) return { values: fast.value, deferred: fast.deferred, bytesRead: fast.bytesRead };
  const d = new Decoder(bytes, opts, fn.name);
  const values = d.tuple(
    fn.params.map((p) => p.type),
    fn.params.map((p) => p.name),
  );
  d.finish(opts.allowTrailing);
  return { values, deferred: d.deferred, bytesRead: d.pos };
}

export function decodeWrpcResults(
  fn: WitFunction,
  bytes: Uint8Array,
  opts: WrpcDecodeOptions = {},
): WrpcDecodedTuple {
  const fast = decodeFast(functionCodec(fn).results.decode, bytes, opts);
  if (fast !== undefined) return { values: fast.value, deferred: fast.deferred, bytesRead: fast.bytesRead };
  const d = new Decoder(bytes, opts, `${fn.name} result`);
  const values = d.tuple(fn.results);
  d.finish(opts.allowTrailing);
  return { values, deferred: d.deferred, bytesRead: d.pos };
}

export interface WrpcStreamChunks {
  /** Complete chunks in arrival order (typed arrays for numeric elements, arrays otherwise). */
  readonly chunks: unknown[];
  /** The end-of-stream chunk was read. */
  readonly done: boolean;
  /** Bytes consumed: complete chunks only; keep the rest and call again when more arrives. */
  readonly bytesRead: number;
  /** Elements decoded, to pass as `firstIndex` next time. */
  readonly elementCount: number;
  readonly deferred: readonly WrpcDeferred[];
}

/**
 * Decodes the chunks of a pending stream read from its nested subject (`path` is the stream's own
 * path). A chunk cut off by the end of `bytes` is left unread rather than failing, so a transport can
 * append the next message and call again; bytes after the end-of-stream chunk are an error.
 */
export function decodeWrpcStreamChunks(
  element: WitType,
  bytes: Uint8Array,
  opts: WrpcDecodeOptions & { readonly firstIndex?: number } = {},
): WrpcStreamChunks {
  const d = new Decoder(bytes, opts, '$');
  const chunks: unknown[] = [];
  let index = opts.firstIndex ?? 0;
  let done = false;
  let bytesRead = 0;
  let deferredCount = 0;
  while (d.remaining > 0) {
    const start = d.pos;
    try {
      const n = d.nested(`<chunk ${chunks.length}>`, undefined, () => d.uleb(32, 'stream chunk length'));
      if (n === 0) {
        done = true;
        bytesRead = d.pos;
        break;
      }
      chunks.push(
        d.nested(`<chunk ${chunks.length}>`, undefined, () =>
          d.elements(element, n, start, 'stream chunk', index),
        ),
      );
      index += n;
      bytesRead = d.pos;
      deferredCount = d.deferred.length;
    } catch (err) {
      if (!isWrpcTruncated(err)) throw err;
      // Forget what the cut-off chunk started to report; it will be decoded again in full.
      d.deferred.length = deferredCount;
      break;
    }
  }
  if (done) d.finish(opts.allowTrailing);
  return {
    chunks,
    done,
    bytesRead,
    elementCount: index - (opts.firstIndex ?? 0),
    deferred: d.deferred,
  };
}
