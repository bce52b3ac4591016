/**
 * wasi:http/types for one instance: the resources a component uses to read an incoming request and
 * build its response. Bytes cross to the host through a `ResponseChannel`; nothing here touches a
 * socket.
 */
import { Buffer } from 'node:buffer';
import type { HttpRequestHead } from '../http-types.ts';
import { ALWAYS_READY, failed, InputStream, OutputStream, Pollable } from './io.ts';
import type { ByteSink, ByteSource, IoError } from './io.ts';

export type HeaderError = { tag: 'invalid-syntax' } | { tag: 'forbidden' } | { tag: 'immutable' };

/** The wasi:http `error-code` variant (only the cases the host produces are spelled out). */
export type HttpErrorCode = { tag: string; val?: unknown };

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

export function latin1(value: string): Uint8Array {
  return Buffer.from(value, 'latin1');
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
 * A response body. The guest may write before the response is handed over, so writes go to a
 * buffer that is replayed into the channel's sink once it is attached.
 */
export class OutgoingBody {
  #channel: ResponseChannel | undefined;
  #stream: OutputStream | undefined;
  readonly #early = new EarlySink();
  #finished: readonly [string, Uint8Array][] | undefined | null = null;

  write(): OutputStream {
    if (this.#stream !== undefined) throw undefined;
    this.#stream = new OutputStream(new AttachableSink(this.#early, () => this.#channel?.body));
    return this.#stream;
  }

  attach(channel: ResponseChannel): void {
    this.#channel = channel;
    for (const chunk of this.#early.drain()) channel.body.write(chunk);
    if (this.#finished !== null) channel.end(this.#finished);
  }

  static finish(body: OutgoingBody, trailers: Fields | undefined): void {
    const entries = trailers?.entries();
    if (body.#channel !== undefined) body.#channel.end(entries);
    else body.#finished = entries;
  }
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
  #body: OutgoingBody | undefined;

  constructor(headers: Fields) {
    this.#headers = headers.seal();
  }

  body(): OutgoingBody {
    if (this.#body !== undefined) throw undefined;
    this.#body = new OutgoingBody();
    return this.#body;
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
}

export class IncomingResponse {}

export class FutureIncomingResponse {
  readonly #result: unknown;

  constructor(result: unknown) {
    this.#result = result;
  }

  subscribe(): Pollable {
    return new Pollable(ALWAYS_READY);
  }

  get(): unknown {
    return { tag: 'ok', val: this.#result };
  }
}

/**
 * wasi:http/outgoing-handler. Outgoing HTTP is a capability: without a link to an HTTP client
 * provider the request is refused with the `HTTP-request-denied` error code.
 */
export const outgoingHandler = {
  handle(_request: OutgoingRequest, _options: RequestOptions | undefined): FutureIncomingResponse {
    throw { tag: 'HTTP-request-denied' } satisfies HttpErrorCode;
  },
};

export const httpTypes = {
  Fields,
  IncomingRequest,
  IncomingBody,
  FutureTrailers,
  OutgoingResponse,
  OutgoingBody,
  ResponseOutparam,
  OutgoingRequest,
  RequestOptions,
  IncomingResponse,
  FutureIncomingResponse,
  httpErrorCode: (_err: IoError) => undefined,
};
