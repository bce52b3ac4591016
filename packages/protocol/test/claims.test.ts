/**
 * Component claims: signing and verifying round trips, the byte-exact encoding, where claims
 * sections count, and one error code for each way a signed component can be bad.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { fromPublic } from '@nats-io/nkeys';
import {
  CirrusError,
  CLAIMS_SECTION,
  componentClaimsEventFields,
  decodeClaimsToken,
  embedClaimsSection,
  ERROR_CODES,
  findClaimsSections,
  inspectComponentClaims,
  LEGACY_CLAIMS_SECTION,
  moduleHash,
  Nkey,
  signComponent,
  stripClaimsSections,
  verifyComponentClaims,
  WASCAP_REVISION,
} from '../src/index.ts';
import type { ClaimsVerificationOptions, SignComponentOptions, WascapClaims } from '../src/index.ts';
import {
  component,
  coreModule,
  custom,
  deeplyNestedComponent,
  nestedComponent,
  withSections,
} from './wasm-builder.ts';

/** Test keys: fixed, so that the encoding below is known byte for byte. */
const ACCOUNT = Nkey.fromSeed('SAALBMHP7I7WSP7VHNRD5LZ2XMMN4WNT2OFVPHSNB5XF3X3ACESDILXIXM');
const MODULE = Nkey.fromSeed('SMAOMRMHDXQ2JMQVDPCE3GUMEUOVKLNPMJQTRQEPV2YZO2FPTZLJ5TGA74');
const OTHER_ACCOUNT = Nkey.fromSeed('SAAEUWNV3LZMQ2BYQTOGIMQX3KPALF36VAU75X5XCPIOZ6PALL3YMV3GV4');

/** Whether V8 compiles the binary: signing and stripping must keep modules valid. */
function isValidWasm(bytes: Uint8Array): boolean {
  try {
    new WebAssembly.Module(bytes);
    return true;
  } catch {
    return false;
  }
}

const NOW = new Date('2025-06-01T00:00:00Z');
const NOW_S = NOW.getTime() / 1000;
const HOUR = 3600;

function options(extra: Partial<SignComponentOptions> = {}): SignComponentOptions {
  return {
    issuer: ACCOUNT,
    subject: MODULE,
    name: 'demo',
    ver: '0.1.0',
    rev: 1,
    issuedAt: NOW_S - HOUR,
    ...extra,
  };
}

const b64 = (text: string): string => Buffer.from(text).toString('base64url');
const fromB64 = (text: string): string => Buffer.from(text, 'base64url').toString('utf8');
const HEADER = b64('{"typ":"jwt","alg":"Ed25519"}');

/** A compact JWS over `header`/`claims` as given, signed by `signer` (whatever `iss` says). */
function token(claims: object | string, signer: Nkey = ACCOUNT, header = HEADER): string {
  const body = b64(typeof claims === 'string' ? claims : JSON.stringify(claims));
  const sig = Buffer.from(signer.sign(new TextEncoder().encode(`${header}.${body}`))).toString('base64url');
  return `${header}.${body}.${sig}`;
}

/** Claims of `binary` as a signer would make them, with `edit` applied. */
async function claimsFor(
  binary: Uint8Array,
  edit: (c: WascapClaims) => void = () => {},
): Promise<WascapClaims> {
  const claims: WascapClaims = {
    jti: 'handmadeHandmadeHandma',
    iat: NOW_S - HOUR,
    iss: ACCOUNT.publicKey,
    sub: MODULE.publicKey,
    wascap: { name: 'demo', hash: await moduleHash(binary), tags: [], rev: 1, ver: '0.1.0', prov: false },
    wascap_revision: WASCAP_REVISION,
  };
  edit(claims);
  return claims;
}

