/**
 * HTTP to a component on another host (§4.2 of the 1.x protocol): the HTTP server's request goes
 * out as `wrpc:http/incoming-handler@0.1.0` `handle`, and every host serves that function for the
 * components it runs that export `wasi:http/incoming-handler`, in the component id's queue group.
 * Bodies stream both ways under wRPC flow control; trailers follow them.
 *
 * A failure before the response head travels as the `internal-error` error code with the Cirrus
 * error inside (`CODE: message`), so that the HTTP server on the calling host answers the status of
 * that code (503 at capacity, 403 denied by policy, …) as it would for a component of its own; a 1.x
 * peer reads it as an internal error.
 */
import {
  CirrusError,
  ComponentNotRunningError,
  describeError,
  errorFromJSON,
  HttpRequestFailedError,
  NoRespondersError,
  RequestTimeoutError,
  DeadlineExceededError,
  afterPendingEvents,
} from '@cirrus/protocol';
import { httpRequestFailed, invokeHttpHandle, serveHttpHandle } from '@cirrus/lattice';
import type { HttpResponse, ReceivedHttpRequest, Subscription } from '@cirrus/lattice';
import type { HttpBody, HttpRequestHead, HttpResponseSink } from '@cirrus/runtime';
import type { ComponentWrpcOptions } from './components.ts';

/** Handles one request with a component running here (the policy check included). */
export type LocalHttpHandler = (
  head: HttpRequestHead,
  body: HttpBody,
  sink: HttpResponseSink,
) => Promise<void>;

const CARRIED_ERROR = /^([A-Z][A-Z0-9_]*): ([\s\S]*)$/;

/**
 * Sends one request to `componentId` on whichever host serves it and writes the response to `sink`.
 * Rejects like a local call would: COMPONENT_NOT_RUNNING when no host runs the component,
 * DEADLINE_EXCEEDED when no response head arrives in time, the serving host's own error when it
 * refused the request, and WRPC_CALL_FAILED or WRPC_STREAM_FAILED when the call broke on the way.
 */
export async function invokeComponentHttp(
  options: ComponentWrpcOptions,
  componentId: string,
  head: HttpRequestHead,
  body: HttpBody,
  sink: HttpResponseSink,
  signal?: AbortSignal,
): Promise<void> {
  let response;
  try {
    response = await invokeHttpHandle(options.connection, {
      lattice: options.lattice,
      targetId: componentId,
      request: {
        method: head.method,
        pathWithQuery: head.pathWithQuery,
        scheme: head.scheme,
        authority: head.authority,
        headers: head.headers,
        body,
      },
      timeoutMs: options.limits.invocationTimeoutMs,
      maxBytes: options.limits.wrpcMaxValueBytes,
      streamLimits: options.limits,
      signal,
      sign: options.sign,
    });
  } catch (err) {
    throw asLocalFailure(componentId, err, options.limits.invocationTimeoutMs);
  }
  sink.head(response.status, response.headers.flat());
  // The last chunk goes out with the end of the response, as a local component's does: a body of
  // one chunk is one write with its length, and a client that has its whole body and hangs up is
  // not mistaken for one that went away.
  let held: Uint8Array | undefined;
  for await (const chunk of response.body) {
    if (held !== undefined) await sink.write(held);
    held = chunk;
  }
  const trailers = await response.trailers;
  sink.end(
    held === undefined ? [] : [held],
    trailers === undefined || trailers.length === 0 ? undefined : trailers.flat(),
  );
}

/** The error the HTTP server on this host maps to a status, for a remote call that failed. */
function asLocalFailure(componentId: string, err: unknown, timeoutMs: number): unknown {
  if (err instanceof NoRespondersError) {
    return new ComponentNotRunningError(`component ${componentId} is not running on any host`, {
      hint: `start it: cirrus scale component <host> <ref> ${componentId} --count 1`,
    });
  }
  if (err instanceof RequestTimeoutError) {
    return new DeadlineExceededError(`${componentId} did not answer within ${timeoutMs} ms`, {
      hint: 'the component is slow or its host is unreachable; raise invocationTimeoutMs if the work is legitimately long',
    });
  }
  if (err instanceof HttpRequestFailedError && err.details?.['errorCode'] === 'internal-error') {
    const payload = err.details['payload'];
    const carried = typeof payload === 'string' ? CARRIED_ERROR.exec(payload) : null;
    if (carried !== null) return errorFromJSON({ code: carried[1] as string, message: carried[2] as string });
  }
  return err;
}

/** Serves `wrpc:http/incoming-handler@0.1.0` for a component running here. */
export function serveComponentHttp(
  options: ComponentWrpcOptions,
  componentId: string,
  handle: LocalHttpHandler,
): Subscription {
  return serveHttpHandle(options.connection, {
    lattice: options.lattice,
    id: componentId,
    logger: options.logger,
    maxBytes: options.limits.wrpcMaxValueBytes,
    maxPayload: options.connection.maxPayload,
    timeoutMs: options.limits.invocationTimeoutMs,
    streamLimits: options.limits,
    verify: options.verify,
    handler: (request, context) => respond(componentId, handle, request, context.signal, options),
  });
}

