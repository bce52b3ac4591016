/**
 * Interop with wascap, from test vectors in the wasmCloud repository (branch release-1.9.x): a
 * component signed by wash 0.39 (its token), a token from wascap's own tests, and a module signed by
 * an early wascap in the legacy `jwt` section (the whole binary).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeClaimsToken,
  findClaimsSections,
  inspectComponentClaims,
  moduleHash,
  parsePublicKey,
  stripClaimsSections,
  verifyClaimsSignature,
  verifyComponentClaims,
} from '../src/index.ts';

/**
 * The `wasmcloud_jwt` section of crates/wash/tests/fixtures/hello_plugin_s.wasm, a component signed
 * by wash in March 2025 (wascap_revision 3). Cirrus computes the same module hash for the whole
 * 615 KB binary (BEBDA884…); the binary itself is not copied here.
 */
const WASH_COMPONENT_TOKEN =
  'eyJ0eXAiOiJqd3QiLCJhbGciOiJFZDI1NTE5In0.' +
  'eyJqdGkiOiJtRVJtbWRLcnJ2cDg4eG5tdTBXTDRYIiwiaWF0IjoxNzQxMjAzMjExLCJpc3MiOiJBQko2V1E1RkJHWEVDSUpCQkdBN0JHNzNJS0U3SVREMkRSQVVSVjVXQjVaVVRZVE5PT0FZR1BJRyIsInN1YiI6Ik1CTkE0Qkg3UUoyRkxQN08zUzZRVDc0RFU0R0JUSTNKRTdKSU5PSDU1RE1ZTVVTWU1LQktHM05PIiwid2FzY2FwIjp7Im5hbWUiOiJoZWxsby1wbHVnaW4iLCJoYXNoIjoiQkVCREE4ODQ0NjEwRUJBNkExRUZCQzY3OUNDNDg3OTBFMENBRkMyODkwODE4RkE5NjhGNDUwQTEzNEIzODZBMCIsInRhZ3MiOlsid2FzbWNsb3VkLmNvbS9leHBlcmltZW50YWwiXSwicmV2IjowLCJ2ZXIiOiIwLjEuMCIsInByb3YiOmZhbHNlfSwid2FzY2FwX3JldmlzaW9uIjozfQ.' +
  'vGpIoE8QzrSbo5xIPhJs3R9LGoJpimcGnDxWisz6hL5ojaBLZMiBT4ReGHtx0e7pi7NlTcsrYl8b9IInN8izDQ';

/** `ensure_jwt_valid_segments` in crates/wascap/src/jwt.rs: a 0.x actor token (with `caps`). */
const WASCAP_TEST_TOKEN =
  'eyJ0eXAiOiJqd3QiLCJhbGciOiJFZDI1NTE5In0.' +
  'eyJqdGkiOiJTakI1Zm05NzRTanU5V01nVFVjaHNiIiwiaWF0IjoxNjQ0ODQzNzQzLCJpc3MiOiJBQ09KSk42V1VQNE9ERDc1WEVCS0tUQ0NVSkpDWTVaS1E1NlhWS1lLNEJFSldHVkFPT1FIWk1DVyIsInN1YiI6Ik1CQ0ZPUE02SlcyQVBKTFhKRDNaNU80Q043Q1BZSjJCNEZUS0xKVVI1WVI1TUlUSVU3SEQzV0Q1Iiwid2FzY2FwIjp7Im5hbWUiOiJFY2hvIiwiaGFzaCI6IjRDRUM2NzNBN0RDQ0VBNkE0MTY1QkIxOTU4MzJDNzkzNjQ3MUNGN0FCNDUwMUY4MzdGOEQ2NzlGNDQwMEJDOTciLCJ0YWdzIjpbXSwiY2FwcyI6WyJ3YXNtY2xvdWQ6aHR0cHNlcnZlciJdLCJyZXYiOjQsInZlciI6IjAuMy40IiwicHJvdiI6ZmFsc2V9fQ.' +
  'ZWyD6VQqzaYM1beD2x9Fdw4o_Bavy3ZG703Eg4cjhyJwUKLDUiVPVhqHFE6IXdV4cW6j93YbMT6VGq5iBDWmAg';

