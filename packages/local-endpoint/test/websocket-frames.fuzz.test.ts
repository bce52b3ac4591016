/**
 * Fuzzing the websocket frame parser: messages cut into fragments with pings between them, masked,
 * and the bytes then cut into any pieces give back the same data and pings as a whole; any bytes at
 * all give data and at most one framing violation (with its close code), never another exception,
 * however they were cut. Signal: the data, the pings, the violation.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { fc, fuzz } from '@cirrus/testing';
import { CLOSE, FrameParser, WebSocketViolation } from '../src/websocket-frames.ts';
import { splitAt } from './nats-client-stream.ts';

const MAX_FRAME = 100_000;

/** A masked client frame. */
function frame(opcode: number, payload: Uint8Array, fin: boolean): Uint8Array {
  const length = payload.length;
  const head =
    length < 126
      ? [length]
      : length < 0x10000
        ? [126, length >> 8, length & 0xff]
        : [127, 0, 0, 0, 0, 0, length >> 16, (length >> 8) & 0xff, length & 0xff];
  const mask = randomBytes(4);
  const body = payload.map((byte, i) => byte ^ (mask[i & 3] as number));
  return Buffer.concat([
    Buffer.of((fin ? 0x80 : 0) | opcode, 0x80 | (head[0] as number), ...head.slice(1)),
    mask,
    body,
  ]);
}

interface Parsed {
  data: string;
  pings: string[];
  violation: number | undefined;
}

/** Feeds copies of `pieces` (the parser unmasks in place) in order. */
function parse(pieces: readonly Uint8Array[]): Parsed {
  const data: Uint8Array[] = [];
  const pings: string[] = [];
  let violation: number | undefined;
  const parser = new FrameParser(MAX_FRAME, {
    data: (bytes) => data.push(Uint8Array.from(bytes)),
    ping: (payload) => pings.push(Buffer.from(payload).toString('hex')),
    close: () => {},
  });
  for (const piece of pieces) {
    try {
      parser.push(Uint8Array.from(piece));
    } catch (err) {
      assert.ok(err instanceof WebSocketViolation, `push threw ${String(err)}, not a framing violation`);
      assert.ok(Object.values(CLOSE).includes(err.code as never), `unknown close code ${err.code}`);
      violation = err.code;
      parser.stop();
    }
  }
  return { data: Buffer.concat(data).toString('hex'), pings, violation };
}

/** Messages as fragments (lengths across the 7-, 16- and 64-bit forms) with pings between them. */
const messages = fc.array(
  fc.record({
    fragments: fc.array(
      fc.oneof(
        { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
        {
          weight: 1,
          arbitrary: fc.integer({ min: 65_530, max: 65_540 }).map((n) => new Uint8Array(n).fill(7)),
        },
      ),
      { minLength: 1, maxLength: 4 },
    ),
    ping: fc.option(fc.uint8Array({ maxLength: 125 }), { nil: undefined }),
    text: fc.boolean(),
  }),
  { maxLength: 5 },
);

describe('websocket frame parser under fuzzing', () => {
  it('gives the same data and pings however the frames are fragmented and the bytes cut', () => {
    fuzz(
      fc.property(messages, fc.array(fc.nat(), { maxLength: 16 }), (list, cuts) => {
        const frames: Uint8Array[] = [];
        const expected: Uint8Array[] = [];
        const pings: string[] = [];
        for (const { fragments, ping, text } of list) {
          fragments.forEach((fragment, i) => {
            frames.push(frame(i === 0 ? (text ? 1 : 2) : 0, fragment, i === fragments.length - 1));
            expected.push(fragment);
            // A control frame may come between the fragments of a message.
            if (i === 0 && ping !== undefined) {
              frames.push(frame(9, ping, true));
              pings.push(Buffer.from(ping).toString('hex'));
            }
          });
        }
        const stream = Buffer.concat(frames);
        const whole = parse([stream]);
        assert.deepEqual(whole, {
          data: Buffer.concat(expected).toString('hex'),
          pings,
          violation: undefined,
        });
        assert.deepEqual(parse(splitAt(stream, cuts)), whole);
      }),
      200,
    );
  });

  it('any bytes cut into any pieces give data and at most one violation, the same as uncut', () => {
    fuzz(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 16 }), (bytes, cuts) => {
        assert.deepEqual(parse(splitAt(bytes, cuts)), parse([bytes]));
      }),
      500,
    );
  });

  it('refuses a frame over the limit from its header, before its payload arrives', () => {
    const header = frame(2, new Uint8Array(MAX_FRAME + 1), true).subarray(0, 14);
    assert.equal(parse([header]).violation, CLOSE.tooBig);
  });
});
