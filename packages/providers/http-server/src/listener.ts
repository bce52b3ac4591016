/**
 * One HTTP listener: a Node server with the request limits applied, a route table, and the glue that
 * streams each request into a component and its response back out.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AddressInUseError, CirrusError, errorCode, PayloadTooLargeError } from '@cirrus/protocol';
import type { Limits, Logger } from '@cirrus/protocol';
import { inSpan, SpanKind, traceContextOf } from '@cirrus/lattice';
import type { HttpBody, HttpResponseSink } from '@cirrus/runtime';
import type { ComponentCalls } from '@cirrus/provider-core';
import { requestTarget, RouteTable } from './routes.ts';
import type { ListenAddress } from './routes.ts';

const STATUS_BY_CODE: Record<string, number> = {
  AT_CAPACITY: 503,
  COMPONENT_NOT_RUNNING: 503,
  COMPONENT_STOPPED: 503,
  // Stopped beside a runaway instance on its worker thread: a replacement is starting.
  WORKER_STOPPED: 503,
  DEADLINE_EXCEEDED: 504,
  PAYLOAD_TOO_LARGE: 413,
  POLICY_DENIED: 403,
  POLICY_UNAVAILABLE: 503,
  POLICY_REPLY_INVALID: 503,
  // The component runs on another host and the call broke on the way there or back.
  WRPC_CALL_FAILED: 502,
  WRPC_STREAM_FAILED: 502,
  WRPC_STREAM_STALLED: 502,
  HTTP_REQUEST_FAILED: 502,
};

const REASON: Record<number, string> = {
  400: 'bad request target',
  403: 'forbidden by policy',
  404: 'no route',
  413: 'request body too large',
  500: 'the component failed',
  502: 'a call to another host failed',
  503: 'the component is not available',
  504: 'the component did not answer in time',
};

/**
 * Where in its source a component failed (`src/component.ts:12:11 in handle`), when its build kept a
 * source map: the location only, never the exception's message, which may hold data.
 */
function guestSource(err: unknown): string | undefined {
  if (!(err instanceof CirrusError) || err.code !== 'GUEST_TRAP') return undefined;
  const source = err.details?.['source'];
  const fn = err.details?.['function'];
  if (typeof source !== 'string') return undefined;
  return typeof fn === 'string' ? `${source} in ${fn}` : source;
}

function hasHeader(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if ((headers[i] as string).toLowerCase() === name) return true;
  return false;
}

/** Writes a component's response to a Node response, deferring the head so small bodies go in one write. */
class ResponseWriter implements HttpResponseSink {
  readonly #res: ServerResponse;
  #status = 200;
  #headers: string[] = [];
  #headPending = false;
  #started = false;

  constructor(res: ServerResponse) {
    this.#res = res;
  }

  /** True once the component produced a head (an error can then only abort the connection). */
  get started(): boolean {
    return this.#started;
  }

  head(status: number, headers: string[]): void {
    this.#started = true;
    this.#headPending = true;
    this.#status = status;
    this.#headers = headers;
  }

