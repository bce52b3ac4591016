/**
 * Hello: answers every request with a greeting, the method and path, and which instance served it.
 * The counter lives in the instance, so successive requests show the host reusing warm instances.
 */
import { getEnvironment } from 'wasi:cli/environment@0.2.12';
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from 'wasi:http/types@0.2.12';
import type { IncomingRequest } from 'wasi:http/types@0.2.12';

const encoder = new TextEncoder();
let served = 0;
// Chosen on the first request: module-level code runs once at build time (the snapshot every
// instance starts from), so an id picked there would be the same in all instances.
let instanceId: string | undefined;

function greeting(): string {
  const env = new Map(getEnvironment());
  return env.get('GREETING') ?? 'Hello from Cirrus';
}

function methodName(request: IncomingRequest): string {
  const method = request.method();
  return method.tag === 'other' ? method.val : method.tag.toUpperCase();
}

function handle(request: IncomingRequest, responseOut: ResponseOutparam): void {
  served += 1;
  instanceId ??= Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  const text =
    `${greeting()}!\n` +
    `method: ${methodName(request)}\n` +
    `path: ${request.pathWithQuery() ?? '/'}\n` +
    `instance: ${instanceId} (request #${served} on this instance)\n`;
  const body = encoder.encode(text);

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
  stream[Symbol.dispose]?.();
  OutgoingBody.finish(outgoing, undefined);
}

export const incomingHandler = { handle };
