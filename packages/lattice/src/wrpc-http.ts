/**
 * HTTP over wRPC, as wasmCloud 1.x carries it (`wrpc:http@0.1.0`): the http-server provider invokes
 * `wrpc:http/incoming-handler@0.1.0` `handle` on the component, and a component's outgoing requests
 * go to `wrpc:http/outgoing-handler@0.1.0` `handle` on an http-client provider. Requests and responses
 * here are plain data and async iterables, so that a host or provider adapts its own HTTP types to
 * them; bodies stream under the transport's flow control, trailers are promises. Both bodies and
 * trailers always travel pending, as a 1.x peer sends them.
 */
import {
  DEFAULT_LIMITS,
  HttpRequestFailedError,
  InvalidArgumentError,
  witNameToJs,
  wrpcHttpIncomingHandle,
  wrpcHttpOutgoingHandle,
  wrpcHttpTypes,
  WRPC_HTTP_INCOMING_HANDLER,
  WRPC_HTTP_OUTGOING_HANDLER,
} from '@cirrus/protocol';
import type { InvocationFields, Logger, WitFunction, WitType } from '@cirrus/protocol';
import type { LatticeConnection, MsgHeaders, Subscription } from './port.ts';
import { wrpcInvoke, wrpcServe } from './wrpc.ts';
import type { WrpcCaller } from './wrpc.ts';
import type { WrpcStreamLimits } from './wrpc-streams.ts';

/**
 * Header or trailer fields in order. A string value holds one byte per character (Latin-1, as
 * Node's `http` module gives and takes them), so values round-trip byte for byte; a `Uint8Array` is
 * taken as is.
 */
export type HttpFields = readonly (readonly [name: string, value: string | Uint8Array])[];
/** `[name, value]` pairs, or a flat `[name, value, name, value, …]` list (Node's `rawHeaders`). */
export type HttpFieldsInit = HttpFields | readonly string[];

/** A body given to send: streamed chunks, all of it at once, or none. */
export type HttpBodyInit = AsyncIterable<Uint8Array> | Uint8Array | null;

export interface HttpRequest {
  /** `GET`, `POST`, … or any other method token (case-sensitive, as on the wire). */
  method: string;
  pathWithQuery?: string | undefined;
  /** `http`, `https` or another scheme. */
  scheme?: string | undefined;
  authority?: string | undefined;
  headers: HttpFieldsInit;
  body: HttpBodyInit;
  /** Sent after the body; a promise may settle once the body is out. */
  trailers?: HttpFieldsInit | Promise<HttpFieldsInit | undefined> | undefined;
}

export interface HttpResponse {
  status: number;
  headers: HttpFieldsInit;
  body: HttpBodyInit;
  trailers?: HttpFieldsInit | Promise<HttpFieldsInit | undefined> | undefined;
}

/** A request or response as it arrives: the body streams in, the trailers come after it. */
interface Received {
  headers: [string, string][];
  /** One reader; stopping it (`break`, `return()`) tells the sender to stop. */
  body: AsyncIterable<Uint8Array>;
  trailers: Promise<[string, string][] | undefined>;
}

export interface ReceivedHttpRequest extends Received {
  method: string;
  pathWithQuery: string | undefined;
  scheme: string | undefined;
  authority: string | undefined;
}

export interface ReceivedHttpResponse extends Received {
  status: number;
}

/** `wasi:http` request options (outgoing-handler only), in milliseconds. */
export interface HttpRequestOptions {
  connectTimeoutMs?: number | undefined;
  firstByteTimeoutMs?: number | undefined;
  betweenBytesTimeoutMs?: number | undefined;
}

export type HttpHandlerInterface = 'incoming-handler' | 'outgoing-handler';

function handleOf(which: HttpHandlerInterface | undefined): { instance: string; fn: WitFunction } {
  return which === 'outgoing-handler'
    ? { instance: WRPC_HTTP_OUTGOING_HANDLER, fn: wrpcHttpOutgoingHandle() }
    : { instance: WRPC_HTTP_INCOMING_HANDLER, fn: wrpcHttpIncomingHandle() };
}

// --- fields -------------------------------------------------------------------------------------

function latin1(value: string, name: string): Uint8Array {
  const out = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c > 0xff) {
      throw new InvalidArgumentError(`HTTP field ${JSON.stringify(name)} has a character beyond Latin-1`, {
        hint: 'give the value as a Uint8Array of its bytes (UTF-8 encoded, for instance)',
      });
    }
    out[i] = c;
  }
  return out;
}

function fromLatin1(bytes: Uint8Array): string {
  // Every byte is its own character in Latin-1; a call per 8 KiB keeps within the argument limit.
  if (bytes.length <= 8192) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  let out = '';
  for (let at = 0; at < bytes.length; at += 8192) {
    out += String.fromCharCode(...bytes.subarray(at, at + 8192));
  }
  return out;
}

