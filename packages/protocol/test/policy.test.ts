import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assertPolicyTopic,
  InvalidSubjectError,
  parsePolicyResponse,
  policyClaims,
  PolicyReplyInvalidError,
} from '../src/index.ts';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('parsePolicyResponse', () => {
  it('reads a decision, with and without a message', () => {
    assert.deepEqual(parsePolicyResponse(bytes('{"requestId":"r1","permitted":true}'), 'r1'), {
      requestId: 'r1',
      permitted: true,
    });
    assert.deepEqual(
      parsePolicyResponse('{"requestId":"r1","permitted":false,"message":"no","extra":1}', 'r1'),
      { requestId: 'r1', permitted: false, message: 'no' },
    );
    assert.deepEqual(parsePolicyResponse('{"requestId":"r1","permitted":true,"message":null}'), {
      requestId: 'r1',
      permitted: true,
    });
  });

  const malformed: [string, string | Uint8Array, RegExp][] = [
    ['an empty body', '', /the body is empty/],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d]), /not valid UTF-8/],
    ['text that is not JSON', 'permitted', /not valid JSON/],
    ['an array', '[]', /expected a JSON object, got array/],
    ['null', 'null', /got null/],
    ['no requestId', '{"permitted":true}', /requestId must be a non-empty string, got undefined/],
    ['an empty requestId', '{"requestId":"","permitted":true}', /requestId must be a non-empty string/],
    [
      'permitted as a string',
      '{"requestId":"r1","permitted":"true"}',
      /permitted must be a boolean, got string/,
    ],
    ['no permitted', '{"requestId":"r1"}', /permitted must be a boolean, got undefined/],
    ['a message that is not a string', '{"requestId":"r1","permitted":false,"message":1}', /message must be/],
    ['the id of another request', '{"requestId":"r2","permitted":true}', /answers request "r2", not "r1"/],
  ];
  for (const [what, body, message] of malformed) {
    it(`refuses ${what} with POLICY_REPLY_INVALID`, () => {
      assert.throws(
        () => parsePolicyResponse(body, 'r1'),
        (err: unknown) => err instanceof PolicyReplyInvalidError && message.test(err.message),
      );
    });
  }
});

describe('policyClaims', () => {
  it('is null for an unsigned artifact', () => {
    assert.equal(policyClaims(undefined, 1_000), null);
  });

  it('carries the 1.x fields: issuedAt as a string, expiresAt a number or null, expired computed', () => {
    const claims = { sub: 'MSUB', iss: 'AISS', iat: 1_717_000_000 };
    assert.deepEqual(policyClaims(claims, 1_800_000_000), {
      publicKey: 'MSUB',
      issuer: 'AISS',
      issuedAt: '1717000000',
      expiresAt: null,
      expired: false,
    });
    assert.equal(policyClaims({ ...claims, exp: 1_800_000_000 }, 1_800_000_000)?.expired, false);
    assert.deepEqual(policyClaims({ ...claims, exp: 1_800_000_000 }, 1_800_000_001), {
      publicKey: 'MSUB',
      issuer: 'AISS',
      issuedAt: '1717000000',
      expiresAt: 1_800_000_000,
      expired: true,
    });
  });
});

describe('assertPolicyTopic', () => {
  it('takes dot-separated tokens and refuses wildcards, whitespace and empty tokens', () => {
    assert.equal(assertPolicyTopic('policy topic', 'wasmcloud.policy'), 'wasmcloud.policy');
    for (const bad of ['', 'a.*', 'a.>', 'a b', 'a..b', '.a', 42]) {
      assert.throws(() => assertPolicyTopic('policy topic', bad), InvalidSubjectError);
    }
  });
});
