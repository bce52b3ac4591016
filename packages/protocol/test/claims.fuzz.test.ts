/**
 * Fuzzing claims extraction and verification: arbitrary bytes, and signed and unsigned modules and
 * components with bytes flipped, cut off, inserted, section sizes made huge or nesting made deep,
 * give claims (or none) or a Cirrus error, within a time bound; the normalised binary the hash covers
 * is never larger than the input. Claims tokens built from hostile JSON decode or are refused as
 * CLAIMS_MALFORMED. Signal: the thrown value's class, output sizes and elapsed time.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { fc, fuzz, fuzzAsync } from '@cirrus/testing';
import {
  CLAIMS_SECTION,
  ClaimsMalformedError,
  claimsSectionText,
  decodeClaimsToken,
  findClaimsSections,
  inspectComponentClaims,
  isCirrusError,
  Nkey,
  signComponent,
  stripClaimsSections,
  verifyClaimsSignature,
  verifyComponentClaims,
} from '../src/index.ts';
import {
  component,
  coreModule,
  custom,
  deeplyNestedComponent,
  nestedComponent,
  withSections,
} from './wasm-builder.ts';

const ACCOUNT = Nkey.fromSeed('SAALBMHP7I7WSP7VHNRD5LZ2XMMN4WNT2OFVPHSNB5XF3X3ACESDILXIXM');
const MODULE = Nkey.fromSeed('SMAOMRMHDXQ2JMQVDPCE3GUMEUOVKLNPMJQTRQEPV2YZO2FPTZLJ5TGA74');
const NOW = new Date('2025-06-01T00:00:00Z');
const TIME_BOUND_MS = 1000;

const b64 = (text: string): string => Buffer.from(text).toString('base64url');

/** Runs `fn`, which may return or throw a Cirrus error, within the time bound. */
async function bounded(what: string, fn: () => unknown): Promise<void> {
  const began = performance.now();
  try {
    await fn();
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(isCirrusError(err), `${what} threw ${String(err)} instead of a Cirrus error`);
  }
  const elapsed = performance.now() - began;
  assert.ok(elapsed < TIME_BOUND_MS, `${what} took ${Math.round(elapsed)} ms`);
}

/** Every reader of a binary's claims, each checked on its own. */
async function readAll(bytes: Uint8Array): Promise<void> {
  await bounded('findClaimsSections', () => {
    for (const section of findClaimsSections(bytes)) {
      assert.ok(section.data.byteLength <= bytes.byteLength);
      claimsSectionText(section);
    }
  });
  await bounded('stripClaimsSections', () => {
    // Shortest sizes and fewer sections: the hashed form never outgrows the input.
    assert.ok(stripClaimsSections(bytes).byteLength <= bytes.byteLength);
  });
  await bounded('verifyComponentClaims', () => verifyComponentClaims(bytes, { now: NOW }));
  await bounded('inspectComponentClaims', () => inspectComponentClaims(bytes, NOW));
}

type Mutation =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'huge-size'; at: number; leb: number[] };

const HUGE = [
  [0xff, 0xff, 0xff, 0xff, 0x0f],
  [0xff, 0xff, 0xff, 0xff, 0x7f],
  [0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
  [0xfe, 0xff, 0xff, 0xff, 0x0f],
];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .tuple(fc.nat(), fc.integer({ min: 0, max: 255 }))
    .map(([at, byte]): Mutation => ({ kind: 'flip', at, byte })),
  fc.nat().map((at): Mutation => ({ kind: 'truncate', at })),
  fc
    .tuple(fc.nat(), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }))
    .map(([at, bytes]): Mutation => ({ kind: 'insert', at, bytes })),
  fc.tuple(fc.nat(), fc.constantFrom(...HUGE)).map(([at, leb]): Mutation => ({ kind: 'huge-size', at, leb })),
);

/** Section starts of a binary (after the header), where a size LEB128 follows the id byte. */
function sectionSizeOffsets(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let pos = 8;
  while (pos < bytes.length) {
    out.push(pos + 1);
    let size = 0;
    let shift = 0;
    let at = pos + 1;
    for (;;) {
      const b = bytes[at++];
      if (b === undefined) return out;
      size += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) break;
    }
    pos = at + size;
  }
  return out;
}

