/**
 * __NAME__: answers every HTTP request with a greeting and the path it asked for. The greeting comes
 * from the component's config (GREETING in app.yaml), which the host hands it as its environment.
 */
import { getEnvironment } from 'wasi:cli/environment@0.2.12';
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from 'wasi:http/types@0.2.12';
import type { IncomingRequest } from 'wasi:http/types@0.2.12';

const encoder = new TextEncoder();

// Read on each request: module-level code runs once, at build time, before the host gives any config.
function greeting(): string {
  return new Map(getEnvironment()).get('GREETING') ?? 'Hello';
}

function handle(request: IncomingRequest, responseOut: ResponseOutparam): void {
  const body = encoder.encode(`${greeting()}!\npath: ${request.pathWithQuery() ?? '/'}\n`);
  const headers = Fields.fromList([
    ['content-type', encoder.encode('text/plain; charset=utf-8')],
    ['content-length', encoder.encode(String(body.byteLength))],
  ]);
  const response = new OutgoingResponse(headers);
  response.setStatusCode(200);
  const outgoing = response.body();
  ResponseOutparam.set(responseOut, { tag: 'ok', val: response });

  const stream = outgoing.write();
  stream.blockingWriteAndFlush(body);
  // The body is finished only once its stream is gone.
  stream[Symbol.dispose]?.();
  OutgoingBody.finish(outgoing, undefined);
}

// Exporting the handler itself (not a fetch event listener) lets the host reuse an instance for many requests.
export const incomingHandler = { handle };
