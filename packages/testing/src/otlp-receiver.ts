/**
 * An OTLP/HTTP receiver for tests: the collector end that OpenTelemetry exporters send traces and
 * metrics to. It takes both encodings (protobuf and JSON, gzipped or not), records what arrives in
 * one plain shape (see otlp-decode.ts), and refuses anything else with the status a collector would
 * give, recording why in `errors`, so a test waiting for telemetry that never decodes can say so.
 */
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DeadlineError, withDeadline } from './deadline.ts';
import { decodeMetrics, decodeTraces } from './otlp-decode.ts';
import type { OtlpEncoding, ReceivedMetric, ReceivedSpan } from './otlp-decode.ts';

/** The largest body taken, compressed or not; larger ones get 413. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

const SIGNALS = new Map<string, 'traces' | 'metrics'>([
  ['/v1/traces', 'traces'],
  ['/v1/metrics', 'metrics'],
]);

const ENCODINGS = new Map<string, OtlpEncoding>([
  ['application/x-protobuf', 'protobuf'],
  ['application/json', 'json'],
]);

export interface ReceivedRequest {
  method: string;
  /** Without the query string. */
  path: string;
  /** The media type alone, lowercase: `application/x-protobuf`, `application/json`. */
  contentType: string;
  /** Lowercase; '' when the body was sent as is. */
  contentEncoding: string;
}

export interface OtlpWaitOptions {
  timeoutMs: number;
  /** What is awaited, for the error on timeout. */
  what: string;
}

export interface OtlpReceiver extends AsyncDisposable {
  /**
   * `http://127.0.0.1:PORT`, the base URL. Exporters configured through OTEL_EXPORTER_OTLP_ENDPOINT
   * append `/v1/traces` and `/v1/metrics` to it; the OpenTelemetry JS exporters' `url` option is
   * used verbatim, so it must name the path itself.
   */
  readonly url: string;
  /** Every span of every accepted request, in arrival order. */
  readonly spans: ReceivedSpan[];
  readonly metrics: ReceivedMetric[];
  /** Every request, accepted or not, in arrival order. */
  readonly requests: ReceivedRequest[];
  /** Why each refused request was refused (undecodable body, unknown path, ...). */
  readonly errors: Error[];
  /**
   * Resolves with the first value other than undefined that `pick` returns, checked now and after
   * each request; rejects with a DeadlineError naming `what` (and what did arrive) after `timeoutMs`.
   */
  waitFor<T>(pick: () => T | undefined, options: OtlpWaitOptions): Promise<T>;
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>;
}

interface Reply {
  status: number;
  contentType: string;
  body: string;
}

const gunzipAsync = promisify(gunzip);

class Receiver implements OtlpReceiver {
  readonly url: string;
  readonly spans: ReceivedSpan[] = [];
  readonly metrics: ReceivedMetric[] = [];
  readonly requests: ReceivedRequest[] = [];
  readonly errors: Error[] = [];
  readonly #server: Server;
  readonly #waiters = new Set<() => void>();
  #closed: Promise<void> | undefined;

  constructor(server: Server) {
    this.#server = server;
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('the receiver is not listening');
    this.url = `http://127.0.0.1:${address.port}`;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.#handle(req, res));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const request: ReceivedRequest = {
      method: req.method ?? '',
      path: (req.url ?? '').split('?', 1)[0] ?? '',
      contentType: (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '',
      contentEncoding: req.headers['content-encoding']?.trim().toLowerCase() ?? '',
    };
    this.requests.push(request);
    let reply: Reply;
    try {
      reply = await this.#accept(req, request);
    } catch (error) {
      reply = this.#refuse(request, 500, `the receiver failed: ${asError(error).message}`, error);
    }
    res.writeHead(reply.status, { 'content-type': reply.contentType }).end(reply.body);
    for (const check of this.#waiters) check();
  }

  async #accept(req: IncomingMessage, request: ReceivedRequest): Promise<Reply> {
    const signal = SIGNALS.get(request.path);
    if (signal === undefined) return this.#refuse(request, 404, 'not an OTLP path');
    if (request.method !== 'POST') return this.#refuse(request, 405, 'OTLP takes POST only');
    const encoding = ENCODINGS.get(request.contentType);
    if (encoding === undefined) return this.#refuse(request, 415, 'unsupported content type');
    const gzipped = request.contentEncoding === 'gzip';
    if (!gzipped && request.contentEncoding !== '' && request.contentEncoding !== 'identity') {
      return this.#refuse(request, 415, 'unsupported content encoding');
    }
    let body = await readBody(req);
    if (body === undefined) return this.#refuse(request, 413, `body over ${MAX_BODY_BYTES} bytes`);
    if (gzipped) {
      try {
        body = await gunzipAsync(body, { maxOutputLength: MAX_BODY_BYTES });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          return this.#refuse(request, 413, `body over ${MAX_BODY_BYTES} bytes once gunzipped`);
        }
        return this.#refuse(request, 400, `cannot gunzip the body: ${asError(error).message}`, error);
      }
    }
    try {
      if (signal === 'traces') this.spans.push(...decodeTraces(body, encoding));
      else this.metrics.push(...decodeMetrics(body, encoding));
    } catch (error) {
      return this.#refuse(request, 400, `cannot decode the body: ${asError(error).message}`, error);
    }
    // An empty Export*ServiceResponse: no partial_success to report.
    return encoding === 'json'
      ? { status: 200, contentType: 'application/json', body: '{}' }
      : { status: 200, contentType: 'application/x-protobuf', body: '' };
  }

  #refuse(request: ReceivedRequest, status: number, reason: string, cause?: unknown): Reply {
    const what = `${request.method} ${request.path} (${request.contentType || 'no content type'})`;
    this.errors.push(new Error(`${what}: ${status} ${reason}`, { cause }));
    return { status, contentType: 'text/plain; charset=utf-8', body: `${reason}\n` };
  }

  async waitFor<T>(pick: () => T | undefined, { timeoutMs, what }: OtlpWaitOptions): Promise<T> {
    let check = (): void => {};
    const found = new Promise<T>((resolve, reject) => {
      check = () => {
        try {
          const value = pick();
          if (value !== undefined) resolve(value);
        } catch (error) {
          reject(asError(error));
        }
      };
    });
    check();
    this.#waiters.add(check);
    try {
      return await withDeadline(found, timeoutMs, what);
    } catch (error) {
      if (!(error instanceof DeadlineError)) throw error;
      // What did arrive is usually the clue: the wrong path, or a body that would not decode.
      const errors = this.errors.map((e) => e.message).join('; ') || 'none';
      throw new DeadlineError(
        `${error.message} (${this.requests.length} request(s), ${this.spans.length} span(s), ` +
          `${this.metrics.length} metric(s); errors: ${errors})`,
      );
    } finally {
      this.#waiters.delete(check);
    }
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve, reject) => {
      this.#server.close((error) => (error === undefined ? resolve() : reject(error)));
      // close() only ends idle connections, and would wait for one an export is still using.
      this.#server.closeAllConnections();
    });
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Reads the whole body, or returns undefined once it passes the cap. Past the cap the rest is drained
 * unread rather than the connection cut, so that the sender gets to read the 413.
 */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      else chunks = [];
    });
    req.on('end', () => resolve(size <= MAX_BODY_BYTES ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** Starts a receiver on a free loopback port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return new Receiver(server);
}
