/**
 * nkeys: every type letter, the same encoding as nkeys.js for the types it knows, typed errors for a
 * wrong type or a malformed key, and seeds that do not leak through JSON, strings or the inspector.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import {
  createAccount,
  createCluster,
  createCurve,
  createOperator,
  createServer,
  createUser,
  fromCurveSeed,
  fromSeed,
} from '@nats-io/nkeys';
import {
  isPublicKey,
  Nkey,
  NKEY_LETTERS,
  NKEY_SEED_PATTERN,
  NKEY_TYPES,
  nkeyTypeOfLetter,
  parsePublicKey,
  verifyNkeySignature,
} from '../src/index.ts';

const text = new TextEncoder();

describe('nkeys', () => {
  it('creates keys of every type: the letter, 56-character public keys, 58-character seeds', () => {
    for (const type of NKEY_TYPES) {
      const key = Nkey.create(type);
      const letter = NKEY_LETTERS[type];
      assert.match(key.publicKey, new RegExp(`^${letter}[A-Z2-7]{55}$`), type);
      assert.match(key.exportSeed(), new RegExp(`^S${letter}[A-Z2-7]{56}$`), type);
      assert.equal(nkeyTypeOfLetter(letter), type);
      const again = Nkey.fromSeed(key.exportSeed());
      assert.equal(again.publicKey, key.publicKey);
      assert.equal(again.type, type);
      assert.deepEqual(parsePublicKey(key.publicKey).type, type);
    }
    assert.deepEqual(
      NKEY_TYPES.map((t) => NKEY_LETTERS[t]),
      ['A', 'M', 'V', 'N', 'C', 'O', 'U', 'X'],
    );
  });

  it('reads and writes the same seeds and public keys as nkeys.js', () => {
    const pairs = [createAccount(), createServer(), createCluster(), createOperator(), createUser()];
    for (const pair of pairs) {
      const seed = new TextDecoder().decode(pair.getSeed());
      const ours = Nkey.fromSeed(seed);
      assert.equal(ours.publicKey, pair.getPublicKey());
      assert.equal(ours.exportSeed(), seed);
      const data = text.encode('signed by both');
      assert.deepEqual(ours.sign(data), pair.sign(data), 'Ed25519 signatures are deterministic');
      assert.ok(verifyNkeySignature(ours.publicKey, data, pair.sign(data)));
    }
    for (const type of ['account', 'server', 'cluster', 'operator', 'user'] as const) {
      const ours = Nkey.create(type);
      assert.equal(fromSeed(text.encode(ours.exportSeed())).getPublicKey(), ours.publicKey);
    }
    const curve = createCurve();
    assert.equal(Nkey.fromSeed(new TextDecoder().decode(curve.getSeed())).publicKey, curve.getPublicKey());
    const ourCurve = Nkey.create('curve');
    assert.equal(fromCurveSeed(text.encode(ourCurve.exportSeed())).getPublicKey(), ourCurve.publicKey);
  });

  it('signs as module and service keys, which nkeys.js does not know', () => {
    for (const type of ['module', 'service'] as const) {
      const key = Nkey.create(type);
      const data = text.encode('payload');
      const signature = key.sign(data);
      assert.equal(signature.byteLength, 64);
      assert.ok(verifyNkeySignature(key.publicKey, data, signature));
      assert.ok(!verifyNkeySignature(key.publicKey, text.encode('other'), signature));
      assert.ok(!verifyNkeySignature(Nkey.create(type).publicKey, data, signature));
    }
  });

  it('parses public keys found in real wascap claims and wash tests', () => {
    assert.equal(parsePublicKey('MBNA4BH7QJ2FLP7O3S6QT74DU4GBTI3JE7JINOH55DMYMUSYMKBKG3NO').type, 'module');
    assert.equal(parsePublicKey('ABJ6WQ5FBGXECIJBBGA7BG73IKE7ITD2DRAURV5WB5ZUTYTNOOAYGPIG').type, 'account');
    assert.equal(parsePublicKey('VBKTSBG2WKP6RJWLQ5O7RDVIIB4LMW6U5R67A7QMIDBZDGZWYTUE3TSI').type, 'service');
  });

  it('NKEY_WRONG_TYPE: a valid key of another type, naming what was expected', () => {
    const module = Nkey.create('module');
    assert.throws(() => parsePublicKey(module.publicKey, 'account', '--allowed-issuer'), {
      code: 'NKEY_WRONG_TYPE',
      message: /--allowed-issuer M\S+ is a module key, expected account \(A…\)/,
    });
    assert.throws(() => Nkey.fromSeed(module.exportSeed(), ['server', 'cluster'], 'the host seed'), {
      code: 'NKEY_WRONG_TYPE',
      message: /the host seed is a module key, expected server \(N…\) or cluster \(C…\)/,
    });
    assert.throws(() => Nkey.create('curve').sign(text.encode('x')), { code: 'NKEY_WRONG_TYPE' });
    assert.equal(isPublicKey(module.publicKey, 'account'), false);
    assert.equal(isPublicKey(module.publicKey, 'module'), true);
  });

  it('NKEY_MALFORMED: wrong length, alphabet, checksum, prefix or spare bits', () => {
    const key = Nkey.create('account');
    const pub = key.publicKey;
    const flip = (s: string, i: number): string =>
      s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    for (const bad of [
      '',
      pub.slice(1),
      `${pub}A`,
      pub.toLowerCase(),
      flip(pub, 20),
      `P${pub.slice(1)}`,
      'S'.repeat(56),
      key.exportSeed(),
    ]) {
      assert.throws(() => parsePublicKey(bad), { code: 'NKEY_MALFORMED' }, JSON.stringify(bad));
      assert.equal(isPublicKey(bad), false);
    }
    const seed = key.exportSeed();
    for (const bad of [seed.slice(0, -1), flip(seed, 30), pub, `${seed}A`, '']) {
      assert.throws(() => Nkey.fromSeed(bad), { code: 'NKEY_MALFORMED' });
    }
    // 58 characters carry 288 bits and 2 spare ones: a set spare bit is another spelling of the seed.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
    const respelled = seed.slice(0, -1) + alphabet[alphabet.indexOf(seed.at(-1) as string) ^ 1];
    assert.throws(() => Nkey.fromSeed(respelled), { code: 'NKEY_MALFORMED' });
    assert.equal(
      Nkey.fromSeed(`  ${seed}\n`).publicKey,
      pub,
      'surrounding whitespace of a seed file is fine',
    );
  });

  it('errors about a seed never quote it', () => {
    const seed = Nkey.create('module').exportSeed();
    for (const attempt of [
      () => Nkey.fromSeed(seed, 'account', 'the issuer key'),
      () => Nkey.fromSeed(`${seed.slice(0, 40)}AAAAAAAAAAAAAAAAAA`, 'account'),
    ]) {
      assert.throws(attempt, (err: Error & { hint?: string }) => {
        assert.ok(!`${err.message} ${err.hint ?? ''}`.includes(seed.slice(2, 20)));
        return true;
      });
    }
  });

  it('a key shows its public key only: JSON, strings, the inspector', () => {
    const key = Nkey.create('server');
    const seed = key.exportSeed();
    for (const shown of [JSON.stringify(key), String(key), inspect(key), inspect({ nested: { key } })]) {
      assert.ok(!shown.includes(seed), shown);
      assert.ok(shown.includes(key.publicKey), shown);
    }
    assert.deepEqual(Object.keys(key), ['type', 'publicKey']);
  });

  it('NKEY_SEED_PATTERN finds seeds of every type in text', () => {
    const seeds = NKEY_TYPES.map((t) => Nkey.create(t).exportSeed());
    const found = `log: ${seeds.join(' and ')}.`.match(NKEY_SEED_PATTERN);
    assert.deepEqual(found, seeds);
  });
});
