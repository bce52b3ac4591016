import {
  InvalidArgumentError,
  InvalidSubjectError,
  PayloadTooLargeError,
  WrpcDecodeError,
} from './errors.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { assertValidId } from './subjects.ts';
import type { WitType } from './wit-types.ts';
import { copyBytes } from './wrpc-values.ts';
import type { WrpcPath } from './wrpc-values.ts';

/**
 * wRPC over NATS as wasmCloud 1.x speaks it (wrpc-transport-nats 0.28/0.29): subject names, how a
 * byte stream is cut into messages and put back together, and which instance names wasmCloud uses
 * for the interfaces it translates. Pure functions only; the NATS client lives in a transport.
 *
 * One invocation: the invoker publishes to `<lattice>.<target>.wrpc.0.0.1.<instance>.<function>` with
 * reply-to its inbox `R` and as much of the encoded parameters as fits; the server answers on `R` with
 * an empty message whose reply-to is its inbox `S`; the invoker sends the rest of the parameters to
 * `S.params` and ends them with an empty message; the server writes the results to `R.results`, also
 * ended by an empty message. Pending streams and futures travel on `S.params.<path>` and
 * `R.results.<path>`.
 */

export const WRPC_PROTOCOL = 'wrpc.0.0.1';

const utf8 = new TextEncoder();

/** Headers wasmCloud hosts and providers put on invocations. */
export const WRPC_HEADER_SOURCE_ID = 'source-id';
export const WRPC_HEADER_LINK_NAME = 'link-name';
export const WRPC_HEADER_TARGET_ID = 'target-id';

// A NATS token may not contain whitespace or wildcards; dots inside instance names (versions such as
// `@0.2.0-draft`) and method names (`resource.method`) are fine, but not empty tokens.
const SUBJECT_PART = /^[^\s*>.]+(?:\.[^\s*>.]+)*$/;

function checkPart(what: string, value: string): string {
  if (typeof value !== 'string' || !SUBJECT_PART.test(value)) {
    throw new InvalidSubjectError(`${what} ${JSON.stringify(value)} cannot be part of a wRPC subject`, {
      hint: 'use a WIT name without whitespace, `*`, `>` or empty dot-separated parts',
    });
  }
  return value;
}

/** Function and instance names already checked: a host invokes the same few over and over. */
const checkedNames = new Set<string>();
const CHECKED_NAMES_KEPT = 4096;

function checkName(what: string, value: string): string {
  if (checkedNames.has(value)) return value;
  checkPart(what, value);
  if (checkedNames.size >= CHECKED_NAMES_KEPT) checkedNames.clear();
  checkedNames.add(value);
  return value;
}

/** `<lattice>.<id>`: the prefix a component or provider is served and reached under. */
export function wrpcPrefix(lattice: string, id: string): string {
  return `${assertValidId('lattice name', lattice)}.${assertValidId('target id', id)}`;
}

/** The queue group a component or provider serves its exports in, so that hosts share the load. */
export function wrpcQueueGroup(lattice: string, id: string): string {
  return wrpcPrefix(lattice, id);
}

/**
 * `<lattice>.<target>.wrpc.0.0.1.<instance>.<function>`; an empty `instance` (a root function export)
 * gives `<lattice>.<target>.wrpc.0.0.1.<function>`.
 */
export function wrpcInvocationSubject(
  lattice: string,
  targetId: string,
  instance: string,
  fn: string,
): string {
  const prefix = wrpcPrefix(lattice, targetId);
  checkName('function name', fn);
  if (instance === '') return `${prefix}.${WRPC_PROTOCOL}.${fn}`;
  return `${prefix}.${WRPC_PROTOCOL}.${checkName('instance name', instance)}.${fn}`;
}

function checkInbox(inbox: string): string {
  return checkPart('inbox', inbox);
}

function checkPath(path: readonly (number | null)[], wildcards: boolean): void {
  for (const p of path) {
    if (p === null && wildcards) continue;
    if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) {
      throw new InvalidArgumentError(`wRPC path ${JSON.stringify(path)} must hold whole numbers from 0`);
    }
  }
}

