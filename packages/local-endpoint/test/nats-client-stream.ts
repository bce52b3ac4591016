/**
 * fast-check arbitraries for what a NATS client sends, for the local endpoint's fuzz tests: valid
 * operations in every spelling the protocol allows (any case, tabs, bare LF, optional reply and
 * queue, payloads holding CRLF), hostile ones (sizes that lie, overlong lines), and raw garbage.
 */
import { fc } from '@cirrus/testing';

const encoder = new TextEncoder();

export const TOKEN = 'fuzz-token-0123456789abcdefghij';

const subject = fc.stringMatching(/^[a-z0-9_]{1,6}(\.[a-z0-9_]{1,6}){0,3}$/);
const wildcardSubject = fc.oneof(subject, fc.constantFrom('>', 'a.*', 'a.>', '*.b', 'fuzz.*'));
const sid = fc.stringMatching(/^[A-Za-z0-9]{1,6}$/);
const blank = fc.constantFrom(' ', '\t', '  ', ' \t ');
const eol = fc.constantFrom('\r\n', '\n');

/** `name` in upper, lower or mixed case: the protocol's op names are case-insensitive. */
const spelled = (name: string): fc.Arbitrary<string> =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join(''));

const payload = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom('\r\n', 'PING\r\n', 'x\r\n\r\ny').map((t) => encoder.encode(t)),
);

function bytes(...parts: (string | Uint8Array)[]): Uint8Array {
  const encoded = parts.map((p) => (typeof p === 'string' ? encoder.encode(p) : p));
  const out = new Uint8Array(encoded.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of encoded) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

const pub = fc
  .tuple(
    spelled('pub'),
    blank,
    subject,
    fc.option(fc.tuple(blank, subject), { nil: undefined }),
    blank,
    payload,
    eol,
  )
  .map(([op, b1, subj, reply, b2, data, end]) =>
    bytes(
      op,
      b1,
      subj,
      reply === undefined ? '' : reply.join(''),
      b2,
      String(data.length),
      end,
      data,
      '\r\n',
    ),
  );

const headerBlock = fc
  .array(fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,8}$/), fc.stringMatching(/^[ -~]{0,12}$/)), {
    maxLength: 3,
  })
  .map((headers) => `NATS/1.0\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);

const hpub = fc
  .tuple(
    spelled('hpub'),
    blank,
    subject,
    fc.option(fc.tuple(blank, subject), { nil: undefined }),
    headerBlock,
    payload,
    eol,
  )
  .map(([op, b, subj, reply, head, data, end]) => {
    const block = encoder.encode(head);
    const sizes = `${block.length} ${block.length + data.length}`;
    return bytes(op, b, subj, reply === undefined ? '' : reply.join(''), b, sizes, end, block, data, '\r\n');
  });

const sub = fc
  .tuple(
    spelled('sub'),
    blank,
    wildcardSubject,
    fc.option(fc.tuple(blank, sid), { nil: undefined }),
    blank,
    sid,
    eol,
  )
  .map(([op, b1, subj, queue, b2, id, end]) =>
    bytes(op, b1, subj, queue === undefined ? '' : queue.join(''), b2, id, end),
  );

const unsub = fc
  .tuple(spelled('unsub'), blank, sid, fc.option(fc.nat({ max: 5 }), { nil: undefined }), eol)
  .map(([op, b, id, max, end]) => bytes(op, b, id, max === undefined ? '' : ` ${max}`, end));

const connectFields = fc.record(
  {
    verbose: fc.boolean(),
    pedantic: fc.boolean(),
    headers: fc.boolean(),
    echo: fc.boolean(),
    protocol: fc.constantFrom(0, 1),
    name: fc.string({ maxLength: 8 }),
  },
  { requiredKeys: [] },
);

/** A CONNECT with the right token (the fields may still be refused, e.g. no_responders alone). */
export const connect = fc
  .tuple(spelled('connect'), connectFields, fc.boolean(), eol)
  .map(([op, fields, noResponders, end]) =>
    bytes(
      op,
      ' ',
      JSON.stringify({ auth_token: TOKEN, ...fields, ...(noResponders ? { no_responders: true } : {}) }),
      end,
    ),
  );

/** One valid operation after CONNECT. */
export const validOp: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 2, arbitrary: fc.tuple(spelled('ping'), eol).map(([op, end]) => bytes(op, end)) },
  { weight: 1, arbitrary: fc.tuple(spelled('pong'), eol).map(([op, end]) => bytes(op, end)) },
  { weight: 3, arbitrary: pub },
  { weight: 2, arbitrary: hpub },
  { weight: 3, arbitrary: sub },
  { weight: 2, arbitrary: unsub },
  { weight: 1, arbitrary: connect },
);

/** Operations that break the protocol: sizes that lie, bad sizes, overlong lines, unknown ops. */
export const hostileOp = (maxControlLine: number): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc
      .tuple(
        subject,
        fc.oneof(fc.nat({ max: 100 }), fc.integer({ min: 1 << 20, max: 200 << 20 })),
        fc.uint8Array({ maxLength: 30 }),
      )
      .map(([subj, extra, data]) => bytes(`PUB ${subj} ${data.length + extra + 1}\r\n`, data, '\r\n')),
    fc
      .tuple(
        subject,
        fc.constantFrom(
          '-1',
          '+5',
          '1e3',
          '0x10',
          '18446744073709551616',
          '999999999999999',
          '9'.repeat(40),
          '',
        ),
      )
      .map(([subj, size]) => bytes(`PUB ${subj} ${size}\r\n`)),
    fc
      .constantFrom(
        'HPUB a 10 5\r\n',
        'HPUB a 0 0\r\n\r\n',
        'HPUB a 4 4\r\nxxxx\r\n',
        'UNSUB\r\n',
        'SUB a\r\n',
      )
      .map((t) => bytes(t)),
    fc
      .integer({ min: maxControlLine - 2, max: maxControlLine * 3 })
      .map((n) => bytes(`PUB ${'a'.repeat(n)} 0\r\n`)),
    fc.integer({ min: maxControlLine, max: maxControlLine * 3 }).map((n) => bytes('x'.repeat(n))),
    fc
      .constantFrom(
        'MSG a 1 1\r\n',
        'INFO {}\r\n',
        '+OK\r\n',
        '\r\n',
        'CONNECT\r\n',
        'CONNECT {"auth_token":"no"}\r\n',
      )
      .map((t) => bytes(t)),
  );

/**
 * A client's byte stream: usually a CONNECT with the token and operations, some of them hostile or
 * replaced by garbage; sometimes garbage from the first byte.
 */
export const clientStream = (maxControlLine: number): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          connect,
          fc.array(
            fc.oneof(
              { weight: 6, arbitrary: validOp },
              { weight: 1, arbitrary: hostileOp(maxControlLine) },
              { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 24 }) },
            ),
            { maxLength: 12 },
          ),
        )
        .map(([first, rest]) => bytes(first, ...rest)),
    },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  );

/** `data` cut into non-empty pieces at the given points (taken modulo its length). */
export function splitAt(data: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, data.length]) {
    if (point > from) out.push(data.subarray(from, point));
    from = point;
  }
  return out;
}
