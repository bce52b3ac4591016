/**
 * Signed invocations: the headers a host signs with, and every reason a serving host refuses an
 * invocation, each with its own code. Ed25519 and SHA-256 come from node:crypto here, as on the host.
 */
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  decodeHostCredential,
  encodeHostCredential,
  InvocationVerifier,
  isCirrusError,
  Nkey,
  signInvocation,
  verifyHostCredential,
  WRPC_HEADER_HOST_CREDENTIAL,
  WRPC_HEADER_INVOCATION_SIGNATURE,
} from '../src/index.ts';
import type { InvocationCrypto, InvocationFields, InvocationSigner } from '../src/index.ts';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const primitives: InvocationCrypto<KeyObject> = {
  sha256: (data) => createHash('sha256').update(data).digest(),
  importPublicKey: (raw) =>
    createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }),
  verify: (key, data, signature) => verify(null, data, key, signature),
};

const T0 = Date.UTC(2030, 0, 1);
const WINDOW = 30_000;
const HOUR = 3_600_000;

const cluster = Nkey.create('cluster');
const otherCluster = Nkey.create('cluster');
const host = Nkey.create('server');

const FIELDS: InvocationFields = {
  lattice: 'default',
  targetId: 'kv',
  instance: 'wrpc:keyvalue/atomics@0.2.0-draft',
  fn: 'increment',
  sourceId: 'counter',
  linkName: 'default',
};
const PARAMS = new Uint8Array([6, 98, 117, 99, 107, 101, 116, 1, 107, 1]);

function credential(
  issuer: Nkey = cluster,
  hostId = host.publicKey,
  times: { issuedAtMs?: number; expiresAtMs?: number; notBeforeMs?: number } = {},
): string {
  return encodeHostCredential(
    {
      issuer: issuer.publicKey,
      hostId,
      issuedAtMs: times.issuedAtMs ?? T0,
      expiresAtMs: times.expiresAtMs ?? T0 + HOUR,
      ...(times.notBeforeMs === undefined ? {} : { notBeforeMs: times.notBeforeMs }),
    },
    (data) => issuer.sign(data),
  );
}

function signer(jwt = credential(), key: Nkey = host): InvocationSigner {
  return { credential: () => jwt, sign: (data) => key.sign(data) };
}

function verifier(clock: { now: number }, replayCacheSize = 1_000): InvocationVerifier<KeyObject> {
  return new InvocationVerifier({
    clusterIssuers: [cluster.publicKey],
    crypto: primitives,
    windowMs: WINDOW,
    replayCacheSize,
    credentialCacheSize: 10,
    now: () => clock.now,
  });
}

function sign(
  at = T0,
  options: { fields?: InvocationFields; params?: Uint8Array; signer?: InvocationSigner } = {},
): Promise<Record<string, string>> {
  return signInvocation(
    options.fields ?? FIELDS,
    options.params ?? PARAMS,
    options.signer ?? signer(),
    primitives,
    {
      now: at,
    },
  );
}