async function rejects(
  binary: Uint8Array,
  code: string,
  message?: RegExp,
  opts: ClaimsVerificationOptions = {},
): Promise<void> {
  await assert.rejects(verifyComponentClaims(binary, { now: NOW, ...opts }), (err: unknown) => {
    assert.ok(err instanceof CirrusError, `expected a Cirrus error, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(ERROR_CODES.includes(code), `${code} is a registered code`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

describe('component claims: round trips', () => {
  it('signs a module and verifies it, returning the claims it wrote', async () => {
    const signed = await signComponent(coreModule(), options({ tags: ['x', 'y'] }));
    const claims = await verifyComponentClaims(signed.bytes, { now: NOW });
    assert.deepEqual(claims, signed.claims);
    assert.equal(claims?.iss, ACCOUNT.publicKey);
    assert.equal(claims?.sub, MODULE.publicKey);
    assert.equal(claims?.wascap_revision, 3);
    assert.deepEqual(claims?.wascap.tags, ['x', 'y']);
    assert.match(claims?.wascap.hash ?? '', /^[0-9A-F]{64}$/, 'upper-case hex');
    assert.ok(isValidWasm(signed.bytes), 'the signed module is still valid WebAssembly');
  });

  it('signs a component with nested modules and components', async () => {
    const binary = component(
      [coreModule(), coreModule({ answer: 7 })],
      [nestedComponent(component([coreModule()]))],
    );
    const signed = await signComponent(binary, options());
    assert.deepEqual(await verifyComponentClaims(signed.bytes, { now: NOW }), signed.claims);
  });

  it('appends one wasmcloud_jwt section to the binary without claims, as wascap does', async () => {
    const binary = coreModule();
    const signed = await signComponent(binary, options());
    const sections = findClaimsSections(signed.bytes);
    assert.deepEqual(
      sections.map((s) => s.name),
      [CLAIMS_SECTION],
    );
    assert.deepEqual(signed.bytes.subarray(0, binary.byteLength), binary, 'the original bytes come first');
    assert.deepEqual(stripClaimsSections(signed.bytes), binary);
  });

  it('signing again replaces the claims (and a legacy jwt section) instead of adding one', async () => {
    const first = await signComponent(coreModule(), options());
    const legacy = withSections(first.bytes, custom(LEGACY_CLAIMS_SECTION, first.token));
    const again = await signComponent(legacy, options({ name: 'renamed', issuer: OTHER_ACCOUNT }));
    assert.equal(findClaimsSections(again.bytes).length, 1);
    const claims = await verifyComponentClaims(again.bytes, { now: NOW });
    assert.equal(claims?.wascap.name, 'renamed');
    assert.equal(claims?.iss, OTHER_ACCOUNT.publicKey);
    assert.equal(claims?.wascap.hash, first.claims.wascap.hash, 'the code, hence the hash, is unchanged');
  });

  it('returns undefined for an unsigned binary when signatures are not required', async () => {
    assert.equal(await verifyComponentClaims(coreModule(), { now: NOW }), undefined);
    assert.equal(await inspectComponentClaims(coreModule()), undefined);
  });

  it('accepts claims in the legacy jwt section (wascap before 0.9)', async () => {
    const binary = coreModule();
    const legacy = withSections(binary, custom(LEGACY_CLAIMS_SECTION, token(await claimsFor(binary))));
    const claims = await verifyComponentClaims(legacy, { now: NOW });
    assert.equal(claims?.wascap.name, 'demo');
  });

  it('accepts claims valid exactly until now (exp is inclusive, as in wascap)', async () => {
    const signed = await signComponent(coreModule(), options({ expires: NOW_S, notBefore: NOW_S }));
    assert.ok(await verifyComponentClaims(signed.bytes, { now: NOW }));
  });

  it('keeps an allowed issuer and a host requiring signatures happy', async () => {
    const signed = await signComponent(coreModule(), options());
    const claims = await verifyComponentClaims(signed.bytes, {
      now: NOW,
      requireSigned: true,
      allowedIssuers: [OTHER_ACCOUNT.publicKey, ACCOUNT.publicKey],
    });
    assert.equal(claims?.iss, ACCOUNT.publicKey);
  });
});

describe('component claims: the encoding is fixed byte for byte', () => {
  const FIXTURE_HASH = 'CCF59F0F7A7625EE380ED228905AADFA11072AC14CEA1C53D1E7F3953D4D48C6';
  const FIXTURE_TOKEN =
    'eyJ0eXAiOiJqd3QiLCJhbGciOiJFZDI1NTE5In0.' +
    'eyJleHAiOjIwMDAwMDAwMDAsImp0aSI6ImZpeHR1cmVGaXh0dXJlRml4dHVyZTAiLCJpYXQiOjE3MDAwMDAwMDAsImlzcyI6IkFDU1NTRlBWT05DSjJFWFZVQjRWVlpNV0VHWVpHQUk1N0g0NEJPVkhTT01MQ1JFUjVVQVRaUU1YIiwic3ViIjoiTUJTRUpHMzNTVVYyRFRFUk1SRkhKSE1HS1NTTjI3TVE1VkhTUUxKV0pFSFVLSzNVVjdYWkJJVTUiLCJuYmYiOjE2OTAwMDAwMDAsIndhc2NhcCI6eyJuYW1lIjoiZml4dHVyZSIsImhhc2giOiJDQ0Y1OUYwRjdBNzYyNUVFMzgwRUQyMjg5MDVBQURGQTExMDcyQUMxNENFQTFDNTNEMUU3RjM5NTNENEQ0OEM2IiwidGFncyI6WyJhIiwiYiJdLCJyZXYiOjcsInZlciI6IjEuMC4wIiwicHJvdiI6ZmFsc2V9LCJ3YXNjYXBfcmV2aXNpb24iOjN9.' +
    'FZF_nFNN2nJz3WX8GpZNGfI-SNKivQutf3gk0HazJbv8It84yGKtqJxX5oXbJgMYm4oJPmFjmLq0vzq3KlJADQ';

  it('a module signed with a fixed seed, time and id gives a known token', async () => {
    const signed = await signComponent(coreModule(), {
      issuer: ACCOUNT,
      subject: MODULE,
      name: 'fixture',
      ver: '1.0.0',
      rev: 7,
      tags: ['a', 'b'],
      issuedAt: 1_700_000_000,
      jti: 'fixtureFixtureFixture0',
      expires: 2_000_000_000,
      notBefore: 1_690_000_000,
    });
    assert.equal(signed.token, FIXTURE_TOKEN);
    const [header, body] = FIXTURE_TOKEN.split('.') as [string, string, string];
    assert.equal(fromB64(header), '{"typ":"jwt","alg":"Ed25519"}');
    // wascap's (serde's) field order; absent fields left out; hash in upper-case hex.
    assert.equal(
      fromB64(body),
      `{"exp":2000000000,"jti":"fixtureFixtureFixture0","iat":1700000000,"iss":"${ACCOUNT.publicKey}",` +
        `"sub":"${MODULE.publicKey}","nbf":1690000000,"wascap":{"name":"fixture","hash":"${FIXTURE_HASH}",` +
        `"tags":["a","b"],"rev":7,"ver":"1.0.0","prov":false},"wascap_revision":3}`,
    );
    assert.ok(!FIXTURE_TOKEN.includes('='), 'base64url without padding');
  });

  it('the hash is SHA-256 of the bytes without the claims section, and nkeys.js accepts the signature', async () => {
    assert.equal(createHash('sha256').update(coreModule()).digest('hex').toUpperCase(), FIXTURE_HASH);
    const [header, body, sig] = FIXTURE_TOKEN.split('.') as [string, string, string];
    const verified = fromPublic(ACCOUNT.publicKey).verify(
      new TextEncoder().encode(`${header}.${body}`),
      new Uint8Array(Buffer.from(sig, 'base64url')),
    );
    assert.ok(verified, 'an independent Ed25519 implementation verifies it');
  });

  it('decoding and encoding again gives the same bytes', async () => {
    const signed = await signComponent(coreModule(), options({ expires: NOW_S + HOUR }));
    const decoded = decodeClaimsToken(signed.token);
    assert.equal(b64(JSON.stringify(decoded.claims)), signed.token.split('.')[1]);
  });
});

describe('component claims: where claims sections count', () => {
  it('only top-level sections carry claims; nested ones are stripped from the hash', async () => {
    const inner = coreModule({
      extra: [custom(CLAIMS_SECTION, 'not a token'), custom(LEGACY_CLAIMS_SECTION, 'x')],
    });
    const nested = component(
      [inner],
      [nestedComponent(component([coreModule({ extra: [custom('jwt', 'y')] })]))],
    );
    const plain = component([coreModule()], [nestedComponent(component([coreModule()]))]);
    assert.equal(
      await verifyComponentClaims(nested, { now: NOW }),
      undefined,
      'unsigned: nested claims do not count',
    );
    await rejects(nested, 'CLAIMS_REQUIRED', undefined, { requireSigned: true });
    assert.equal(await moduleHash(nested), await moduleHash(plain));
    assert.deepEqual(stripClaimsSections(nested), plain);
    const signed = await signComponent(nested, options());
    assert.deepEqual(await verifyComponentClaims(signed.bytes, { now: NOW }), signed.claims, 'no duplicate');
    assert.deepEqual(
      stripClaimsSections(signed.bytes),
      plain,
      'signing drops nested claims too, as wascap does',
    );
  });

  it('other custom sections are kept and covered by the hash', async () => {
    const a = withSections(coreModule(), custom('producers', 'one'));
    const b = withSections(coreModule(), custom('producers', 'two'));
    assert.notEqual(await moduleHash(a), await moduleHash(b));
    const signed = await signComponent(a, options());
    await rejects(withSections(b, findSectionBytes(signed.bytes)), 'CLAIMS_HASH_MISMATCH');
  });

  it('section sizes are normalised to their shortest form before hashing, as wascap does', async () => {
    const padded = coreModule({ padded: true, extra: [custom('producers', 'p', true)] });
    const shortest = coreModule({ extra: [custom('producers', 'p')] });
    assert.ok(padded.byteLength > shortest.byteLength);
    assert.ok(isValidWasm(padded));
    assert.equal(await moduleHash(padded), await moduleHash(shortest));
    const signed = await signComponent(padded, options());
    assert.ok(await verifyComponentClaims(signed.bytes, { now: NOW }));
    assert.ok(isValidWasm(signed.bytes));
  });

  it('embedding replaces every claims section', () => {
    const binary = withSections(coreModule(), custom('jwt', 'a'), custom('wasmcloud_jwt', 'b'));
    const embedded = embedClaimsSection(binary, 'token');
    assert.deepEqual(
      findClaimsSections(embedded).map((s) => [s.name, Buffer.from(s.data).toString()]),
      [['wasmcloud_jwt', 'token']],
    );
  });
});

/** The bytes of the (single) claims section of a signed module: the last section wascap appends. */
function findSectionBytes(signed: Uint8Array): Uint8Array {
  const stripped = stripClaimsSections(signed);
  return signed.subarray(stripped.byteLength);
}

describe('component claims: every failure has its own code', () => {
  it('CLAIMS_SIGNATURE_INVALID: one byte of the signature flipped', async () => {
    const signed = await signComponent(coreModule(), options());
    const [header, body, sig] = signed.token.split('.') as [string, string, string];
    const raw = Buffer.from(sig, 'base64url');
    raw[20] = (raw[20] as number) ^ 0x01;
    const forged = `${header}.${body}.${raw.toString('base64url')}`;
    await rejects(withSections(coreModule(), custom(CLAIMS_SECTION, forged)), 'CLAIMS_SIGNATURE_INVALID');
  });

  it('CLAIMS_SIGNATURE_INVALID: the claims changed after signing (one byte of the name)', async () => {
    const signed = await signComponent(coreModule(), options({ name: 'demo' }));
    const [header, body, sig] = signed.token.split('.') as [string, string, string];
    const altered = b64(fromB64(body).replace('"name":"demo"', '"name":"dema"'));
    const forged = `${header}.${altered}.${sig}`;
    await rejects(withSections(coreModule(), custom(CLAIMS_SECTION, forged)), 'CLAIMS_SIGNATURE_INVALID');
  });

  it('CLAIMS_SIGNATURE_INVALID: re-signed with another key, keeping iss', async () => {
    const binary = coreModule();
    const forged = token(await claimsFor(binary), OTHER_ACCOUNT);
    const bytes = withSections(binary, custom(CLAIMS_SECTION, forged));
    await rejects(bytes, 'CLAIMS_SIGNATURE_INVALID', new RegExp(ACCOUNT.publicKey));
    // A forgery naming an allowed issuer is reported as a forgery, not as allowed or not.
    await rejects(bytes, 'CLAIMS_SIGNATURE_INVALID', undefined, { allowedIssuers: [ACCOUNT.publicKey] });
  });

  it('CLAIMS_EXPIRED', async () => {
    const signed = await signComponent(coreModule(), options({ expires: NOW_S - 1 }));
    await rejects(signed.bytes, 'CLAIMS_EXPIRED', /expired at 2025-05-31T23:59:59\.000Z/);
  });

  it('CLAIMS_NOT_YET_VALID', async () => {
    const signed = await signComponent(coreModule(), options({ notBefore: NOW_S + HOUR }));
    await rejects(signed.bytes, 'CLAIMS_NOT_YET_VALID', /not valid before 2025-06-01T01:00:00\.000Z/);
    assert.ok(await verifyComponentClaims(signed.bytes, { now: new Date((NOW_S + HOUR) * 1000) }));
  });

  it('CLAIMS_HASH_MISMATCH: one code byte changed after signing', async () => {
    const signed = await signComponent(coreModule(), options());
    const tampered = withSections(coreModule({ answer: 43 }), findSectionBytes(signed.bytes));
    assert.equal(tampered.byteLength, signed.bytes.byteLength);
    assert.equal(
      tampered.reduce((n, b, i) => n + (b === signed.bytes[i] ? 0 : 1), 0),
      1,
      'exactly one byte differs',
    );
    await rejects(tampered, 'CLAIMS_HASH_MISMATCH', /does not match its claims/);
  });

  it('CLAIMS_HASH_MISMATCH also for a low or missing wascap_revision (no legacy bypass)', async () => {
    const original = coreModule();
    const tampered = coreModule({ answer: 43 });
    for (const revision of [0, 1, 2, undefined]) {
      const claims = await claimsFor(original, (c) => {
        if (revision === undefined) delete c.wascap_revision;
        else c.wascap_revision = revision;
      });
      const bytes = withSections(tampered, custom(CLAIMS_SECTION, token(claims)));
      await rejects(bytes, 'CLAIMS_HASH_MISMATCH');
      await rejects(
        withSections(tampered, custom(LEGACY_CLAIMS_SECTION, token(claims))),
        'CLAIMS_HASH_MISMATCH',
      );
    }
  });

  describe('CLAIMS_MALFORMED', () => {
    const binary = coreModule();
    const signedWith = (jwt: string): Uint8Array => withSections(binary, custom(CLAIMS_SECTION, jwt));

    it('2 or 4 segments', async () => {
      const good = token(await claimsFor(binary));
      const [h, b, s] = good.split('.') as [string, string, string];
      await rejects(signedWith(`${h}.${b}`), 'CLAIMS_MALFORMED', /2 segments/);
      await rejects(signedWith(`${h}.${b}.${s}.${s}`), 'CLAIMS_MALFORMED', /4 segments/);
      await rejects(signedWith(''), 'CLAIMS_MALFORMED', /1 segments/);
    });

    it('bad base64 (foreign characters, padding, non-canonical bits)', async () => {
      const good = token(await claimsFor(binary));
      const [h, b, s] = good.split('.') as [string, string, string];
      await rejects(signedWith(`${h}.${b}!.${s}`), 'CLAIMS_MALFORMED', /claims is not base64url/);
      await rejects(signedWith(`${h}=.${b}.${s}`), 'CLAIMS_MALFORMED', /header is not base64url/);
      await rejects(signedWith(`${h}.${b}.${s}==`), 'CLAIMS_MALFORMED', /signature is not base64url/);
      // 86 characters hold 64 bytes and 4 spare bits; a set spare bit is another spelling.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(s.at(-1) as string);
      const respelled = s.slice(0, -1) + (alphabet[last ^ 1] as string);
      await rejects(signedWith(`${h}.${b}.${respelled}`), 'CLAIMS_MALFORMED', /signature is not base64url/);
    });

    it('alg other than Ed25519, typ other than jwt', async () => {
      const claims = await claimsFor(binary);
      for (const header of [
        '{"typ":"jwt","alg":"HS256"}',
        '{"typ":"jwt","alg":"none"}',
        '{"typ":"jwt","alg":"ed25519"}',
        '{"typ":"jwt"}',
      ]) {
        await rejects(signedWith(token(claims, ACCOUNT, b64(header))), 'CLAIMS_MALFORMED', /algorithm/);
      }
      for (const header of ['{"typ":"JWT","alg":"Ed25519"}', '{"alg":"Ed25519"}']) {
        await rejects(signedWith(token(claims, ACCOUNT, b64(header))), 'CLAIMS_MALFORMED', /type/);
      }
      await rejects(
        signedWith(token(claims, ACCOUNT, b64('[]'))),
        'CLAIMS_MALFORMED',
        /header is not a JSON object/,
      );
      await rejects(signedWith(token(claims, ACCOUNT, b64('{'))), 'CLAIMS_MALFORMED', /header is not JSON/);
    });

    it('empty iss or sub; an issuer that is not an account key', async () => {
      await rejects(
        signedWith(token(await claimsFor(binary, (c) => (c.iss = '')))),
        'CLAIMS_MALFORMED',
        /empty issuer/,
      );
      await rejects(
        signedWith(token(await claimsFor(binary, (c) => (c.sub = '')))),
        'CLAIMS_MALFORMED',
        /empty subject/,
      );
      await rejects(
        signedWith(token(await claimsFor(binary, (c) => (c.iss = MODULE.publicKey)))),
        'CLAIMS_MALFORMED',
        /not an account key/,
      );
      await rejects(
        signedWith(token(await claimsFor(binary, (c) => (c.iss = 'ACCOUNT')))),
        'CLAIMS_MALFORMED',
        /not an account key/,
      );
    });

    it('missing or mistyped fields, no wascap metadata, claims that are not JSON', async () => {
      const edits: [string, (c: Record<string, unknown>) => void][] = [
        ['no iat', (c) => delete c['iat']],
        ['no jti', (c) => delete c['jti']],
        ['iat as text', (c) => (c['iat'] = '1700000000')],
        ['negative exp', (c) => (c['exp'] = -1)],
        ['fractional nbf', (c) => (c['nbf'] = 1.5)],
        ['no wascap', (c) => delete c['wascap']],
        ['tags not a list', (c) => ((c['wascap'] as Record<string, unknown>)['tags'] = 'a,b')],
        ['rev too large', (c) => ((c['wascap'] as Record<string, unknown>)['rev'] = 2 ** 31)],
        ['no hash', (c) => delete (c['wascap'] as Record<string, unknown>)['hash']],
      ];
      for (const [what, edit] of edits) {
        const claims = await claimsFor(binary, (c) => edit(c as unknown as Record<string, unknown>));
        await assert.rejects(
          verifyComponentClaims(signedWith(token(claims)), { now: NOW }),
          { code: 'CLAIMS_MALFORMED' },
          what,
        );
      }
      await rejects(signedWith(token('not json')), 'CLAIMS_MALFORMED', /claims is not JSON/);
      await rejects(signedWith(token('"text"')), 'CLAIMS_MALFORMED', /not a JSON object/);
      await rejects(
        withSections(binary, custom(CLAIMS_SECTION, Uint8Array.of(0xff, 0xfe))),
        'CLAIMS_MALFORMED',
        /UTF-8/,
      );
    });

    it('a header value nested thousands of levels deep is named by its kind, not serialised', async () => {
      const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
      const claims = await claimsFor(binary);
      await rejects(
        signedWith(token(claims, ACCOUNT, b64(`{"typ":"jwt","alg":${deep}}`))),
        'CLAIMS_MALFORMED',
        /algorithm is an array, only "Ed25519"/,
      );
      await rejects(
        signedWith(token(claims, ACCOUNT, b64(`{"typ":{"a":${deep}},"alg":"Ed25519"}`))),
        'CLAIMS_MALFORMED',
        /type is an object, expected "jwt"/,
      );
    });

    it('components nested deeper than any toolchain nests them, under a valid signature', async () => {
      const nested = deeplyNestedComponent(20_000);
      const signedNested = withSections(nested, custom(CLAIMS_SECTION, token(await claimsFor(binary))));
      await rejects(signedNested, 'CLAIMS_MALFORMED', /nested more than 100 levels deep/);
      assert.throws(() => stripClaimsSections(nested), { code: 'CLAIMS_MALFORMED' });
      assert.equal(stripClaimsSections(deeplyNestedComponent(100)).length, deeplyNestedComponent(100).length);
    });

    it('a binary whose sections run past its end', async () => {
      const signed = await signComponent(binary, options());
      await rejects(
        signed.bytes.subarray(0, signed.bytes.byteLength - 3),
        'CLAIMS_MALFORMED',
        /past the end/,
      );
    });
  });

  it('CLAIMS_DUPLICATE_SECTION: two top-level claims sections, of either name', async () => {
    const signed = await signComponent(coreModule(), options());
    const section = findSectionBytes(signed.bytes);
    await rejects(withSections(signed.bytes, section), 'CLAIMS_DUPLICATE_SECTION', /2 claims sections/);
    await rejects(
      withSections(signed.bytes, custom(LEGACY_CLAIMS_SECTION, signed.token)),
      'CLAIMS_DUPLICATE_SECTION',
      /wasmcloud_jwt, jwt/,
    );
    await rejects(withSections(signed.bytes, section), 'CLAIMS_DUPLICATE_SECTION', undefined, {
      requireSigned: true,
    });
  });

  it('CLAIMS_REQUIRED: unsigned, and the host requires signatures', async () => {
    await rejects(coreModule(), 'CLAIMS_REQUIRED', /is not signed/, {
      requireSigned: true,
      what: 'hello.wasm',
    });
  });

  it('CLAIMS_ISSUER_NOT_ALLOWED', async () => {
    const signed = await signComponent(coreModule(), options());
    await rejects(signed.bytes, 'CLAIMS_ISSUER_NOT_ALLOWED', new RegExp(ACCOUNT.publicKey), {
      allowedIssuers: [OTHER_ACCOUNT.publicKey],
    });
    await rejects(signed.bytes, 'CLAIMS_ISSUER_NOT_ALLOWED', undefined, { allowedIssuers: [] });
  });

  it('errors carry the public identities, never a token or a seed', async () => {
    const signed = await signComponent(coreModule(), options({ expires: NOW_S - 1 }));
    await assert.rejects(verifyComponentClaims(signed.bytes, { now: NOW }), (err: CirrusError) => {
      assert.deepEqual(err.details, { issuer: ACCOUNT.publicKey, subject: MODULE.publicKey, exp: NOW_S - 1 });
      const text = JSON.stringify(err.toJSON()) + err.message;
      assert.ok(!text.includes(signed.token.split('.')[2] as string));
      assert.ok(!/S[AMVNCOUX][A-Z2-7]{56}/.test(text));
      return true;
    });
  });
});

describe('component claims: inspection and events', () => {
  it('inspect reports each check without refusing', async () => {
    const signed = await signComponent(coreModule(), options({ expires: NOW_S - 1 }));
    const tampered = withSections(coreModule({ answer: 1 }), findSectionBytes(signed.bytes));
    const report = await inspectComponentClaims(tampered, NOW);
    assert.ok(report);
    assert.equal(report.section, 'wasmcloud_jwt');
    assert.equal(report.signatureValid, true);
    assert.equal(report.hashMatches, false);
    assert.equal(report.computedHash, await moduleHash(tampered));
    assert.equal(report.expired, true);
    assert.equal(report.notYetValid, false);
  });

  it('component_scaled fields: public_key and the claims summary, as 1.x sends them', async () => {
    const signed = await signComponent(coreModule(), options({ expires: 2_000_000_000, tags: ['t'] }));
    assert.deepEqual(componentClaimsEventFields(signed.claims), {
      public_key: MODULE.publicKey,
      claims: {
        call_alias: null,
        issuer: ACCOUNT.publicKey,
        tags: ['t'],
        name: 'demo',
        version: '0.1.0',
        revision: 1,
        not_before_human: 'never',
        expires_human: '2000000000',
      },
    });
    assert.deepEqual(componentClaimsEventFields(undefined), {});
  });
});