/** crates/wascap/examples/signed_loop.wasm: a 74-byte module signed in 2020, claims in a `jwt` section. */
const SIGNED_LOOP_WASM = Buffer.from(
  'AGFzbQEAAAABBQFgAAF/AwIBAAUDAQABBwgBBG1haW4AAAomASQBAn9BCiEBA0AgAUUEQAUgAUEBayEBIABBAmohAAwBCwsgAAsAogUDand0ZXlKMGVYQWlPaUpxZDNRaUxDSmhiR2NpT2lKRlpESTFOVEU1SW4wLmV5SnFkR2tpT2lJMWRVaExjVVIyTTJkVFFrRnJlVEUxYlhaM2RXaHdJaXdpYVdGMElqb3hOVGt3TWpBMU16TXlMQ0pwYzNNaU9pSkJRME5JVXpVM1JETlFNbFpGVDA0MVRWRkRTazAwV1VFek5FZFpRa1JHV2xJelNVSkhOVVZSVGxWUFRrbElRazgxV0RST1NWVlNReUlzSW5OMVlpSTZJazFDVVRKU1F6TkNRVkpZUmxkVVFrWlhOVlZLTmtvelVWTkJWbGxLTjBRMk5GbzFURkpEVUZJelZVazBORVkyTlZFelQwMU9SMWxOSWl3aWQyRnpZMkZ3SWpwN0ltNWhiV1VpT2lKVFpXTjFjbVVnUVdOMGIzSWlMQ0pvWVhOb0lqb2lOVU0yTmpFME1FUkNOakZCUWtVM01EQXdRa0ZFTjBKQ1FqZEJNVVk0T1RaRFJUQkRNRUUzT0RjNVJEaEJRVE5ET1VOQlFqa3pSRUl3UVRCQk1UZ3lOeUlzSW5SaFozTWlPbHRkTENKallYQnpJanBiSW5kaGMyTmpPbXRsZVhaaGJIVmxJaXdpZDJGelkyTTZiV1Z6YzJGbmFXNW5JaXdpZDJGelkyTTZhSFIwY0Y5amJHbGxiblFpTENKM1lYTmpZenBvZEhSd1gzTmxjblpsY2lKZExDSjJaWElpT2lJeExqQXVNQ0lzSW5CeWIzWWlPbVpoYkhObGZYMC5qWUZNeW1xNVo0djJmOEFyR0VVMzlkYkpBSEt5dGdYaF9mYkY5b1N6MUcwU1I1czc1YjM3OTZwOWRhTW1nZnJ4RWJuMmsxTC1GY0lpSEVlR3J2ZHlEdw==',
  'base64',
);

describe('wascap interop', () => {
  it('verifies the signature of a component token written by wash, and decodes its claims', () => {
    const decoded = decodeClaimsToken(WASH_COMPONENT_TOKEN);
    verifyClaimsSignature(decoded);
    assert.deepEqual(decoded.claims, {
      jti: 'mERmmdKrrvp88xnmu0WL4X',
      iat: 1741203211,
      iss: 'ABJ6WQ5FBGXECIJBBGA7BG73IKE7ITD2DRAURV5WB5ZUTYTNOOAYGPIG',
      sub: 'MBNA4BH7QJ2FLP7O3S6QT74DU4GBTI3JE7JINOH55DMYMUSYMKBKG3NO',
      wascap: {
        name: 'hello-plugin',
        hash: 'BEBDA8844610EBA6A1EFBC679CC48790E0CAFC2890818FA968F450A134B386A0',
        tags: ['wasmcloud.com/experimental'],
        rev: 0,
        ver: '0.1.0',
        prov: false,
      },
      wascap_revision: 3,
    });
    assert.equal(parsePublicKey(decoded.claims.sub).type, 'module');
  });

  it("writes claims in wash's field order: its claims segment re-encodes to the same bytes", () => {
    const decoded = decodeClaimsToken(WASH_COMPONENT_TOKEN);
    const reencoded = Buffer.from(JSON.stringify(decoded.claims)).toString('base64url');
    assert.equal(reencoded, WASH_COMPONENT_TOKEN.split('.')[1]);
  });

  it("verifies the token of wascap's own test, ignoring 0.x fields such as caps", () => {
    const decoded = decodeClaimsToken(WASCAP_TEST_TOKEN);
    verifyClaimsSignature(decoded);
    assert.equal(decoded.claims.wascap.name, 'Echo');
    assert.equal(decoded.claims.wascap_revision, undefined);
    assert.equal('caps' in decoded.claims.wascap, false);
  });

  it("refuses the malformed tokens of wascap's test with CLAIMS_MALFORMED", () => {
    for (const bad of ['asd.123123123', 'asd.123.abc.easy', 'ddd.123.notajwt']) {
      assert.throws(() => decodeClaimsToken(bad), { code: 'CLAIMS_MALFORMED' }, bad);
    }
  });

  it('verifies a whole module signed by wascap in the legacy jwt section, hash included', async () => {
    const bytes = new Uint8Array(SIGNED_LOOP_WASM);
    assert.deepEqual(
      findClaimsSections(bytes).map((s) => s.name),
      ['jwt'],
    );
    const claims = await verifyComponentClaims(bytes, { requireSigned: true, now: new Date('2025-01-01') });
    assert.equal(claims?.iss, 'ACCHS57D3P2VEON5MQCJM4YA34GYBDFZR3IBG5EQNUONIHBO5X4NIURC');
    assert.equal(claims?.wascap.name, 'Secure Actor');
    assert.equal(await moduleHash(bytes), '5C66140DB61ABE7000BAD7BBB7A1F896CE0C0A7879D8AA3C9CAB93DB0A0A1827');
    assert.equal(stripClaimsSections(bytes).byteLength, 74, 'the unsigned loop.wasm');
    const report = await inspectComponentClaims(bytes);
    assert.equal(report?.hashMatches, true);
    assert.equal(report?.signatureValid, true);
  });
});
