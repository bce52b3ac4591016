/**
 * The pure side of async values over wRPC: the decoder's revive hook, `stream<u8>` chunks, the
 * flow-control names and messages Cirrus peers add, and `wrpc:http@0.1.0` as wasmCloud 1.x encodes it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeWrpcCredit,
  decodeWrpcParams,
  decodeWrpcStreamChunks,
  encodeWrpcByteChunk,
  encodeWrpcCredit,
  encodeWrpcParams,
  encodeWrpcStreamChunk,
  parseWitInterface,
  parseWitType,
  parseWrpcWindow,
  wit,
  witFunctionToString,
  witHasAsync,
  wrpcAsyncPaths,
  wrpcCreditSubject,
  wrpcGoneSubject,
  wrpcHttpIncomingHandle,
  wrpcHttpOutgoingHandle,
  wrpcHttpTypes,
  wrpcPathMatches,
  wrpcSubjectPath,
  WRPC_HTTP_WIT,
} from '../src/index.ts';
import type { WitFuture, WitStream, WrpcAsyncValue } from '../src/index.ts';

const text = new TextEncoder();

function bytes(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else out.push(...text.encode(p));
  }
  return Uint8Array.from(out);
}

const str = (s: string): Uint8Array => bytes(text.encode(s).length, s);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe('the decoder revive hook', () => {
  const fn = parseWitInterface(`interface i {
    record msg { body: stream<u8>, trailers: future<option<string>>, tags: list<string> }
    f: func(m: msg, s: stream<u32>, later: future<u8>) -> u8;
  }`).functions.get('f');

  it('hands every stream and future, pending or inline, to the hook with its type and path', () => {
    const seen: [WrpcAsyncValue, string][] = [];
    const revive = (value: WrpcAsyncValue, type: WitStream | WitFuture): unknown => {
      seen.push([value, type.kind]);
      return `revived ${type.kind}`;
    };
    // msg { body: pending, trailers: pending, tags: [] }, s: inline [7], later: ready(9)
    const decoded = decodeWrpcParams(fn!, bytes(0x00, 0x00, 0x00, 0x01, 0x07, 0x01, 0x09), { revive });
    assert.deepEqual(decoded.values, [
      { body: 'revived stream', trailers: 'revived future', tags: [] },
      'revived stream',
      'revived future',
    ]);
    assert.deepEqual(seen, [
      [{ tag: 'pending', path: [0, 0] }, 'stream'],
      [{ tag: 'pending', path: [0, 1] }, 'future'],
      [{ tag: 'ready', val: Uint32Array.of(7) }, 'stream'],
      [{ tag: 'ready', val: 9 }, 'future'],
    ]);
    assert.deepEqual(
      decoded.deferred.map((d) => d.path),
      [
        [0, 0],
        [0, 1],
      ],
      'pending values are still listed for the transport',
    );
  });

  it('reaches nested values in the elements of a stream chunk, indexed by their element', () => {
    const element = parseWitType('tuple<string, stream<u8>>');
    const paths: (readonly number[])[] = [];
    const chunk = encodeWrpcStreamChunk(
      element,
      [
        ['a', []],
        ['b', []],
      ],
      { path: [2], firstIndex: 5 },
    );
    const decoded = decodeWrpcStreamChunks(element, concat(chunk.bytes, bytes(0)), {
      path: [2],
      firstIndex: 5,
      revive: (value) => {
        if (value.tag === 'pending') paths.push(value.path);
        return 'x';
      },
    });
    assert.deepEqual(decoded.chunks, [
      [
        ['a', 'x'],
        ['b', 'x'],
      ],
    ]);
    assert.equal(decoded.done, true);
    assert.deepEqual(paths, [
      [2, 5, 1],
      [2, 6, 1],
    ]);
  });
});

describe('stream<u8> chunks', () => {
  it('encodes a byte chunk exactly as the general chunk encoder does, LEB128 count first', () => {
    for (const n of [1, 0x7f, 0x80, 300, 16_383, 16_384, 70_000]) {
      const data = new Uint8Array(n).map((_, i) => i & 0xff);
      assert.deepEqual(encodeWrpcByteChunk(data), encodeWrpcStreamChunk(wit.u8, data).bytes, `${n} bytes`);
    }
    assert.deepEqual(encodeWrpcByteChunk(Uint8Array.of(9, 8)), Uint8Array.of(2, 9, 8));
    assert.deepEqual([...encodeWrpcByteChunk(new Uint8Array(300)).subarray(0, 2)], [0xac, 0x02]);
  });

  it('refuses an empty byte chunk, which would end the stream', () => {
    assert.throws(() => encodeWrpcByteChunk(new Uint8Array(0)), { code: 'WRPC_ENCODE_FAILED' });
  });
});

describe('flow control between Cirrus peers', () => {
  it('names credit and probe subjects below the sender and reader inboxes', () => {
    assert.equal(wrpcCreditSubject('_INBOX.a.1', [0, 1]), '_INBOX.a.1.credit.0.1');
    assert.equal(wrpcCreditSubject('_INBOX.a.1', []), '_INBOX.a.1.credit');
    assert.equal(wrpcGoneSubject('_INBOX.b', [3]), '_INBOX.b.gone.3');
  });

  it('writes a grant as the decimal total and a cancel as an empty payload, and reads them back', () => {
    assert.deepEqual(encodeWrpcCredit({ kind: 'grant', total: 1_048_576 }), text.encode('1048576'));
    assert.deepEqual(encodeWrpcCredit({ kind: 'cancel' }), new Uint8Array(0));
    assert.deepEqual(decodeWrpcCredit(text.encode('1048576')), { kind: 'grant', total: 1_048_576 });
    assert.deepEqual(decodeWrpcCredit(new Uint8Array(0)), { kind: 'cancel' });
    for (const bad of ['-1', '01', '1e6', ' 5', '12345678901234567', 'x']) {
      assert.equal(decodeWrpcCredit(text.encode(bad)), undefined, bad);
    }
  });

  it('reads a window header only when it is a positive whole number', () => {
    assert.equal(parseWrpcWindow('262144'), 262_144);
    for (const bad of [undefined, '', '0', '-5', '1.5', 'lots'])
      assert.equal(parseWrpcWindow(bad), undefined);
  });

  it('reads the index path of a subject below a base, and matches it against wildcard paths', () => {
    assert.deepEqual(wrpcSubjectPath('R.results.0.12', 'R.results'), [0, 12]);
    assert.equal(wrpcSubjectPath('R.results', 'R.results'), undefined);
    assert.equal(wrpcSubjectPath('R.resultsX.0', 'R.results'), undefined);
    assert.equal(wrpcSubjectPath('R.results.0.x', 'R.results'), undefined);
    assert.equal(wrpcSubjectPath('R.results.4294967296', 'R.results'), undefined);
    assert.equal(wrpcPathMatches([0, null, 1], [0, 7, 1]), true);
    assert.equal(wrpcPathMatches([0, null, 1], [0, 7]), false);
    assert.equal(wrpcPathMatches([0, 1], [0, 2]), false);
  });

  it('knows which types can hold a stream or future', () => {
    assert.equal(witHasAsync(parseWitType('option<tuple<u8, list<future<u8>>>>')), true);
    assert.equal(witHasAsync(parseWitType('result<_, stream<string>>')), true);
    assert.equal(witHasAsync(parseWitType('list<tuple<string, list<list<u8>>>>')), false);
  });
});

describe('wrpc:http@0.1.0', () => {
  it('parses into the two handle signatures of the wRPC HTTP interfaces', () => {
    assert.match(WRPC_HTTP_WIT, /^package wrpc:http@0\.1\.0;/);
    assert.equal(
      witFunctionToString(wrpcHttpIncomingHandle()),
      'handle: func(request: request) -> result<response, error-code>',
    );
    assert.equal(
      witFunctionToString(wrpcHttpOutgoingHandle()),
      'handle: func(request: request, options: option<request-options>) -> result<response, error-code>',
    );
    const types = wrpcHttpTypes();
    const errorCode = types.get('error-code');
    assert.equal(errorCode?.kind, 'variant');
    // wasi:http/types@0.2.0 order: the discriminant of each case is its index.
    const cases = errorCode?.kind === 'variant' ? errorCode.cases.map((c) => c.name) : [];
    assert.equal(cases.length, 39);
    assert.equal(cases.indexOf('connection-refused'), 6);
    assert.equal(cases.indexOf('HTTP-request-denied'), 15);
    assert.equal(cases.at(-1), 'internal-error');
  });

  it('puts the bodies and trailers on the nested paths a 1.x peer listens on', () => {
    const handle = wrpcHttpIncomingHandle();
    assert.deepEqual(wrpcAsyncPaths(handle.params.map((p) => p.type)), [
      [0, 0],
      [0, 1],
    ]);
    assert.deepEqual(wrpcAsyncPaths(handle.results), [
      [0, 0],
      [0, 1],
    ]);
    assert.deepEqual(wrpcAsyncPaths(wrpcHttpOutgoingHandle().params.map((p) => p.type)), [
      [0, 0],
      [0, 1],
    ]);
  });

  it('encodes a request byte for byte as the 1.x http-server provider does', () => {
    const encoded = encodeWrpcParams(wrpcHttpIncomingHandle(), [
      {
        body: (async function* () {})(),
        trailers: Promise.resolve(undefined),
        method: { tag: 'post' },
        pathWithQuery: '/raw?x=1',
        scheme: { tag: 'HTTP' },
        authority: 'example.com',
        headers: [['content-type', [text.encode('text/plain')]]],
      },
    ]);
    assert.deepEqual(
      encoded.bytes,
      concat(
        bytes(0x00, 0x00, 0x02, 0x01),
        str('/raw?x=1'),
        bytes(0x01, 0x00, 0x01),
        str('example.com'),
        bytes(0x01),
        str('content-type'),
        bytes(0x01),
        str('text/plain'),
      ),
    );
    assert.deepEqual(
      encoded.deferred.map((d) => [d.path, d.type.kind]),
      [
        [[0, 0], 'stream'],
        [[0, 1], 'future'],
      ],
    );
  });
});