function pairs(init: HttpFieldsInit): (readonly [string, string | Uint8Array])[] {
  if (init.length === 0 || typeof init[0] !== 'string')
    return init as (readonly [string, string | Uint8Array])[];
  const flat = init as readonly string[];
  if (flat.length % 2 !== 0) {
    throw new InvalidArgumentError(`a flat HTTP field list has an odd length (${flat.length})`);
  }
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

/** `wrpc:http` fields: one entry per name (in first-seen order, case-insensitively), all its values. */
function toWitFields(init: HttpFieldsInit): [string, Uint8Array[]][] {
  const byName = new Map<string, [string, Uint8Array[]]>();
  for (const [name, value] of pairs(init)) {
    const key = name.toLowerCase();
    let entry = byName.get(key);
    if (entry === undefined) {
      entry = [name, []];
      byName.set(key, entry);
    }
    entry[1].push(typeof value === 'string' ? latin1(value, name) : value);
  }
  return [...byName.values()];
}

function fromWitFields(fields: unknown): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, values] of fields as [string, Uint8Array[]][]) {
    for (const value of values) out.push([name, fromLatin1(value)]);
  }
  return out;
}

// --- method, scheme, bodies ---------------------------------------------------------------------

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

function toWitMethod(method: string): { tag: string; val?: string } {
  return METHODS.has(method) ? { tag: method.toLowerCase() } : { tag: 'other', val: method };
}

function fromWitMethod(method: { tag: string; val?: string }): string {
  return method.tag === 'other' ? (method.val as string) : method.tag.toUpperCase();
}

function toWitScheme(scheme: string | undefined): { tag: string; val?: string } | undefined {
  if (scheme === undefined) return undefined;
  const lower = scheme.toLowerCase();
  if (lower === 'http') return { tag: 'HTTP' };
  if (lower === 'https') return { tag: 'HTTPS' };
  return { tag: 'other', val: scheme };
}

function fromWitScheme(scheme: { tag: string; val?: string } | undefined): string | undefined {
  if (scheme === undefined) return undefined;
  return scheme.tag === 'other' ? scheme.val : scheme.tag.toLowerCase();
}

/**
 * A body as it travels. To a 1.x peer always pending, as 1.x sends it: a whole body as one chunk,
 * none as an empty stream. To a Cirrus peer a whole, non-empty body goes inline with its parent (an
 * empty stream cannot: the wire reads an empty list as pending).
 */
function toWitBody(body: HttpBodyInit, inline = false): unknown {
  if (body === null) return [];
  if (body instanceof Uint8Array) {
    if (inline && body.length > 0) return { tag: 'ready', val: body };
    return (async function* () {
      if (body.length > 0) yield body;
    })();
  }
  return body;
}

/** Trailers as they travel: pending, or inline to a Cirrus peer when they are known already. */
function toWitTrailers(
  trailers: HttpFieldsInit | Promise<HttpFieldsInit | undefined> | undefined,
  inline = false,
): unknown {
  if (inline && !(trailers instanceof Promise)) {
    return { tag: 'ready', val: trailers === undefined ? undefined : toWitFields(trailers) };
  }
  return (async () => {
    const given = await trailers;
    return given === undefined ? undefined : toWitFields(given);
  })();
}

function received(value: Record<string, unknown>): Received {
  const trailers = (value['trailers'] as Promise<unknown>).then((t) =>
    t === undefined ? undefined : fromWitFields(t),
  );
  trailers.catch(() => {});
  return {
    headers: fromWitFields(value['headers']),
    body: value['body'] as AsyncIterable<Uint8Array>,
    trailers,
  };
}

// --- error codes --------------------------------------------------------------------------------

/** A `wasi:http` error code as the codec maps it: `{ tag: 'connection-refused' }`, `{ tag, val }`. */
export interface HttpErrorCode {
  readonly tag: string;
  readonly val?: unknown;
}

/** The payload in JSON-safe form for error details (64-bit numbers as numbers, or strings past 2^53). */
function jsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
  }
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonSafe(v)]));
  }
  return value;
}

/** Back from details to the codec's values, guided by the payload's WIT type. */
function fromJsonSafe(type: WitType, value: unknown): unknown {
  switch (type.kind) {
    case 'option':
      return value === undefined || value === null ? undefined : fromJsonSafe(type.type, value);
    case 'record': {
      const obj = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
      return Object.fromEntries(
        type.fields.map((f) => [witNameToJs(f.name), fromJsonSafe(f.type, obj[witNameToJs(f.name)])]),
      );
    }
    case 'u64':
    case 's64':
      return typeof value === 'number' || typeof value === 'string' ? BigInt(value) : value;
    default:
      return value;
  }
}

