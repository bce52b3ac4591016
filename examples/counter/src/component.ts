/**
 * Counter: counts visits per request path in a wasi:keyvalue bucket and answers with the new count
 * and which instance served it. The count lives in the store, not the instance, so it is shared by
 * every instance and survives restarts when the store does.
 */
import { getEnvironment } from 'wasi:cli/environment@0.2.12';
import { Fields, OutgoingBody, OutgoingResponse, ResponseOutparam } from 'wasi:http/types@0.2.12';
import type { IncomingRequest } from 'wasi:http/types@0.2.12';
import { increment } from 'wasi:keyvalue/atomics@0.2.0-draft';
import { open } from 'wasi:keyvalue/store@0.2.0-draft';
import type { Error as KeyValueError } from 'wasi:keyvalue/store@0.2.0-draft';

const encoder = new TextEncoder();
let served = 0;
// Chosen on the first request: module-level code runs once at build time (the snapshot every
// instance starts from), so an id picked there would be the same in all instances.
let instanceId: string | undefined;

function bucketName(): string {
  // Read per request rather than cached: the environment is the host's, which is absent at build time.
  const env = new Map(getEnvironment());
  return env.get('BUCKET') ?? 'default';
}

/** The store's error variant, if `err` carries one (imports throw a ComponentError with it as payload). */
function keyValueError(err: unknown): KeyValueError | undefined {
  const payload = (err as { payload?: { tag?: unknown } } | null)?.payload;
  const tag = payload?.tag;
  return tag === 'no-such-store' || tag === 'access-denied' || tag === 'other'
    ? (payload as KeyValueError)
    : undefined;
}

function describe(error: KeyValueError): string {
  // The body promises one line, and a backend's message may span several.
  return error.tag === 'other' ? `other (${error.val.replace(/\s+/g, ' ').trim()})` : error.tag;
}

/** Adds one visit to `path` and returns the new total. */
function countVisit(path: string): bigint {
  const bucket = open(bucketName());
  try {
    // A WIT u64 goes in as a number: both engines take one (QuickJS refuses a BigInt), though the
    // declarations say bigint. Counts come back as a bigint or a number; both print the same.
    return increment(bucket, path, 1 as unknown as bigint);
  } finally {
    // Dropped at once so a host that pools instances does not accumulate bucket handles.
    bucket[Symbol.dispose]();
  }
}

function reply(responseOut: ResponseOutparam, status: number, text: string): void {
  const body = encoder.encode(text);
  const headers = Fields.fromList([
    ['content-type', encoder.encode('text/plain; charset=utf-8')],
    ['content-length', encoder.encode(String(body.byteLength))],
  ]);
  const response = new OutgoingResponse(headers);
  response.setStatusCode(status);
  const outgoing = response.body();
  ResponseOutparam.set(responseOut, { tag: 'ok', val: response });

  const stream = outgoing.write();
  stream.blockingWriteAndFlush(body);
  stream[Symbol.dispose]?.();
  OutgoingBody.finish(outgoing, undefined);
}

function handle(request: IncomingRequest, responseOut: ResponseOutparam): void {
  served += 1;
  instanceId ??= Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0');
  // The query is not part of the key: /a?x=1 and /a?x=2 are visits to the same page.
  const path = (request.pathWithQuery() ?? '/').split('?', 1)[0] || '/';

  let visits: bigint;
  try {
    visits = countVisit(path);
  } catch (err) {
    // A store failure is the caller's 503, not a trap: a trap would cost the host this instance.
    const error = keyValueError(err);
    const reason = error === undefined ? String(err).split('\n', 1)[0] : describe(error);
    reply(responseOut, 503, `key-value store unavailable: ${reason}\n`);
    return;
  }
  reply(
    responseOut,
    200,
    `${path} has been visited ${visits} time(s)\n` +
      `instance: ${instanceId} (request #${served} on this instance)\n`,
  );
}

export const incomingHandler = { handle };