function mutate(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = m.at % (bytes.length + 1);
  switch (m.kind) {
    case 'flip': {
      const copy = bytes.slice();
      copy[at % bytes.length] = m.byte;
      return copy;
    }
    case 'truncate':
      return bytes.subarray(0, at);
    case 'insert':
      return Uint8Array.from([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)]);
    case 'huge-size': {
      // Replace a section's size (its first byte onwards) with a huge one, keeping what follows.
      const offsets = sectionSizeOffsets(bytes);
      const where = offsets.length === 0 ? at : (offsets[m.at % offsets.length] as number);
      let end = where;
      while (end < bytes.length && ((bytes[end] as number) & 0x80) !== 0) end++;
      return Uint8Array.from([...bytes.subarray(0, where), ...m.leb, ...bytes.subarray(end + 1)]);
    }
  }
}

describe('claims extraction and verification under fuzzing', () => {
  const bases: Uint8Array[] = [];

  before(async () => {
    const plainModule = coreModule({ extra: [custom('name', 'demo')] });
    const plainComponent = component(
      [coreModule()],
      [nestedComponent(component([coreModule({ extra: [custom('jwt', 'nested')] })])), custom('other', 'x')],
    );
    const sign = (bytes: Uint8Array) =>
      signComponent(bytes, { issuer: ACCOUNT, subject: MODULE, name: 'demo', issuedAt: 1_700_000_000 });
    bases.push(
      plainModule,
      plainComponent,
      (await sign(plainModule)).bytes,
      (await sign(plainComponent)).bytes,
      deeplyNestedComponent(40),
    );
  });

  it('arbitrary bytes, with or without a WebAssembly header, give claims, none, or a Cirrus error', async () => {
    const header = fc.constantFrom(
      [],
      [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00],
    );
    await fuzzAsync(
      fc.asyncProperty(header, fc.uint8Array({ maxLength: 96 }), async (head, tail) => {
        await readAll(Uint8Array.from([...head, ...tail]));
      }),
      300,
    );
  });

  it('mutated modules and components, signed or not, give claims, none, or a Cirrus error', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        fc.nat(),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        async (pick, mutations) => {
          const base = bases[pick % bases.length] as Uint8Array;
          await readAll(mutations.reduce(mutate, base));
        },
      ),
      300,
    );
  });

  it('components nested any number of levels deep are normalised or refused as CLAIMS_MALFORMED', async () => {
    await fuzzAsync(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 5_000, max: 30_000 })),
        async (depth) => {
          const nested = deeplyNestedComponent(depth);
          await readAll(nested);
          await readAll(withSections(nested, custom(CLAIMS_SECTION, 'a.b.c')));
        },
      ),
      20,
    );
  });

  it('claims tokens made of hostile JSON decode or are refused as CLAIMS_MALFORMED', () => {
    const deep = fc.integer({ min: 1, max: 20_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);
    const jsonText = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      deep,
      fc.constantFrom(
        '{"typ":"jwt","alg":"Ed25519"}',
        '{"typ":"jwt","alg":"Ed25519","__proto__":{"alg":"none"}}',
        '{"jti":"x","iat":1e999,"iss":"A","sub":"M","wascap":{"hash":"H"}}',
        '{"jti":"x","iat":1,"iss":"A","sub":"M","wascap":{"hash":"H","tags":[[[]]],"rev":2147483648}}',
        '{"constructor":{"prototype":{"polluted":true}}}',
        '',
        '{',
      ),
      fc.tuple(fc.constantFrom('alg', 'typ', 'iss', 'wascap', 'exp'), deep).map(([k, v]) => `{"${k}":${v}}`),
    );
    const segment = fc.oneof(
      { weight: 4, arbitrary: jsonText.map(b64) },
      { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
      {
        weight: 1,
        arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('base64url')),
      },
    );
    fuzz(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 4 }), (segments) => {
        const token = segments.join('.');
        try {
          verifyClaimsSignature(decodeClaimsToken(token));
        } catch (err) {
          assert.ok(isCirrusError(err), `threw ${String(err)} for ${token.slice(0, 80)}`);
          if (!(err instanceof ClaimsMalformedError)) assert.equal(err.code, 'CLAIMS_SIGNATURE_INVALID');
        }
        assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      }),
      200,
    );
  });
});
