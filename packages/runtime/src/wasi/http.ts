/**
 * wasi:http/types for one instance: the resources a component uses to read an incoming request and
 * build its response. Bytes cross to the host through a `ResponseChannel`; nothing here touches a
 * socket.
 */
import type {
  HttpClientRequest,
  HttpClientResponse,
  HttpClientResult,
  HttpErrorCode,
  HttpRequestHead,
} from '../http-types.ts';
import { ChunkSource } from './buffers.ts';
import { ALWAYS_READY, failed, ImmediateSink, InputStream, IoError, OutputStream, Pollable } from './io.ts';
import type { ByteSink, ByteSource, Readiness } from './io.ts';

export type { HttpErrorCode };

export type HeaderError = { tag: 'invalid-syntax' } | { tag: 'forbidden' } | { tag: 'immutable' };

/** Where a response goes. Implemented by the worker for each call. */
export interface ResponseChannel {
  head(status: number, headers: readonly [string, Uint8Array][]): void;
  readonly body: ByteSink;
  end(trailers: readonly [string, Uint8Array][] | undefined): void;
  fail(code: HttpErrorCode): void;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const FORBIDDEN = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

function validValue(value: Uint8Array): boolean {
  for (const b of value) if ((b < 0x20 && b !== 0x09) || b === 0x7f) return false;
  return true;
}

function checkName(name: string): string {
  if (!TOKEN.test(name)) throw { tag: 'invalid-syntax' } satisfies HeaderError;
  const lower = name.toLowerCase();
  if (FORBIDDEN.has(lower)) throw { tag: 'forbidden' } satisfies HeaderError;
  return lower;
}

function checkValue(value: Uint8Array): Uint8Array {
  if (!validValue(value)) throw { tag: 'invalid-syntax' } satisfies HeaderError;
  return value;
}

/** A header value's bytes: each character's low byte, as HTTP's latin-1 field values are carried. */
export function latin1(value: string): Uint8Array {
  const out = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) out[i] = value.charCodeAt(i);
  return out;
}

/** The reverse of `latin1` (TextDecoder's "latin1" is windows-1252, which remaps 0x80–0x9f). */
export function latin1Text(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

export class Fields {
  #entries: [string, Uint8Array][];
  #immutable: boolean;
  /** Raw `[name, value, …]` headers not yet decoded (incoming requests are decoded lazily). */
  #raw: readonly string[] | undefined;

  constructor() {
    this.#entries = [];
    this.#immutable = false;
    this.#raw = undefined;
  }

  static fromRaw(raw: readonly string[]): Fields {
    const fields = new Fields();
    fields.#raw = raw;
    fields.#immutable = true;
    return fields;
  }

  static fromList(list: [string, Uint8Array][]): Fields {
    const fields = new Fields();
    for (const [name, value] of list) fields.#entries.push([checkName(name), checkValue(value)]);
    return fields;
  }

  /** An immutable handle over the same entries (what `headers()` accessors return). */
  static view(of: Fields): Fields {
    const view = new Fields();
    view.#entries = of.#decoded();
    view.#immutable = true;
    return view;
  }

  #decoded(): [string, Uint8Array][] {
    const raw = this.#raw;
    if (raw !== undefined) {
      this.#raw = undefined;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        this.#entries.push([(raw[i] as string).toLowerCase(), latin1(raw[i + 1] as string)]);
      }
    }
    return this.#entries;
  }

  #mutable(): [string, Uint8Array][] {
    if (this.#immutable) throw { tag: 'immutable' } satisfies HeaderError;
    return this.#decoded();
  }

  get(name: string): Uint8Array[] {
    const key = name.toLowerCase();
    const out: Uint8Array[] = [];
    for (const [n, v] of this.#decoded()) if (n === key) out.push(v);
    return out;
  }

  has(name: string): boolean {
    const key = name.toLowerCase();
    return this.#decoded().some(([n]) => n === key);
  }

  set(name: string, values: Uint8Array[]): void {
    const entries = this.#mutable();
    const key = checkName(name);
    values.forEach(checkValue);
    const kept = entries.filter(([n]) => n !== key);
    for (const v of values) kept.push([key, v]);
    this.#entries = kept;
  }

  delete(name: string): void {
    const entries = this.#mutable();
    const key = checkName(name);
    this.#entries = entries.filter(([n]) => n !== key);
  }

  append(name: string, value: Uint8Array): void {
    const entries = this.#mutable();
    entries.push([checkName(name), checkValue(value)]);
  }

  entries(): [string, Uint8Array][] {
    return this.#decoded().map(([n, v]) => [n, v]);
  }

  clone(): Fields {
    const copy = new Fields();
    copy.#entries = this.entries();
    return copy;
  }

  /** Freezes a guest-built `Fields` when ownership passes to a request or response. */
  seal(): this {
    this.#immutable = true;
    return this;
  }
}