async function respond(
  componentId: string,
  handle: LocalHttpHandler,
  request: ReceivedHttpRequest,
  signal: AbortSignal,
  options: ComponentWrpcOptions,
): Promise<HttpResponse> {
  const channel = new ResponseChannel(signal);
  const head: HttpRequestHead = {
    method: request.method,
    pathWithQuery: request.pathWithQuery ?? '/',
    scheme: request.scheme === 'https' ? 'https' : 'http',
    authority: request.authority ?? '',
    headers: request.headers.flat(),
  };
  handle(head, carriesBody(request.headers) ? request.body : null, channel).then(
    () => channel.close(),
    (err: unknown) => {
      if (channel.started) {
        options.logger.warn('HTTP response to another host aborted', {
          component: componentId,
          error: describeError(err),
        });
      }
      channel.close(err instanceof Error ? err : new Error(String(err)));
    },
  );
  try {
    return await channel.response;
  } catch (err) {
    const carried = err instanceof CirrusError ? `${err.code}: ${err.message}` : `INTERNAL: ${String(err)}`;
    throw httpRequestFailed({ tag: 'internal-error', val: carried }, carried);
  }
}

/**
 * Whether a request has a body, by its headers as HTTP/1.1 frames it. wRPC sends a body stream with
 * every request, empty or not; a component told there is none answers without waiting for its end,
 * as it does for a request of this host's own HTTP server.
 */
function carriesBody(headers: readonly (readonly [string, string])[]): boolean {
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding') return true;
    if (lower === 'content-length' && value.trim() !== '0') return true;
  }
  return false;
}

/**
 * A component's response as it is produced, read as a wRPC response. A response the component
 * completes right after its head (most do: the instance hands over small bodies whole) is given
 * whole, so that it can travel inline with the head. Otherwise the head settles the promise once a
 * turn of the event loop has passed, the body is read chunk by chunk, and each write resolves once
 * its chunk is taken, so the component runs no further ahead than the stream's flow control lets
 * the reader.
 */
class ResponseChannel implements HttpResponseSink {
  readonly response: Promise<HttpResponse>;
  #resolveHead!: (response: HttpResponse) => void;
  #rejectHead!: (err: unknown) => void;
  #head: { status: number; headers: string[] } | undefined;
  /** The response has been handed over (whole, or as a stream). */
  #given = false;
  readonly #chunks: { chunk: Uint8Array; taken: () => void }[] = [];
  #ended = false;
  #failure: Error | undefined;
  #wake: (() => void) | undefined;
  #trailers: string[] | undefined;
  /** Settles the trailers once the body has been read (or abandoned). */
  #bodyDone: (() => void) | undefined;
  readonly #signal: AbortSignal;

  constructor(signal: AbortSignal) {
    this.#signal = signal;
    this.response = new Promise((resolve, reject) => {
      this.#resolveHead = resolve;
      this.#rejectHead = reject;
    });
    signal.addEventListener('abort', () => this.close(new Error('the calling host abandoned the request')), {
      once: true,
    });
  }

  get started(): boolean {
    return this.#head !== undefined;
  }

  head(status: number, headers: string[]): void {
    this.#head = { status, headers };
    afterPendingEvents(() => this.#giveStream());
  }

  #giveStream(): void {
    const head = this.#head;
    if (this.#given || head === undefined) return;
    this.#given = true;
    const trailers = new Promise<void>((resolve) => (this.#bodyDone = resolve));
    this.#resolveHead({ ...head, body: this.#body(), trailers: trailers.then(() => this.#trailers) });
  }

  write(chunk: Uint8Array): Promise<void> {
    if (this.#failure !== undefined || this.#signal.aborted) {
      return Promise.reject(this.#failure ?? new Error('the calling host abandoned the request'));
    }
    this.#giveStream();
    return new Promise((taken) => {
      this.#chunks.push({ chunk, taken });
      this.#wake?.();
    });
  }

  end(chunks: Uint8Array[], trailers: string[] | undefined): void {
    const head = this.#head;
    if (!this.#given && head !== undefined && this.#failure === undefined) {
      this.#given = true;
      this.#ended = true;
      this.#resolveHead({ ...head, body: concat(chunks), trailers });
      return;
    }
    for (const chunk of chunks) this.#chunks.push({ chunk, taken: () => undefined });
    this.#trailers = trailers;
    this.#ended = true;
    this.#wake?.();
  }

  /** The call is over: without `err` the response is complete; with it, it fails where it stands. */
  close(err?: Error): void {
    if (err === undefined) {
      if (this.#head === undefined) this.#rejectHead(new Error('the component ended without a response'));
      else this.#giveStream();
      this.#ended = true;
    } else {
      this.#failure ??= err;
      this.#rejectHead(err);
    }
    this.#wake?.();
  }

  async *#body(): AsyncIterable<Uint8Array> {
    try {
      for (;;) {
        const next = this.#chunks.shift();
        if (next !== undefined) {
          next.taken();
          if (next.chunk.byteLength > 0) yield next.chunk;
          continue;
        }
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#ended) break;
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
      }
    } finally {
      this.#bodyDone?.();
      // A reader that stops early: the component's next write fails, and it stops producing.
      this.#failure ??= new Error('the calling host stopped reading the response');
      for (const pending of this.#chunks.splice(0)) pending.taken();
    }
  }
}

function concat(chunks: readonly Uint8Array[]): Uint8Array | null {
  if (chunks.length === 0) return null;
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