/** `R.results`: where the server writes the results of the call it was invoked with reply-to `R`. */
export function wrpcResultsSubject(inbox: string): string {
  return `${checkInbox(inbox)}.results`;
}

/** `S.params`: where the invoker sends the remaining parameters after the server's handshake from `S`. */
export function wrpcParamsSubject(inbox: string): string {
  return `${checkInbox(inbox)}.params`;
}

/** `R.results.0.1`: the subject of the nested (pending) value at `path` of the results. */
export function wrpcNestedResultsSubject(inbox: string, path: WrpcPath): string {
  return wrpcIndexSubject(wrpcResultsSubject(inbox), path);
}

/** `S.params.0.1`: the subject of the nested (pending) value at `path` of the parameters. */
export function wrpcNestedParamsSubject(inbox: string, path: WrpcPath): string {
  return wrpcIndexSubject(wrpcParamsSubject(inbox), path);
}

/** `<base>.<i>.<j>…` (wrpc's `index_path`). */
export function wrpcIndexSubject(base: string, path: WrpcPath): string {
  checkPath(path, false);
  return [checkPart('subject', base), ...path].join('.');
}

/** `<base>.<i>.*…`: the subscription for a path from `wrpcAsyncPaths`, `null` meaning any index. */
export function wrpcSubscribeSubject(base: string, path: readonly (number | null)[]): string {
  checkPath(path, true);
  return [checkPart('subject', base), ...path.map((p) => (p === null ? '*' : String(p)))].join('.');
}

// --- flow control between Cirrus peers ------------------------------------------------------------
//
// wRPC 0.28/0.29 has no flow control: a sender publishes a stream as fast as it is produced. Cirrus
// peers add credit on subjects and headers that 1.x peers never see or ignore: an invoker that can
// take credit says so with the window header on the invocation, a server with the same header on its
// handshake; only then does either side wait for credit (see docs/adr/0007-wrpc-async-values.md).

/** The receive window its sender offers for each stream or future it reads (decimal bytes). */
export const WRPC_HEADER_WINDOW = 'cirrus-wrpc-window';
/** Why a stream or future ended before its end, on the empty message that ends it. */
export const WRPC_HEADER_STREAM_ERROR = 'cirrus-wrpc-error';

/**
 * `<inbox>.credit.<path>`: where the reader of the stream or future at `path` grants its sender
 * credit; `inbox` is the sender's (the invoker's `R` for parameters, the server's `S` for results).
 * With an empty path: the peer abandoned the whole call.
 */
export function wrpcCreditSubject(inbox: string, path: WrpcPath): string {
  const base = `${checkInbox(inbox)}.credit`;
  return path.length === 0 ? base : wrpcIndexSubject(base, path);
}

/**
 * `<inbox>.gone.<path>`: the reply subject of the reader's liveness probes of the sender of the value
 * at `path`; `inbox` is the reader's. A "no responders" status arriving there means the sender left.
 */
export function wrpcGoneSubject(inbox: string, path: WrpcPath): string {
  return wrpcIndexSubject(`${checkInbox(inbox)}.gone`, path);
}

/** What a credit message says: read up to this many bytes in total, or stop. */
export type WrpcCredit = { readonly kind: 'grant'; readonly total: number } | { readonly kind: 'cancel' };

const DECIMAL = /^(?:0|[1-9][0-9]{0,15})$/;

/** A grant is the total byte count the sender may have sent, in decimal; an empty payload stops it. */
export function encodeWrpcCredit(credit: WrpcCredit): Uint8Array {
  return credit.kind === 'cancel' ? new Uint8Array(0) : utf8.encode(String(credit.total));
}

/** Undefined for a payload that is neither (a peer's mistake, ignored). */
export function decodeWrpcCredit(payload: Uint8Array): WrpcCredit | undefined {
  if (payload.length === 0) return { kind: 'cancel' };
  if (payload.length > 16) return undefined;
  const text = String.fromCharCode(...payload);
  if (!DECIMAL.test(text)) return undefined;
  const total = Number(text);
  return Number.isSafeInteger(total) ? { kind: 'grant', total } : undefined;
}

