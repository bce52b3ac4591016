/** An HTTP request as it enters a component, before the body. */
export interface HttpRequestHead {
  method: string;
  pathWithQuery: string;
  scheme: 'http' | 'https';
  authority: string;
  /** Raw headers as `[name, value, name, value, …]`, as Node's `rawHeaders`. */
  headers: string[];
}

/** Receives a component's HTTP response as it is produced. */
export interface HttpResponseSink {
  /** Status and raw headers (`[name, value, …]`). Called once, before any body bytes. */
  head(status: number, headers: string[]): void;
  /** Resolves when the bytes have been handed to the client (flow control for the component). */
  write(chunk: Uint8Array): Promise<void>;
  /** The last chunks of the body (often the whole body) and optional trailers; ends the response. */
  end(chunks: Uint8Array[], trailers: string[] | undefined): void;
}

/** A request body as it arrives; null when the request has none. */
export type HttpBody = AsyncIterable<Uint8Array> | null;

/**
 * One request a component sends through wasi:http/outgoing-handler, as it crosses from the instance
 * to the http-client provider: the body is complete, headers are raw (`[name, value, …]`, latin1).
 */
export interface HttpClientRequest {
  method: string;
  /** `http`, `https`, another scheme the guest named, or undefined when it named none. */
  scheme: string | undefined;
  authority: string | undefined;
  pathWithQuery: string | undefined;
  headers: string[];
  body: Uint8Array;
  /** The guest's request-options, in milliseconds; the provider caps them by its limits. */
  connectTimeoutMs: number | undefined;
  firstByteTimeoutMs: number | undefined;
  betweenBytesTimeoutMs: number | undefined;
}

export interface HttpClientResponse {
  status: number;
  /** Raw headers as `[name, value, …]` (latin1). */
  headers: string[];
  /** The whole body. */
  body: Uint8Array;
}

/** The wasi:http `error-code` variant as jco represents it, e.g. `{ tag: 'HTTP-request-denied' }`. */
export type HttpErrorCode = { tag: string; val?: unknown };

/** What the http-client provider answers: the response, or the error-code the guest sees. */
export type HttpClientResult = { tag: 'ok'; val: HttpClientResponse } | { tag: 'err'; val: HttpErrorCode };