async function refused(work: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(work, (err: unknown) => {
    assert.ok(isCirrusError(err), String(err));
    assert.equal(err.code, code, err.message);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

describe('signed invocations', () => {
  it('accepts a signed invocation and names its host and cluster', async () => {
    const headers = await sign();
    assert.deepEqual(Object.keys(headers).sort(), [
      WRPC_HEADER_HOST_CREDENTIAL,
      WRPC_HEADER_INVOCATION_SIGNATURE,
    ]);
    assert.match(
      headers[WRPC_HEADER_INVOCATION_SIGNATURE] ?? '',
      /^v1\.\d+\.[\w-]{22}\.[\w-]{43}\.[\w-]{86}$/,
    );
    const verified = await verifier({ now: T0 + 1_000 }).verify(FIELDS, headers, PARAMS);
    assert.deepEqual(verified, { hostId: host.publicKey, clusterIssuer: cluster.publicKey });
  });

  it('refuses an invocation without both headers', async () => {
    const v = verifier({ now: T0 });
    const headers = await sign();
    await refused(v.verify(FIELDS, undefined, PARAMS), 'INVOCATION_UNSIGNED');
    await refused(v.verify(FIELDS, { 'source-id': 'counter' }, PARAMS), 'INVOCATION_UNSIGNED');
    const credentialOnly = { [WRPC_HEADER_HOST_CREDENTIAL]: headers[WRPC_HEADER_HOST_CREDENTIAL] as string };
    await refused(
      v.verify(FIELDS, credentialOnly, PARAMS),
      'INVOCATION_UNSIGNED',
      /cirrus-invocation-signature/,
    );
  });

  it('refuses parameters other than the signed ones as tampered', async () => {
    const headers = await sign();
    const tampered = PARAMS.slice();
    tampered[tampered.length - 1] = 2;
    await refused(verifier({ now: T0 }).verify(FIELDS, headers, tampered), 'INVOCATION_TAMPERED');
  });

  it('refuses a signature over another target, instance, function, source, link or lattice', async () => {
    const headers = await sign();
    const v = verifier({ now: T0 });
    for (const change of [
      { targetId: 'kv2' },
      { instance: 'wrpc:keyvalue/store@0.2.0-draft' },
      { fn: 'get' },
      { sourceId: 'intruder' },
      { linkName: 'other' },
      { lattice: 'prod' },
    ]) {
      await refused(v.verify({ ...FIELDS, ...change }, headers, PARAMS), 'INVOCATION_SIGNATURE_INVALID');
    }
  });

  it('refuses a signature header that was altered or is malformed', async () => {
    const headers = await sign();
    const v = verifier({ now: T0 });
    const header = headers[WRPC_HEADER_INVOCATION_SIGNATURE] as string;
    const [version, time, nonce, digest, signature] = header.split('.') as [
      string,
      string,
      string,
      string,
      string,
    ];
    const variants = [
      // A later time, or another nonce, under the same signature.
      [version, String(Number(time) + 1), nonce, digest, signature],
      [version, time, Buffer.alloc(16, 7).toString('base64url'), digest, signature],
      // The signature of another key.
      [
        version,
        time,
        nonce,
        digest,
        Buffer.from(Nkey.create('server').sign(new Uint8Array(1))).toString('base64url'),
      ],
    ];
    for (const parts of variants) {
      await refused(
        v.verify(FIELDS, { ...headers, [WRPC_HEADER_INVOCATION_SIGNATURE]: parts.join('.') }, PARAMS),
        'INVOCATION_SIGNATURE_INVALID',
      );
    }
    for (const bad of [
      '',
      'v2.1.a.b.c',
      `${header}.x`,
      header.replace(/^v1\.\d+/, 'v1.soon'),
      header.slice(0, -2),
    ]) {
      await refused(
        v.verify(FIELDS, { ...headers, [WRPC_HEADER_INVOCATION_SIGNATURE]: bad }, PARAMS),
        'INVOCATION_SIGNATURE_INVALID',
        /malformed/,
      );
    }
  });

  it('refuses the same invocation a second time', async () => {
    const headers = await sign();
    const v = verifier({ now: T0 });
    await v.verify(FIELDS, headers, PARAMS);
    await refused(v.verify(FIELDS, headers, PARAMS), 'INVOCATION_REPLAYED');
    // Another invocation with the same parameters is fine: it has its own nonce.
    await v.verify(FIELDS, await sign(), PARAMS);
  });

  it('refuses an invocation signed outside the window, either way', async () => {
    const headers = await sign(T0);
    await refused(
      verifier({ now: T0 + WINDOW + 1 }).verify(FIELDS, headers, PARAMS),
      'INVOCATION_STALE',
      /ago/,
    );
    await refused(
      verifier({ now: T0 - WINDOW - 1 }).verify(FIELDS, headers, PARAMS),
      'INVOCATION_STALE',
      /ahead/,
    );
    await verifier({ now: T0 + WINDOW }).verify(FIELDS, headers, PARAMS);
  });

  it('refuses, when its replay cache is full, what it can no longer tell from a replay', async () => {
    const clock = { now: T0 };
    const v = verifier(clock, 2);
    const first = await sign(T0);
    const second = await sign(T0 + 1);
    await v.verify(FIELDS, first, PARAMS);
    await v.verify(FIELDS, second, PARAMS);
    await v.verify(FIELDS, await sign(T0 + 2), PARAMS);
    // `first` was forgotten to make room: its replay is refused all the same.
    await refused(v.verify(FIELDS, first, PARAMS), 'INVOCATION_STALE', /may be a replay/);
    await refused(v.verify(FIELDS, second, PARAMS), 'INVOCATION_REPLAYED');
    await v.verify(FIELDS, await sign(T0 + 3), PARAMS);
    // Past the window, entries leave without raising the floor.
    clock.now = T0 + 10 * WINDOW;
    await v.verify(FIELDS, await sign(clock.now - WINDOW), PARAMS);
  });

  it('refuses a host whose credential no accepted cluster issued', async () => {
    const headers = await sign(T0, { signer: signer(credential(otherCluster)) });
    await refused(
      verifier({ now: T0 }).verify(FIELDS, headers, PARAMS),
      'INVOCATION_ISSUER_NOT_ALLOWED',
      new RegExp(otherCluster.publicKey),
    );
  });

  it('refuses a credential that is forged, expired, not yet valid, malformed, or of another host', async () => {
    const clock = { now: T0 };
    const v = verifier(clock);
    const valid = credential();
    const [header, claims, signature] = valid.split('.') as [string, string, string];
    const flipped = Buffer.from(signature, 'base64url');
    flipped[0] = (flipped[0] as number) ^ 1;
    // Claims re-signed by another cluster key, keeping the accepted issuer.
    const reSigned = `${header}.${claims}.${Buffer.from(otherCluster.sign(Buffer.from(`${header}.${claims}`))).toString('base64url')}`;
    const cases: [string, RegExp][] = [
      [`${header}.${claims}.${flipped.toString('base64url')}`, /valid signature/],
      [reSigned, /valid signature/],
      [credential(cluster, host.publicKey, { expiresAtMs: T0 - 1_000 }), /expired/],
      [credential(cluster, host.publicKey, { notBeforeMs: T0 + 60_000 }), /not valid before/],
      [`${header}.${claims}`, /2 dot-separated parts/],
      [`${header}.${claims}.${signature}.x`, /4 dot-separated parts/],
      [`${header}.!!.${signature}`, /base64url/],
      [
        `${Buffer.from('{"typ":"jwt","alg":"HS256"}').toString('base64url')}.${claims}.${signature}`,
        /header/,
      ],
    ];
    for (const [jwt, message] of cases) {
      const headers = await sign(T0, { signer: signer(jwt) });
      await refused(v.verify(FIELDS, headers, PARAMS), 'INVOCATION_CREDENTIAL_INVALID', message);
    }
    // A valid credential of another host, with this host's signature.
    const stolen = await sign(T0, { signer: signer(credential(cluster, Nkey.create('server').publicKey)) });
    await refused(v.verify(FIELDS, stolen, PARAMS), 'INVOCATION_SIGNATURE_INVALID');
  });

  it('checks a cached credential’s expiry on every invocation', async () => {
    const clock = { now: T0 };
    const v = verifier(clock);
    const jwt = credential(cluster, host.publicKey, { expiresAtMs: T0 + 10_000 });
    await v.verify(FIELDS, await sign(T0, { signer: signer(jwt) }), PARAMS);
    clock.now = T0 + 10_000;
    await refused(
      v.verify(FIELDS, await sign(clock.now, { signer: signer(jwt) }), PARAMS),
      'INVOCATION_CREDENTIAL_INVALID',
      /expired/,
    );
  });

  it('issues credentials in the JWT form wascap uses and checks them completely', async () => {
    const jwt = credential();
    const decoded = decodeHostCredential(jwt);
    assert.deepEqual(JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString()), {
      typ: 'jwt',
      alg: 'Ed25519',
    });
    assert.equal(decoded.claims.iss, cluster.publicKey);
    assert.equal(decoded.claims.sub, host.publicKey);
    assert.equal(decoded.claims.exp, (T0 + HOUR) / 1000);
    assert.equal((await verifyHostCredential(jwt, primitives, T0)).sub, host.publicKey);
    await refused(
      verifyHostCredential(jwt, primitives, T0 + HOUR),
      'INVOCATION_CREDENTIAL_INVALID',
      /expired/,
    );
    assert.throws(() => credential(host, host.publicKey), { code: 'NKEY_WRONG_TYPE' });
    assert.throws(() => credential(cluster, cluster.publicKey), { code: 'NKEY_WRONG_TYPE' });
  });
});