function errorCodeType(): Extract<WitType, { kind: 'variant' }> {
  return wrpcHttpTypes().get('error-code') as Extract<WitType, { kind: 'variant' }>;
}

/**
 * The error a handler throws to answer with a `wasi:http` error code instead of a response (a
 * proxy's `connection-refused`, …); the invoker gets it back as this same error.
 */
export function httpRequestFailed(code: HttpErrorCode, message?: string): HttpRequestFailedError {
  const details: Record<string, unknown> = { errorCode: code.tag };
  if (code.val !== undefined) details['payload'] = jsonSafe(code.val);
  return new HttpRequestFailedError(message ?? `the HTTP request failed: ${code.tag}`, {
    details,
    hint: 'the error code is the one wasi:http defines; `details.payload` holds its data, if any',
  });
}

/** The `wasi:http` error code an HTTP_REQUEST_FAILED carries (see `httpRequestFailed`), if it names one. */
export function httpErrorCodeOf(err: HttpRequestFailedError): HttpErrorCode | undefined {
  const tag = err.details?.['errorCode'];
  const c = errorCodeType().cases.find((x) => x.name === tag);
  if (c === undefined) return undefined;
  return c.type === undefined
    ? { tag: c.name }
    : { tag: c.name, val: fromJsonSafe(c.type, err.details?.['payload']) };
}

// --- invoking -----------------------------------------------------------------------------------

export interface HttpInvokeOptions {
  lattice: string;
  /** The component (or provider) serving the handler. */
  targetId: string;
  request: HttpRequest;
  /** `incoming-handler` (default): a component's export; `outgoing-handler`: an http-client provider. */
  handler?: HttpHandlerInterface | undefined;
  /** Only for `outgoing-handler`. */
  requestOptions?: HttpRequestOptions | undefined;
  /** The caller's id (`source-id` header); default empty, as the 1.x http-server provider's. */
  sourceId?: string | undefined;
  linkName?: string | undefined;
  /** Deadline for the response head (default invocationTimeoutMs); the body then streams on. */
  timeoutMs?: number | undefined;
  /** Largest response head (default wrpcMaxValueBytes). */
  maxBytes?: number | undefined;
  /** Abandons the request: its body stops, the server is told, the response body ends. */
  signal?: AbortSignal | undefined;
  streamLimits?: Partial<WrpcStreamLimits> | undefined;
  sign?: ((fields: InvocationFields, params: Uint8Array) => Promise<Record<string, string>>) | undefined;
}

const NANOS_PER_MS = 1_000_000n;

function toDuration(ms: number | undefined): bigint | undefined {
  return ms === undefined ? undefined : BigInt(Math.round(ms)) * NANOS_PER_MS;
}

function fromDuration(ns: unknown): number | undefined {
  return typeof ns === 'bigint' ? Number(ns / NANOS_PER_MS) : undefined;
}

/**
 * Sends an HTTP request to `wrpc:http/incoming-handler@0.1.0` `handle` of `targetId` (or the
 * outgoing handler) and returns the response once its head arrives. A `wasi:http` error code comes
 * back as HTTP_REQUEST_FAILED with the code in `details.errorCode`.
 */
export async function invokeHttpHandle(
  conn: LatticeConnection,
  options: HttpInvokeOptions,
): Promise<ReceivedHttpResponse> {
  const { instance, fn } = handleOf(options.handler);
  const { request } = options;
  const witRequest = {
    body: toWitBody(request.body),
    trailers: toWitTrailers(request.trailers),
    method: toWitMethod(request.method),
    pathWithQuery: request.pathWithQuery,
    scheme: toWitScheme(request.scheme),
    authority: request.authority,
    headers: toWitFields(request.headers),
  };
  const args: unknown[] = [witRequest];
  if (options.handler === 'outgoing-handler') {
    const o = options.requestOptions;
    args.push(
      o === undefined
        ? undefined
        : {
            connectTimeout: toDuration(o.connectTimeoutMs),
            firstByteTimeout: toDuration(o.firstByteTimeoutMs),
            betweenBytesTimeout: toDuration(o.betweenBytesTimeoutMs),
          },
    );
  }
  const [result] = (await wrpcInvoke(conn, {
    lattice: options.lattice,
    targetId: options.targetId,
    instance,
    fn,
    args,
    sourceId: options.sourceId ?? '',
    linkName: options.linkName ?? 'default',
    timeoutMs: options.timeoutMs ?? DEFAULT_LIMITS.invocationTimeoutMs,
    maxBytes: options.maxBytes ?? DEFAULT_LIMITS.wrpcMaxValueBytes,
    signal: options.signal,
    streamLimits: options.streamLimits,
    ...(options.sign === undefined ? {} : { sign: options.sign }),
  })) as [{ tag: 'ok' | 'err'; val: Record<string, unknown> }];
  if (result.tag === 'err') {
    const code = result.val as unknown as HttpErrorCode;
    throw httpRequestFailed(code, `${options.targetId} answered the HTTP request with ${code.tag}`);
  }
  return { status: result.val['status'] as number, ...received(result.val) };
}

