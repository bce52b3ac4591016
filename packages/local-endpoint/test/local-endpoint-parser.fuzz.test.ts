/**
 * Fuzzing the local endpoint's parser of the NATS client protocol: any bytes, cut into any pieces,
 * give operations and at most one protocol violation (with nats-server's `-ERR` text), never another
 * exception, and exactly the same result however the bytes were cut. Overlong control lines and
 * payload sizes that lie (larger than sent, negative, beyond the limit, beyond 2^64) are refused or
 * waited on without holding more than the bytes that arrived. Signal: the operations, the violation,
 * and the buffer memory held.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fc, fuzz } from '@cirrus/testing';
import { ClientProtocolParser, ProtocolViolation, WIRE } from '../src/local-endpoint-parser.ts';
import type { ClientOp } from '../src/local-endpoint-parser.ts';
import { clientStream, hostileOp, splitAt, validOp } from './nats-client-stream.ts';

const MAX_CONTROL_LINE = 256;
const MAX_PAYLOAD = 4096;
const WIRE_TEXTS: readonly string[] = Object.values(WIRE);
/** Buffer memory Node may allocate for itself meanwhile (a new pool slab, say). */
const SLACK = 512 * 1024;
const hex = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString('hex');

interface Parsed {
  ops: string[];
  violation: string | undefined;
}

/** Feeds `pieces` in order: the operations seen and the violation that stopped the parser, if any. */
function parse(
  pieces: readonly Uint8Array[],
  limits = { maxControlLine: MAX_CONTROL_LINE, maxPayload: MAX_PAYLOAD },
): Parsed {
  const ops: string[] = [];
  const parser = new ClientProtocolParser(limits, (op: ClientOp) =>
    ops.push(
      JSON.stringify(op.kind === 'PUB' ? { ...op, headers: hex(op.headers), payload: hex(op.payload) } : op),
    ),
  );
  let violation: string | undefined;
  for (const piece of pieces) {
    try {
      parser.push(piece);
    } catch (err) {
      assert.ok(err instanceof ProtocolViolation, `push threw ${String(err)}, not a protocol violation`);
      assert.ok(WIRE_TEXTS.includes(err.wire), `unknown -ERR text ${err.wire}`);
      assert.equal(violation, undefined, 'a stopped parser throws no more');
      violation = err.wire;
    }
  }
  return { ops, violation };
}

describe('local endpoint protocol parser under fuzzing', () => {
  it('any bytes cut into any pieces give the same operations and violation as uncut', () => {
    fuzz(
      fc.property(
        fc.oneof(clientStream(MAX_CONTROL_LINE), fc.uint8Array({ maxLength: 300 })),
        fc.array(fc.nat(), { maxLength: 16 }),
        (stream, cuts) => {
          const whole = parse([stream]);
          assert.deepEqual(parse(splitAt(stream, cuts)), whole);
        },
      ),
      500,
    );
  });

  it('valid operations after CONNECT parse without a violation, one byte at a time too', () => {
    fuzz(
      fc.property(fc.array(validOp, { maxLength: 10 }), (ops) => {
        const stream = Buffer.concat([Buffer.from('CONNECT {}\r\n'), ...ops]);
        const whole = parse([stream]);
        assert.equal(whole.violation, undefined);
        assert.equal(whole.ops.length, ops.length + 1);
        assert.deepEqual(parse([...stream].map((b) => Uint8Array.of(b))), whole);
      }),
      200,
    );
  });

  it('hostile operations are refused or waited on, holding no more than the bytes that arrived', () => {
    fuzz(
      fc.property(
        fc.array(hostileOp(MAX_CONTROL_LINE), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (ops, cuts) => {
          const stream = Buffer.concat([Buffer.from('CONNECT {}\r\n'), ...ops]);
          // The limit is set high, so a lying size is waited on rather than refused outright.
          const limits = { maxControlLine: MAX_CONTROL_LINE, maxPayload: 256 * 1024 * 1024 };
          const before = process.memoryUsage().arrayBuffers;
          const result = parse(splitAt(stream, cuts), limits);
          const held = process.memoryUsage().arrayBuffers - before;
          assert.ok(held <= 4 * stream.length + SLACK, `${held} bytes held for ${stream.length} bytes`);
          assert.deepEqual(result, parse([stream], limits));
        },
      ),
      300,
    );
  });

  it('a payload announced beyond the limit or beyond 2^64 is refused before any byte of it is stored', () => {
    fuzz(
      fc.property(
        fc.oneof(
          fc.integer({ min: 2 * SLACK, max: 2 ** 40 }).map(String),
          fc.constant(String(MAX_PAYLOAD + 1)),
          fc.constantFrom('18446744073709551616', '9'.repeat(15), '9'.repeat(16), '-1', '1e9'),
        ),
        fc.boolean(),
        (size, headers) => {
          const line = headers ? `HPUB a 1 ${size}\r\n` : `PUB a ${size}\r\n`;
          const before = process.memoryUsage().arrayBuffers;
          const { violation } = parse([Buffer.from(`CONNECT {}\r\n${line}`)]);
          const held = process.memoryUsage().arrayBuffers - before;
          assert.ok(held < SLACK, `${held} bytes held`);
          assert.ok(violation === WIRE.payload || violation === WIRE.parser, String(violation));
        },
      ),
      100,
    );
  });
});