  #flushHead(contentLength?: number): void {
    if (!this.#headPending) return;
    this.#headPending = false;
    if (this.#res.headersSent) return;
    const headers = this.#headers;
    if (
      contentLength !== undefined &&
      !hasHeader(headers, 'content-length') &&
      !hasHeader(headers, 'transfer-encoding')
    ) {
      headers.push('content-length', String(contentLength));
    }
    this.#res.writeHead(this.#status, headers);
  }

  write(chunk: Uint8Array): Promise<void> {
    this.#flushHead();
    if (this.#res.destroyed) return Promise.reject(new Error('client connection closed'));
    return new Promise((resolve, reject) => {
      this.#res.write(chunk, (err) => (err ? reject(err) : resolve()));
    });
  }

  end(chunks: Uint8Array[], trailers: string[] | undefined): void {
    const single = chunks.length === 1 ? (chunks[0] as Uint8Array) : undefined;
    const total = chunks.length === 0 ? 0 : single?.byteLength;
    this.#flushHead(trailers === undefined ? total : undefined);
    if (this.#res.destroyed) return;
    if (single !== undefined && trailers === undefined) {
      this.#res.end(single);
      return;
    }
    for (const chunk of chunks) this.#res.write(chunk);
    if (trailers !== undefined) {
      const map: Record<string, string> = {};
      for (let i = 0; i + 1 < trailers.length; i += 2) map[trailers[i] as string] = trailers[i + 1] as string;
      this.#res.addTrailers(map);
    }
    this.#res.end();
  }
}

/** The request body with the size limit enforced while it streams. */
async function* limitedBody(
  req: IncomingMessage,
  maxBytes: number,
  onTooLarge: () => void,
): AsyncIterable<Uint8Array> {
  let total = 0;
  // Leaving the loop must not destroy the request: that resets the connection while the client is
  // still uploading, and the 413 it is about to get is lost.
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    total += chunk.byteLength;
    if (total > maxBytes) {
      onTooLarge();
      throw new PayloadTooLargeError(`request body exceeds ${maxBytes} bytes`);
    }
    yield chunk;
  }
}

/**
 * Closes a connection the way Apache's lingering close does. A response that ends a connection while
 * the client is still sending (a 413 during an upload) is followed by a close with unread bytes in
 * the receive buffer, which makes the kernel send a reset; the client may then lose the response
 * before it reads it. Instead the write side is shut down after the response, what the client
 * still sends is read and dropped for up to `lingerMs`, and only then is the socket closed. Node's
 * server closes a `Connection: close` response through `destroySoon`; this socket's is replaced.
 */
function lingerOnClose(res: ServerResponse, lingerMs: number): void {
  const socket = res.socket;
  if (socket === null || lingerMs === 0) return;
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    // The peer is done sending once it half-closes too.
    socket.once('end', () => socket.destroy());
    // Whatever of the request body still arrives is dropped, so the parser keeps reading it.
    res.req.on('data', () => undefined);
    res.req.resume();
    socket.resume();
  };
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return Number(length) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}

export interface ListenerOptions {
  address: ListenAddress;
  limits: Limits;
  logger: Logger;
  components: ComponentCalls;
}

export class Listener {
  readonly address: ListenAddress;
  readonly routes = new RouteTable();
  readonly #server: Server;
  readonly #options: ListenerOptions;
  #inFlight = 0;
  /** Refusals for capacity in a row, per connection; a served request clears them. */
  readonly #refusals = new WeakMap<Socket, number>();
  #draining = false;
  #idle: (() => void) | undefined;

  private constructor(options: ListenerOptions, server: Server) {
    this.address = options.address;
    this.#options = options;
    this.#server = server;
  }