// --- serving ------------------------------------------------------------------------------------

export interface HttpHandlerContext {
  sourceId: string;
  linkName: string;
  /** Aborted when the invoker abandons the request or stops reading the response body. */
  signal: AbortSignal;
  /** The outgoing handler's request options, when the invoker gave them. */
  requestOptions?: HttpRequestOptions | undefined;
}

export type HttpHandler = (
  request: ReceivedHttpRequest,
  context: HttpHandlerContext,
) => Promise<HttpResponse>;

export interface HttpServeOptions {
  lattice: string;
  /** The component or provider id: served under `<lattice>.<id>`, in that id's queue group. */
  id: string;
  handler: HttpHandler;
  logger: Logger;
  /** `incoming-handler` (default) or `outgoing-handler`. */
  handlerInterface?: HttpHandlerInterface | undefined;
  /** Largest request head (default wrpcMaxValueBytes). */
  maxBytes?: number | undefined;
  /** The lattice's max_payload (default the connection's). */
  maxPayload?: number | undefined;
  /** Deadline for the request head once the invocation arrived (default invocationTimeoutMs). */
  timeoutMs?: number | undefined;
  streamLimits?: Partial<WrpcStreamLimits> | undefined;
  verify?:
    | ((fields: InvocationFields, headers: MsgHeaders | undefined, params: Uint8Array) => Promise<unknown>)
    | undefined;
}

/**
 * Serves `wrpc:http/incoming-handler@0.1.0` `handle` (or the outgoing handler) for `id`. A handler
 * that throws HTTP_REQUEST_FAILED (see `httpRequestFailed`) answers with its error code; any other
 * failure closes the call empty, which the invoker sees as WRPC_CALL_FAILED (and it is logged).
 */
export function serveHttpHandle(conn: LatticeConnection, options: HttpServeOptions): Subscription {
  const { instance, fn } = handleOf(options.handlerInterface);
  const outgoing = options.handlerInterface === 'outgoing-handler';
  return wrpcServe(conn, {
    lattice: options.lattice,
    id: options.id,
    instance,
    logger: options.logger,
    maxBytes: options.maxBytes ?? DEFAULT_LIMITS.wrpcMaxValueBytes,
    maxPayload: options.maxPayload ?? conn.maxPayload,
    timeoutMs: options.timeoutMs ?? DEFAULT_LIMITS.invocationTimeoutMs,
    streamLimits: options.streamLimits,
    ...(options.verify === undefined ? {} : { verify: options.verify }),
    handlers: new Map([
      [
        'handle',
        {
          fn,
          handle: async (args: unknown[], caller: WrpcCaller): Promise<unknown[]> => {
            const req = args[0] as Record<string, unknown>;
            const request: ReceivedHttpRequest = {
              method: fromWitMethod(req['method'] as { tag: string; val?: string }),
              pathWithQuery: req['pathWithQuery'] as string | undefined,
              scheme: fromWitScheme(req['scheme'] as { tag: string; val?: string } | undefined),
              authority: req['authority'] as string | undefined,
              ...received(req),
            };
            const o = outgoing ? (args[1] as Record<string, unknown> | undefined) : undefined;
            const context: HttpHandlerContext = {
              sourceId: caller.sourceId,
              linkName: caller.linkName,
              signal: caller.signal as AbortSignal,
              ...(o === undefined
                ? {}
                : {
                    requestOptions: {
                      connectTimeoutMs: fromDuration(o['connectTimeout']),
                      firstByteTimeoutMs: fromDuration(o['firstByteTimeout']),
                      betweenBytesTimeoutMs: fromDuration(o['betweenBytesTimeout']),
                    },
                  }),
            };
            let response: HttpResponse;
            try {
              response = await options.handler(request, context);
            } catch (err) {
              const code = err instanceof HttpRequestFailedError ? httpErrorCodeOf(err) : undefined;
              if (code === undefined) throw err;
              return [{ tag: 'err', val: code }];
            }
            return [
              {
                tag: 'ok',
                val: {
                  body: toWitBody(response.body, caller.cirrusPeer),
                  trailers: toWitTrailers(response.trailers, caller.cirrusPeer),
                  status: response.status,
                  headers: toWitFields(response.headers),
                },
              },
            ];
          },
        },
      ],
    ]),
  });
}
