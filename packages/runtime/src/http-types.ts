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