  static async open(options: ListenerOptions): Promise<Listener> {
    const { limits } = options;
    const checkEvery = Math.max(
      50,
      Math.min(1_000, Math.floor(Math.min(limits.httpHeadersTimeoutMs, limits.httpRequestTimeoutMs) / 4)),
    );
    const server = createServer({
      maxHeaderSize: limits.httpMaxHeaderBytes,
      headersTimeout: limits.httpHeadersTimeoutMs,
      requestTimeout: limits.httpRequestTimeoutMs,
      keepAliveTimeout: limits.httpKeepAliveTimeoutMs,
      connectionsCheckingInterval: checkEvery,
    });
    const listener = new Listener(options, server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void listener.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') {
          reject(
            new AddressInUseError(`${options.address.key} is already in use`, {
              hint: 'stop the other program on that port or set another address in the link config (address=HOST:PORT)',
            }),
          );
        } else reject(err);
      });
      server.listen(options.address.port, options.address.host, () => resolve());
    });
    server.on('error', (err) =>
      options.logger.error('http listener error', { address: options.address.key, error: err.message }),
    );
    return listener;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : this.address.port;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { limits, logger, components } = this.#options;
    const target = requestTarget(req.url ?? '/', req.headers.host, this.address.key);
    if (target === undefined) {
      this.#reply(res, 400, true);
      return;
    }
    const { path } = target;
    const route = this.routes.match(target.authority, path);
    if (route === undefined) {
      this.#reply(res, 404);
      return;
    }
    if (Number(req.headers['content-length'] ?? 0) > limits.httpMaxBodyBytes) {
      this.#reply(res, 413, true);
      return;
    }
    this.#inFlight++;
    if (this.#draining) res.setHeader('connection', 'close');
    const writer = new ResponseWriter(res);
    let tooLarge = false;
    const body: HttpBody = hasBody(req)
      ? limitedBody(req, limits.httpMaxBodyBytes, () => {
          tooLarge = true;
          if (!writer.started) this.#reply(res, 413, true);
        })
      : null;
    const head = {
      method: req.method ?? 'GET',
      pathWithQuery: target.pathWithQuery,
      scheme: 'http' as const,
      authority: target.authority,
      headers: req.rawHeaders,
    };
    // A client that goes away before its response is complete abandons the call.
    const abandoned = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) abandoned.abort();
    };
    res.once('close', onClose);
    try {
      await inSpan(
        head.method,
        {
          kind: SpanKind.SERVER,
          parent: traceContextOf(req.headers),
          attributes: {
            'http.request.method': head.method,
            'url.path': path,
            'url.scheme': 'http',
            'server.address': target.authority,
            'network.protocol.version': req.httpVersion,
            'cirrus.component_id': route.componentId,
          },
        },
        async (span) => {
          await components.handleHttp(route.componentId, head, body, writer, abandoned.signal);
          span.setAttribute('http.response.status_code', res.statusCode);
        },
      );
      this.#refusals.delete(req.socket);
    } catch (err) {
      const code = errorCode(err);
      if (tooLarge) {
        if (!res.headersSent) this.#reply(res, 413, true);
      } else if (writer.started || res.headersSent) {
        logger.error('response aborted', {
          code,
          component: route.componentId,
          method: head.method,
          path,
          error: err instanceof Error ? err.message : String(err),
        });
        res.destroy();
      } else {
        const status = STATUS_BY_CODE[code] ?? 500;
        const message = err instanceof Error ? err.message : String(err);
        logger.error('request failed', {
          code,
          status,
          component: route.componentId,
          method: head.method,
          path,
          error: message,
        });
        this.#reply(res, status, false, code, guestSource(err));
        // Shedding: a client refused for capacity reads its 503 at once, but its next request on
        // this connection is read only after a pause, twice as long for each refusal in a row (up
        // to httpOverloadPauseMaxMs). Impatient clients that retry at once would otherwise
        // turn every refusal into another request to parse and refuse, and the main thread, busy
        // refusing, would starve the requests it can serve.
        if (code === 'AT_CAPACITY') this.#pauseAfterRefusal(req.socket);
      }
    } finally {
      res.off('close', onClose);
      this.#inFlight--;
      if (this.#inFlight === 0) this.#idle?.();
    }
  }

  #pauseAfterRefusal(socket: Socket): void {
    const { httpOverloadPauseMs, httpOverloadPauseMaxMs } = this.#options.limits;
    const refusals = (this.#refusals.get(socket) ?? 0) + 1;
    this.#refusals.set(socket, refusals);
    // Past 2^30 the doubling only overflows; the maximum is long reached by then.
    const ms = Math.min(httpOverloadPauseMs * 2 ** Math.min(refusals - 1, 30), httpOverloadPauseMaxMs);
    if (ms === 0 || socket.destroyed) return;
    socket.pause();
    setTimeout(() => {
      if (!socket.destroyed) socket.resume();
    }, ms).unref();
  }

  #reply(res: ServerResponse, status: number, close = false, code?: string, source?: string): void {
    if (res.headersSent || res.destroyed) return;
    if (close) lingerOnClose(res, this.#options.limits.httpLingerMs);
    const text = `${REASON[status] ?? 'error'}${code === undefined ? '' : ` (${code})`}${source === undefined ? '' : ` at ${source}`}\n`;
    const headers: Record<string, string | number> = {
      'content-type': 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    };
    if (status === 503) headers['retry-after'] = 1;
    if (close) headers['connection'] = 'close';
    res.writeHead(status, headers);
    res.end(text);
  }

  /** Stops accepting, lets requests in flight finish for up to `drainMs`, then closes every connection. */
  async close(drainMs: number): Promise<void> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    if (this.#inFlight > 0 && drainMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs);
        this.#idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.#server.closeAllConnections();
    await closed;
  }

  /** Open sockets, for diagnostics. */
  connections(): Promise<number> {
    return new Promise((resolve) => this.#server.getConnections((_, n) => resolve(n)));
  }
}
