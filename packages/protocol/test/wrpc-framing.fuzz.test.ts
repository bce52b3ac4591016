/**
 * Fuzzing wRPC framing: a parameter stream cut into an invocation and `S.params` messages for any
 * `max_payload`, reply subject and headers, and a pending stream's chunks arriving split at
 * arbitrary byte boundaries, are put back together into exactly what was sent. Streams refuse what
 * breaks their contract (messages after the end, more than the limit) with typed errors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fc, fuzz } from '@cirrus/testing';
import {
  createWrpcByteStream,
  decodeWrpcStreamChunks,
  encodeWrpcStreamChunk,
  isCirrusError,
  PayloadTooLargeError,
  witTypeToString,
  wrpcFirstMessageBudget,
  wrpcInvocationMessages,
  wrpcStreamEnd,
  wrpcStreamMessages,
  WrpcDecodeError,
} from '../src/index.ts';
import { TYPED, valueOf, witType } from './wit-arbitraries.ts';

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** `bytes` cut into non-empty pieces at the given points (taken modulo its length, in any order). */
function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    if (point > from) out.push(bytes.subarray(from, point));
    from = point;
  }
  return out;
}

const headers = fc.option(
  fc.dictionary(
    fc.stringMatching(/^[A-Za-z0-9-]{1,12}$/),
    fc.oneof(fc.string({ maxLength: 20 }), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 })),
    { maxKeys: 4 },
  ),
  { nil: undefined },
);

describe('wRPC framing under fuzzing', () => {
  it('an invocation split for any max_payload, reply subject and headers reassembles to the same bytes', () => {
    fuzz(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 1, max: 700 }),
        fc.string({ maxLength: 60 }),
        headers,
        (params, maxPayload, replySubject, hdrs) => {
          const first = { maxPayload, replySubject, headers: hdrs };
          const { first: head, params: rest } = wrpcInvocationMessages(params, first);
          assert.ok(head.length <= wrpcFirstMessageBudget(first));
          assert.ok(rest.length >= 1, 'the terminator is always sent');
          assert.equal(rest.at(-1)?.length, 0);
          for (const msg of rest.slice(0, -1)) assert.ok(msg.length >= 1 && msg.length <= maxPayload);

          const stream = createWrpcByteStream({ initial: head, maxBytes: params.length });
          rest.forEach((msg, i) => assert.equal(stream.push(msg), i === rest.length - 1));
          assert.ok(stream.done);
          assert.deepEqual(stream.bytes(), params);
          assert.throws(() => stream.push(Uint8Array.of(1)), WrpcDecodeError);
        },
      ),
      300,
    );
  });

  it('stream messages past the size limit are refused with PAYLOAD_TOO_LARGE, whatever their split', () => {
    fuzz(
      fc.property(
        fc.uint8Array({ minLength: 2, maxLength: 2000 }),
        fc.integer({ min: 1, max: 300 }),
        fc.nat(),
        (bytes, maxPayload, limitSeed) => {
          const maxBytes = limitSeed % bytes.length;
          const stream = createWrpcByteStream({ maxBytes });
          let refused: unknown;
          try {
            for (const msg of wrpcStreamMessages(bytes, maxPayload)) stream.push(msg);
          } catch (err) {
            refused = err;
          }
          assert.ok(refused instanceof PayloadTooLargeError, String(refused));
          assert.ok(stream.byteLength <= maxBytes);
        },
      ),
      200,
    );
  });

  it("a pending stream's chunks decode to the chunks sent, however the bytes are split on arrival", () => {
    const chunked = witType(3).chain((element) =>
      fc
        .array(fc.array(valueOf(element), { minLength: 1, maxLength: 4 }), { minLength: 0, maxLength: 4 })
        .map((chunks) => ({ element, chunks })),
    );
    fuzz(
      fc.property(chunked, fc.array(fc.nat(), { maxLength: 12 }), ({ element, chunks }, cuts) => {
        const what = witTypeToString(element);
        const encoded: Uint8Array[] = [];
        const sent: unknown[] = [];
        let first = 0;
        for (const items of chunks) {
          const chunk = encodeWrpcStreamChunk(element, items, { firstIndex: first });
          encoded.push(chunk.bytes);
          // Chunks of numbers come back as typed arrays, as jco lifts them.
          sent.push(TYPED[element.kind]?.(items) ?? items);
          first += items.length;
        }
        encoded.push(wrpcStreamEnd());
        const bytes = concat(encoded);

        const received: unknown[] = [];
        let pending: Uint8Array = new Uint8Array(0);
        let index = 0;
        let done = false;
        for (const piece of splitAt(bytes, cuts)) {
          assert.equal(done, false, `${what}: bytes after the end-of-stream chunk`);
          pending = concat([pending, piece]);
          const result = decodeWrpcStreamChunks(element, pending, { firstIndex: index });
          received.push(...result.chunks);
          index += result.elementCount;
          pending = pending.slice(result.bytesRead);
          done = result.done;
        }
        assert.ok(done, `${what}: the end-of-stream chunk was read`);
        assert.equal(pending.length, 0);
        assert.equal(index, first);
        assert.deepStrictEqual(received, sent, what);
      }),
      300,
    );
  });

  it('arbitrary messages pushed into a byte stream are collected or refused with a Cirrus error', () => {
    fuzz(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }),
        fc.integer({ min: 0, max: 256 }),
        (messages, maxBytes) => {
          const stream = createWrpcByteStream({ maxBytes });
          for (const msg of messages) {
            try {
              stream.push(msg);
            } catch (err) {
              assert.ok(isCirrusError(err), String(err));
              return;
            }
          }
          assert.equal(stream.bytes().length, stream.byteLength);
        },
      ),
      200,
    );
  });
});