/** The window a peer offers in its header; undefined when absent or not a whole number of bytes. */
export function parseWrpcWindow(value: string | undefined): number | undefined {
  if (value === undefined || !DECIMAL.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * The index path in a subject below `base` (`R.results.0.1` below `R.results` → `[0, 1]`); undefined
 * when the subject is not below it or a token is not an index.
 */
export function wrpcSubjectPath(subject: string, base: string): number[] | undefined {
  if (subject.length <= base.length + 1 || !subject.startsWith(base) || subject[base.length] !== '.') {
    return undefined;
  }
  const path: number[] = [];
  for (const token of subject.slice(base.length + 1).split('.')) {
    if (!DECIMAL.test(token)) return undefined;
    const n = Number(token);
    if (n > 0xffff_ffff) return undefined;
    path.push(n);
  }
  return path;
}

/** Whether a path from `wrpcAsyncPaths` (`null` = any index) covers `path`. */
export function wrpcPathMatches(pattern: readonly (number | null)[], path: WrpcPath): boolean {
  return pattern.length === path.length && pattern.every((p, i) => p === null || p === path[i]);
}

const asyncTypes = new WeakMap<WitType, boolean>();

/** Whether values of `type` can hold a stream or future anywhere inside. */
export function witHasAsync(type: WitType): boolean {
  const cached = asyncTypes.get(type);
  if (cached !== undefined) return cached;
  let found: boolean;
  switch (type.kind) {
    case 'stream':
    case 'future':
      found = true;
      break;
    case 'list':
      found = witHasAsync(type.element);
      break;
    case 'option':
      found = witHasAsync(type.type);
      break;
    case 'record':
      found = type.fields.some((f) => witHasAsync(f.type));
      break;
    case 'tuple':
      found = type.types.some(witHasAsync);
      break;
    case 'result':
      found =
        (type.ok !== undefined && witHasAsync(type.ok)) || (type.err !== undefined && witHasAsync(type.err));
      break;
    case 'variant':
      found = type.cases.some((c) => c.type !== undefined && witHasAsync(c.type));
      break;
    default:
      found = false;
  }
  asyncTypes.set(type, found);
  return found;
}

export interface WrpcInvocationHeaders {
  /** The calling component or provider. */
  readonly sourceId: string;
  /** The link the call goes through (hosts set it for component imports). */
  readonly linkName?: string | undefined;
  /** The callee (the provider SDK sets it). */
  readonly targetId?: string | undefined;
}

export function wrpcInvocationHeaders(h: WrpcInvocationHeaders): Record<string, string> {
  const out: Record<string, string> = { [WRPC_HEADER_SOURCE_ID]: h.sourceId };
  if (h.linkName !== undefined) out[WRPC_HEADER_LINK_NAME] = h.linkName;
  if (h.targetId !== undefined) out[WRPC_HEADER_TARGET_ID] = h.targetId;
  return out;
}

/**
 * The nested paths whose subjects a peer must listen on for values of these types (a parameter or
 * result tuple): `null` stands for any index (`*`), as for list and stream elements. Mirrors
 * wrpc-introspect's `async_paths`.
 */
export function wrpcAsyncPaths(types: readonly WitType[]): (number | null)[][] {
  // Every call of a function asks again with the same types: walk them once.
  let found = asyncPathsOf.get(types);
  if (found === undefined) {
    found = collectAsyncPaths(types);
    asyncPathsOf.set(types, found);
  }
  return found;
}

const asyncPathsOf = new WeakMap<readonly WitType[], (number | null)[][]>();

function collectAsyncPaths(types: readonly WitType[]): (number | null)[][] {
  const out = new Map<string, (number | null)[]>();
  types.forEach((type, i) => {
    const [nested, isAsync] = asyncPaths(type);
    for (const p of nested) add(out, [i, ...p]);
    if (isAsync) add(out, [i]);
  });
  return [...out.values()].sort(comparePaths);
}

function add(set: Map<string, (number | null)[]>, path: (number | null)[]): void {
  set.set(JSON.stringify(path), path);
}

function comparePaths(a: readonly (number | null)[], b: readonly (number | null)[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i += 1) {
    const x = a[i] ?? -1;
    const y = b[i] ?? -1;
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

/** `[paths inside the value, whether the value itself is a stream or future]`. */
function asyncPaths(type: WitType): [(number | null)[][], boolean] {
  const indexed = (
    members: readonly WitType[],
    index: (i: number) => number | null,
  ): [(number | null)[][], boolean] => {
    const out = new Map<string, (number | null)[]>();
    members.forEach((member, i) => {
      const [nested, isAsync] = asyncPaths(member);
      for (const p of nested) add(out, [index(i), ...p]);
      if (isAsync) add(out, [index(i)]);
    });
    return [[...out.values()], false];
  };
  const union = (members: readonly (WitType | undefined)[]): [(number | null)[][], boolean] => {
    const out = new Map<string, (number | null)[]>();
    let any = false;
    for (const member of members) {
      if (member === undefined) continue;
      const [nested, isAsync] = asyncPaths(member);
      for (const p of nested) add(out, p);
      any ||= isAsync;
    }
    return [[...out.values()], any];
  };
  switch (type.kind) {
    case 'list':
      return indexed([type.element], () => null);
    case 'record':
      return indexed(
        type.fields.map((f) => f.type),
        (i) => i,
      );
    case 'tuple':
      return indexed(type.types, (i) => i);
    case 'option':
      return union([type.type]);
    case 'result':
      return union([type.ok, type.err]);
    case 'variant':
      return union(type.cases.map((c) => c.type));
    case 'future':
      return [type.type === undefined ? [] : asyncPaths(type.type)[0], true];
    case 'stream':
      return [indexed([type.element], () => null)[0], true];
    default:
      return [[], false];
  }
}

// --- framing -----------------------------------------------------------------------------------

export interface WrpcFirstMessage {
  /** The server's `max_payload`. */
  readonly maxPayload: number;
  /** The invoker's inbox, sent as reply-to. */
  readonly replySubject: string;
  /** Headers sent with the invocation, if any (even an empty set costs the header preamble). */
  readonly headers?: Readonly<Record<string, string | readonly string[]>> | undefined;
}

/**
 * How many parameter bytes fit into the invocation message: `max_payload` minus the reply subject
 * and, when headers are sent, their encoded size (`NATS/1.0\r\n`, `name: value\r\n` per value,
 * `\r\n`) — the same arithmetic as wrpc-transport-nats, so both sides split alike.
 */
export function wrpcFirstMessageBudget(m: WrpcFirstMessage): number {
  let budget = m.maxPayload - utf8.encode(m.replySubject).length;
  if (m.headers !== undefined) {
    budget -= 'NATS/1.0\r\n'.length + '\r\n'.length;
    for (const [name, values] of Object.entries(m.headers)) {
      for (const value of typeof values === 'string' ? [values] : values) {
        budget -= utf8.encode(name).length + 2 + utf8.encode(value).length + 2;
      }
    }
  }
  return Math.max(0, budget);
}

function checkSize(what: string, n: number, min: number): void {
  if (!Number.isSafeInteger(n) || n < min) {
    throw new InvalidArgumentError(`${what} must be a whole number from ${min}, got ${n}`);
  }
}

/** Splits `bytes` into views of at most `maxPayload` bytes (no copies); empty input gives none. */
export function wrpcChunks(bytes: Uint8Array, maxPayload: number): Uint8Array[] {
  checkSize('maxPayload', maxPayload, 1);
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += maxPayload) out.push(bytes.subarray(at, at + maxPayload));
  return out;
}

/**
 * The messages of a byte stream on one subject (results, or a nested value): chunks of at most
 * `maxPayload` bytes, then the empty message that ends the stream.
 */
export function wrpcStreamMessages(bytes: Uint8Array, maxPayload: number): Uint8Array[] {
  return [...wrpcChunks(bytes, maxPayload), new Uint8Array(0)];
}

export interface WrpcInvocationMessages {
  /** Payload of the invocation message (may be empty). */
  readonly first: Uint8Array;
  /** Messages for `S.params` after the handshake, ending with the empty terminator (always sent). */
  readonly params: Uint8Array[];
}

/**
 * Splits encoded parameters for an invocation: what fits the first message goes there, the rest
 * follows on `S.params`. The terminator is always sent, even when everything fit: wasmCloud's server
 * keeps reading `S.params` until it arrives.
 */
export function wrpcInvocationMessages(params: Uint8Array, m: WrpcFirstMessage): WrpcInvocationMessages {
  checkSize('maxPayload', m.maxPayload, 1);
  const budget = wrpcFirstMessageBudget(m);
  return {
    first: params.subarray(0, budget),
    params: wrpcStreamMessages(params.subarray(budget), m.maxPayload),
  };
}

/** Collects one wRPC byte stream from its messages, up to the empty message that ends it. */
export interface WrpcByteStream {
  /**
   * Adds a message payload; returns true once the stream has ended (`payload` was empty). Throws
   * PAYLOAD_TOO_LARGE past `maxBytes`, WRPC_DECODE_FAILED for a message after the end.
   */
  push(payload: Uint8Array): boolean;
  readonly done: boolean;
  readonly byteLength: number;
  /** The bytes so far, concatenated, in a buffer of the stream's own (read it, do not change it). */
  bytes(): Uint8Array;
}

export interface WrpcByteStreamOptions {
  /** Largest stream accepted. Default `wrpcMaxValueBytes`. */
  readonly maxBytes?: number;
  /**
   * Bytes that start the stream without being a message of it: the server's parameter stream begins
   * with the invocation payload, and an empty invocation payload does not end it.
   */
  readonly initial?: Uint8Array;
  /** Names the stream in errors, e.g. the subject. */
  readonly name?: string;
}

export function createWrpcByteStream(opts: WrpcByteStreamOptions = {}): WrpcByteStream {
  const maxBytes = opts.maxBytes ?? DEFAULT_LIMITS.wrpcMaxValueBytes;
  checkSize('maxBytes', maxBytes, 0);
  const name = opts.name ?? 'wRPC byte stream';
  const parts: Uint8Array[] = [];
  let size = 0;
  let done = false;
  const add = (payload: Uint8Array): void => {
    if (size + payload.length > maxBytes) {
      throw new PayloadTooLargeError(
        `${name} of more than ${size + payload.length} bytes exceeds the ${maxBytes}-byte limit`,
        { hint: 'raise CIRRUS_LIMIT_WRPC_MAX_VALUE_BYTES if the peer is trusted' },
      );
    }
    // Copied: a transport may reuse the buffer a message arrived in.
    if (payload.length > 0) parts.push(copyBytes(payload));
    size += payload.length;
  };
  if (opts.initial !== undefined) add(opts.initial);
  return {
    push(payload: Uint8Array): boolean {
      if (done) {
        throw new WrpcDecodeError(`${name}: message of ${payload.length} bytes after the end of the stream`, {
          details: { reason: 'malformed' },
        });
      }
      if (payload.length === 0) done = true;
      else add(payload);
      return done;
    },
    get done() {
      return done;
    },
    get byteLength() {
      return size;
    },
    bytes(): Uint8Array {
      // Most streams are one message; its copy is the stream's bytes.
      if (parts.length === 1) return parts[0] as Uint8Array;
      const out = new Uint8Array(size);
      let at = 0;
      for (const part of parts) {
        out.set(part, at);
        at += part.length;
      }
      return out;
    },
  };
}

// --- instance names ----------------------------------------------------------------------------

export interface WrpcImportTarget {
  /** The instance name invoked on the lattice. */
  readonly instance: string;
  /** A previous instance name to try when the target does not serve `instance` (blobstore). */
  readonly fallback?: string | undefined;
  /** The `namespace:package/interface` key under which links are looked up (no version). */
  readonly linkInterface: string;
}

/** `wasi:keyvalue/store@0.2.0-draft` → `wasi:keyvalue/store`. */
export function witInterfaceKey(instance: string): string {
  const at = instance.indexOf('@');
  return at === -1 ? instance : instance.slice(0, at);
}

const KEYVALUE_IMPORT = /^wasi:keyvalue\/(store|atomics|batch)@0\.2\.0-draft$/;
const BLOBSTORE_IMPORT = /^wasi:blobstore\/(blobstore|container)(@.*)?$/;
const HTTP_OUTGOING = /^wasi:http\/outgoing-handler@0\.2\.\d+(?:-[0-9A-Za-z.-]+)?$/;
const HTTP_INCOMING = /^wasi:http\/incoming-handler@0\.2\.\d+(?:-[0-9A-Za-z.-]+)?$/;

/**
 * The instance a component import is forwarded to. wasmCloud 1.x translates a few WASI interfaces to
 * their wRPC-native forms (`wasi:keyvalue/*@0.2.0-draft` → `wrpc:keyvalue/*@0.2.0-draft`,
 * `wasi:blobstore` → `wrpc:blobstore/blobstore@0.2.0` falling back to `@0.1.0`,
 * `wasi:http/outgoing-handler` → `wrpc:http/outgoing-handler@0.1.0`); every other interface is
 * invoked under its own name. Links are looked up by the `wasi:` interface either way.
 */
export function wrpcImportTarget(witInstance: string): WrpcImportTarget {
  const kv = KEYVALUE_IMPORT.exec(witInstance);
  if (kv !== null) {
    const name = kv[1] as string;
    return { instance: `wrpc:keyvalue/${name}@0.2.0-draft`, linkInterface: `wasi:keyvalue/${name}` };
  }
  if (BLOBSTORE_IMPORT.test(witInstance)) {
    return {
      instance: 'wrpc:blobstore/blobstore@0.2.0',
      fallback: 'wrpc:blobstore/blobstore@0.1.0',
      linkInterface: 'wasi:blobstore/blobstore',
    };
  }
  if (HTTP_OUTGOING.test(witInstance)) {
    return { instance: 'wrpc:http/outgoing-handler@0.1.0', linkInterface: 'wasi:http/outgoing-handler' };
  }
  return { instance: witInstance, linkInterface: witInterfaceKey(witInstance) };
}

export interface WrpcExport {
  /** The instance name served on the lattice. */
  readonly instance: string;
  /** For translated interfaces, the functions served (their wRPC-native signatures differ). */
  readonly functions?: readonly string[] | undefined;
}

/**
 * The instance a component export is served under: `wasi:http/incoming-handler@0.2.x` as
 * `wrpc:http/incoming-handler@0.1.0` (`handle`), `wasmcloud:messaging` handlers as
 * `wasmcloud:messaging/handler@0.2.0` (`handle-message`), `wasi:keyvalue/watcher@0.2.0-draft` as
 * `wrpc:keyvalue/watcher@0.2.0-draft` (`on-set`, `on-delete`); anything else under its own name.
 */
export function wrpcExportInstance(witInstance: string): WrpcExport {
  if (HTTP_INCOMING.test(witInstance)) {
    return { instance: 'wrpc:http/incoming-handler@0.1.0', functions: ['handle'] };
  }
  if (
    witInstance === 'wasmcloud:messaging/handler@0.2.0' ||
    witInstance === 'wasmcloud:messaging/incoming-handler@0.3.0'
  ) {
    return { instance: 'wasmcloud:messaging/handler@0.2.0', functions: ['handle-message'] };
  }
  if (witInstance === 'wasi:keyvalue/watcher@0.2.0-draft') {
    return { instance: 'wrpc:keyvalue/watcher@0.2.0-draft', functions: ['on-set', 'on-delete'] };
  }
  return { instance: witInstance };
}