type Method = { tag: string; val?: string };
type Scheme = { tag: 'HTTP' | 'HTTPS' } | { tag: 'other'; val: string };

const METHODS = new Set(['get', 'head', 'post', 'put', 'delete', 'connect', 'options', 'trace', 'patch']);

function toMethod(method: string): Method {
  const lower = method.toLowerCase();
  return METHODS.has(lower) && method === method.toUpperCase()
    ? { tag: lower }
    : { tag: 'other', val: method };
}

function toScheme(scheme: string): Scheme {
  if (scheme === 'http') return { tag: 'HTTP' };
  if (scheme === 'https') return { tag: 'HTTPS' };
  return { tag: 'other', val: scheme };
}

export class IncomingRequest {
  readonly #head: HttpRequestHead;
  readonly #body: ByteSource;
  #headers: Fields | undefined;
  #consumed = false;

  constructor(head: HttpRequestHead, body: ByteSource) {
    this.#head = head;
    this.#body = body;
  }

  method(): Method {
    return toMethod(this.#head.method);
  }

  pathWithQuery(): string | undefined {
    return this.#head.pathWithQuery;
  }

  scheme(): Scheme | undefined {
    return toScheme(this.#head.scheme);
  }

  authority(): string | undefined {
    return this.#head.authority;
  }

  headers(): Fields {
    this.#headers ??= Fields.fromRaw(this.#head.headers);
    return this.#headers;
  }

  consume(): IncomingBody {
    if (this.#consumed) throw undefined;
    this.#consumed = true;
    return new IncomingBody(this.#body);
  }
}

export class IncomingBody {
  readonly #source: ByteSource;
  #streamed = false;

  constructor(source: ByteSource) {
    this.#source = source;
  }

  stream(): InputStream {
    if (this.#streamed) throw undefined;
    this.#streamed = true;
    return new InputStream(this.#source);
  }

  static finish(_body: IncomingBody): FutureTrailers {
    return new FutureTrailers();
  }
}

export class FutureTrailers {
  #taken = false;

  subscribe(): Pollable {
    return new Pollable(ALWAYS_READY);
  }

  get(): unknown {
    if (this.#taken) return { tag: 'err', val: undefined };
    this.#taken = true;
    return { tag: 'ok', val: { tag: 'ok', val: undefined } };
  }
}

export class OutgoingResponse {
  readonly #headers: Fields;
  #status = 200;
  #body: OutgoingBody | undefined;

  constructor(headers: Fields) {
    this.#headers = headers.seal();
  }

  statusCode(): number {
    return this.#status;
  }

  setStatusCode(status: number): void {
    if (!Number.isInteger(status) || status < 100 || status > 599) throw undefined;
    this.#status = status;
  }

  headers(): Fields {
    return Fields.view(this.#headers);
  }

  body(): OutgoingBody {
    if (this.#body !== undefined) throw undefined;
    this.#body = new OutgoingBody();
    return this.#body;
  }

  /** Hands the response to the channel: head now, then the body as the guest writes it. */
  attach(channel: ResponseChannel): void {
    channel.head(this.#status, this.#headers.entries());
    this.#body ??= new OutgoingBody();
    this.#body.attach(channel);
  }
}

/**
 * A response or request body. The guest may write a response body before the response is handed
 * over, so writes go to a buffer that is replayed into the channel's sink once it is attached. A
 * request body is collected whole: the request goes out once the body is finished.
 */
export class OutgoingBody {
  #channel: ResponseChannel | undefined;
  #stream: OutputStream | undefined;
  readonly #early = new EarlySink();
  #finished: readonly [string, Uint8Array][] | undefined | null = null;
  readonly #request: RequestBody | undefined;

  constructor(request?: RequestBody) {
    this.#request = request;
  }

  write(): OutputStream {
    if (this.#stream !== undefined) throw undefined;
    this.#stream = new OutputStream(
      this.#request ?? new AttachableSink(this.#early, () => this.#channel?.body),
    );
    return this.#stream;
  }

  attach(channel: ResponseChannel): void {
    this.#channel = channel;
    for (const chunk of this.#early.drain()) channel.body.write(chunk);
    if (this.#finished !== null) channel.end(this.#finished);
  }

  static finish(body: OutgoingBody, trailers: Fields | undefined): void {
    if (body.#request !== undefined) {
      body.#request.finish();
      return;
    }
    const entries = trailers?.entries();
    if (body.#channel !== undefined) body.#channel.end(entries);
    else body.#finished = entries;
  }

  /** Dropped without `finish`: per wasi:http the body is incomplete, so its request must not go out. */
  [Symbol.dispose](): void {
    this.#request?.abandon();
  }
}

/** A stream error that wasi:http's `http-error-code` can turn into the error-code behind it. */
class HttpIoError extends IoError {
  readonly code: HttpErrorCode;

  constructor(message: string, code: HttpErrorCode) {
    super(message);
    this.code = code;
  }
}

const EMPTY = new Uint8Array(0);
/** How much a request body stream accepts per write; the body's size limit is checked on the total. */
const REQUEST_WRITE_WINDOW = 1024 * 1024;

type BodyOutcome = { tag: 'ok'; val: Uint8Array } | { tag: 'err'; val: HttpErrorCode };

/**
 * The body of an outgoing request, collected in the instance until the guest finishes it (the
 * provider sends it whole). Writing past the size limit fails the stream and the request.
 */
class RequestBody extends ImmediateSink {
  readonly #maxBytes: number;
  #chunks: Uint8Array[] = [];
  #bytes = 0;
  #error: HttpIoError | undefined;
  #state: 'open' | 'finished' | 'abandoned' = 'open';
  #onEnd: ((outcome: BodyOutcome) => void) | undefined;

  constructor(maxBytes: number) {
    super();
    this.#maxBytes = maxBytes;
  }

  get closed(): boolean {
    return this.#state !== 'open';
  }

  get error(): IoError | undefined {
    return this.#error;
  }

  capacity(): number {
    return this.#error === undefined ? REQUEST_WRITE_WINDOW : 0;
  }

  write(bytes: Uint8Array): void {
    if (this.#error !== undefined || this.#state !== 'open') return;
    if (this.#bytes + bytes.byteLength > this.#maxBytes) {
      this.#error = new HttpIoError(`request body exceeds ${this.#maxBytes} bytes`, {
        tag: 'HTTP-request-body-size',
        val: BigInt(this.#bytes + bytes.byteLength),
      });
      this.#chunks = [];
      return;
    }
    this.#chunks.push(bytes.slice());
    this.#bytes += bytes.byteLength;
  }

  /** Calls `onEnd` once the body is complete (at once if it already is), or has failed. */
  whenEnded(onEnd: (outcome: BodyOutcome) => void): void {
    this.#onEnd = onEnd;
    if (this.#state !== 'open') this.#end();
  }

  finish(): void {
    this.#state = 'finished';
    const error = this.#error;
    this.#end();
    if (error !== undefined) throw error.code;
  }

  abandon(): void {
    if (this.#state !== 'open') return;
    this.#state = 'abandoned';
    this.#end();
  }

  #end(): void {
    const onEnd = this.#onEnd;
    if (onEnd === undefined) return;
    this.#onEnd = undefined;
    if (this.#error !== undefined) onEnd({ tag: 'err', val: this.#error.code });
    else if (this.#state === 'abandoned') {
      onEnd({
        tag: 'err',
        val: { tag: 'internal-error', val: 'request body dropped before it was finished' },
      });
    } else onEnd({ tag: 'ok', val: concat(this.#chunks, this.#bytes) });
  }
}

/** A fresh buffer of exactly the body: a view into a larger one would carry all of it to the host. */
function concat(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (total === 0) return EMPTY;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

class EarlySink {
  #chunks: Uint8Array[] = [];
  #bytes = 0;

  push(bytes: Uint8Array): void {
    this.#chunks.push(bytes.slice());
    this.#bytes += bytes.byteLength;
  }

  get bytes(): number {
    return this.#bytes;
  }

  drain(): Uint8Array[] {
    const chunks = this.#chunks;
    this.#chunks = [];
    this.#bytes = 0;
    return chunks;
  }
}

const EARLY_LIMIT = 1024 * 1024;

/** Routes writes to the channel's sink once attached, and to a bounded early buffer before that. */
class AttachableSink implements ByteSink {
  readonly #early: EarlySink;
  readonly #target: () => ByteSink | undefined;

  constructor(early: EarlySink, target: () => ByteSink | undefined) {
    this.#early = early;
    this.#target = target;
  }

  get closed(): boolean {
    return this.#target()?.closed ?? false;
  }

  get error(): IoError | undefined {
    return this.#target()?.error;
  }

  capacity(): number {
    const target = this.#target();
    return target === undefined ? Math.max(0, EARLY_LIMIT - this.#early.bytes) : target.capacity();
  }

  write(bytes: Uint8Array): void {
    const target = this.#target();
    if (target === undefined) this.#early.push(bytes);
    else target.write(bytes);
  }

  flush(): void {
    this.#target()?.flush();
  }

  blockUntilWritable(): void {
    const target = this.#target();
    if (target === undefined) {
      throw failed(`response body exceeds ${EARLY_LIMIT} bytes before response-outparam.set was called`);
    }
    target.blockUntilWritable();
  }

  blockUntilDrained(): void {
    this.#target()?.blockUntilDrained();
  }

  ready(): boolean {
    return this.capacity() > 0;
  }

  wait(): Promise<void> {
    return this.#target()?.wait() ?? new Promise(() => {});
  }
}

export class ResponseOutparam {
  #channel: ResponseChannel | undefined;

  constructor(channel: ResponseChannel) {
    this.#channel = channel;
  }

  static set(
    param: ResponseOutparam,
    response: { tag: 'ok'; val: OutgoingResponse } | { tag: 'err'; val: HttpErrorCode },
  ): void {
    const channel = param.#channel;
    if (channel === undefined) throw new Error('response-outparam.set called twice');
    param.#channel = undefined;
    if (response.tag === 'ok') response.val.attach(channel);
    else channel.fail(response.val);
  }
}

export class RequestOptions {
  #connect: bigint | undefined;
  #firstByte: bigint | undefined;
  #betweenBytes: bigint | undefined;

  connectTimeout(): bigint | undefined {
    return this.#connect;
  }
  setConnectTimeout(value: bigint | undefined): void {
    this.#connect = value;
  }
  firstByteTimeout(): bigint | undefined {
    return this.#firstByte;
  }
  setFirstByteTimeout(value: bigint | undefined): void {
    this.#firstByte = value;
  }
  betweenBytesTimeout(): bigint | undefined {
    return this.#betweenBytes;
  }
  setBetweenBytesTimeout(value: bigint | undefined): void {
    this.#betweenBytes = value;
  }
}

export class OutgoingRequest {
  readonly #headers: Fields;
  #method: Method = { tag: 'get' };
  #path: string | undefined;
  #scheme: Scheme | undefined;
  #authority: string | undefined;
  #requestBody: RequestBody | undefined;
  readonly #maxBodyBytes: number;

  constructor(headers: Fields, maxBodyBytes = 0) {
    this.#headers = headers.seal();
    this.#maxBodyBytes = maxBodyBytes;
  }

  body(): OutgoingBody {
    if (this.#requestBody !== undefined) throw undefined;
    this.#requestBody = new RequestBody(this.#maxBodyBytes);
    return new OutgoingBody(this.#requestBody);
  }
  method(): Method {
    return this.#method;
  }
  setMethod(method: Method): void {
    if (method.tag === 'other' && !TOKEN.test(method.val ?? '')) throw undefined;
    this.#method = method;
  }
  pathWithQuery(): string | undefined {
    return this.#path;
  }
  setPathWithQuery(path: string | undefined): void {
    this.#path = path;
  }
  scheme(): Scheme | undefined {
    return this.#scheme;
  }
  setScheme(scheme: Scheme | undefined): void {
    this.#scheme = scheme;
  }
  authority(): string | undefined {
    return this.#authority;
  }
  setAuthority(authority: string | undefined): void {
    this.#authority = authority;
  }
  headers(): Fields {
    return Fields.view(this.#headers);
  }

  /** The request without its body, as it goes to the host. */
  describe(options: RequestOptions | undefined): Omit<HttpClientRequest, 'body'> {
    const headers: string[] = [];
    for (const [name, value] of this.#headers.entries()) {
      headers.push(name, latin1Text(value));
    }
    return {
      method: this.#method.tag === 'other' ? (this.#method.val ?? '') : this.#method.tag.toUpperCase(),
      scheme: this.#scheme === undefined ? undefined : schemeName(this.#scheme),
      authority: this.#authority,
      pathWithQuery: this.#path,
      headers,
      connectTimeoutMs: milliseconds(options?.connectTimeout()),
      firstByteTimeoutMs: milliseconds(options?.firstByteTimeout()),
      betweenBytesTimeoutMs: milliseconds(options?.betweenBytesTimeout()),
    };
  }

  /** The body the guest took with `body()`, if it took one. */
  get requestBody(): RequestBody | undefined {
    return this.#requestBody;
  }
}

function schemeName(scheme: Scheme): string {
  if (scheme.tag === 'other') return scheme.val;
  return scheme.tag === 'HTTP' ? 'http' : 'https';
}

/** A wasi:clocks duration (nanoseconds) in whole milliseconds, rounded up so 1 ns is not "no wait". */
function milliseconds(duration: bigint | undefined): number | undefined {
  if (duration === undefined) return undefined;
  const ms = (duration + 999_999n) / 1_000_000n;
  return ms > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ms);
}

export class IncomingResponse {
  readonly #response: HttpClientResponse;
  #headers: Fields | undefined;
  #consumed = false;

  constructor(response: HttpClientResponse) {
    this.#response = response;
  }

  status(): number {
    return this.#response.status;
  }

  headers(): Fields {
    this.#headers ??= Fields.fromRaw(this.#response.headers);
    return this.#headers;
  }

  consume(): IncomingBody {
    if (this.#consumed) throw undefined;
    this.#consumed = true;
    const source = new ChunkSource();
    source.push(this.#response.body);
    source.end();
    return new IncomingBody(source);
  }
}

/** The response to an outgoing request: pending until the request went out and came back. */
export class FutureIncomingResponse implements Readiness {
  #result: HttpClientResult | undefined;
  #taken = false;
  #waiters: (() => void)[] = [];

  resolve(result: HttpClientResult): void {
    this.#result = result;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  ready(): boolean {
    return this.#result !== undefined;
  }

  wait(): Promise<void> {
    if (this.ready()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  subscribe(): Pollable {
    return new Pollable(this);
  }

  get(): unknown {
    const result = this.#result;
    if (result === undefined) return undefined;
    if (this.#taken) return { tag: 'err', val: undefined };
    this.#taken = true;
    if (result.tag === 'err') return { tag: 'ok', val: result };
    return { tag: 'ok', val: { tag: 'ok', val: new IncomingResponse(result.val) } };
  }
}

/** How an instance's outgoing requests reach an HTTP client (the worker routes them to the host). */
export interface OutgoingHttpTransport {
  /** Largest request body a guest may write. */
  readonly maxBodyBytes: number;
  /**
   * Sends one complete request; `done` gets the whole response, or the error, once it is back (the
   * guest waits on the future's pollable meanwhile). Never throws.
   */
  send(request: HttpClientRequest, done: (result: HttpClientResult) => void): void;
}

/**
 * wasi:http/outgoing-handler of one instance, whose requests go through `transport`; without one
 * every request is denied. Outgoing HTTP is a capability the host grants through a link to an
 * http-client provider. The request leaves once its body is complete: at once when the guest wrote
 * none or already finished it, else when it calls `outgoing-body.finish` (JavaScript's fetch sends
 * the request first and streams the body after). Every failure, denial included, arrives through
 * the future as an error-code, so the guest can handle it rather than trap.
 */
export function outgoingHandler(transport: OutgoingHttpTransport | undefined): Record<string, unknown> {
  return {
    handle(request: OutgoingRequest, options: RequestOptions | undefined): FutureIncomingResponse {
      const future = new FutureIncomingResponse();
      const head = request.describe(options);
      const send = (body: Uint8Array): void => {
        if (transport === undefined) future.resolve({ tag: 'err', val: { tag: 'HTTP-request-denied' } });
        else transport.send({ ...head, body }, (result) => future.resolve(result));
      };
      const body = request.requestBody;
      if (body === undefined) send(EMPTY);
      else {
        body.whenEnded((outcome) => {
          if (outcome.tag === 'ok') send(outcome.val);
          else future.resolve(outcome);
        });
      }
      return future;
    },
  };
}

/** wasi:http/types of one instance, whose outgoing request bodies may hold `maxBodyBytes`. */
export function httpTypes(maxBodyBytes: number): Record<string, unknown> {
  return {
    Fields,
    IncomingRequest,
    IncomingBody,
    FutureTrailers,
    OutgoingResponse,
    OutgoingBody,
    ResponseOutparam,
    OutgoingRequest: class extends OutgoingRequest {
      constructor(headers: Fields) {
        super(headers, maxBodyBytes);
      }
    },
    RequestOptions,
    IncomingResponse,
    FutureIncomingResponse,
    httpErrorCode: (err: IoError) => (err instanceof HttpIoError ? err.code : undefined),
  };
}
