/**
 * Signed invocations, opt-in and beyond wasmCloud 1.x (which dropped 0.x's `encoded_claims`, §5.4).
 * A signing host attaches two headers to every wRPC invocation it sends:
 *
 * - `cirrus-host-credential`: a JWT in which a cluster key (`C…`) vouches for the host key (`N…`,
 *   its `sub`) until `exp`;
 * - `cirrus-invocation-signature`: `v1.<time ms>.<nonce>.<params digest>.<signature>`, the host key's
 *   Ed25519 signature over `invocationSigningInput` (lattice, target, instance, function, source id,
 *   link name, time, nonce and the SHA-256 of all parameter bytes).
 *
 * A host that requires signatures checks, in this order: both headers present, the time within the
 * window, the credential's issuer allowed, the credential valid (signature, `exp`, `nbf`; cached
 * per credential string), the invocation signed by the credential's subject, the parameters matching
 * the digest, the nonce not seen before. Each refusal has its own code.
 *
 * Pure: Ed25519 and SHA-256 come in as `InvocationCrypto`, so the Node host can use node:crypto
 * (pure-JavaScript Ed25519 costs milliseconds per signature) and a browser host WebCrypto.
 */
import {
  InvocationCredentialInvalidError,
  InvocationIssuerNotAllowedError,
  InvocationReplayedError,
  InvocationSignatureInvalidError,
  InvocationStaleError,
  InvocationTamperedError,
  InvocationUnsignedError,
} from './errors.ts';
import { parsePublicKey } from './nkeys.ts';
import { decodeBase64Url, encodeBase64Url } from './base64url.ts';
import { webCryptoBytes } from './web-bytes.ts';

export const WRPC_HEADER_HOST_CREDENTIAL = 'cirrus-host-credential';
export const WRPC_HEADER_INVOCATION_SIGNATURE = 'cirrus-invocation-signature';

const SIGNATURE_VERSION = 'v1';
/** Leads the signed bytes, so that an invocation signature can never pass for any other signature. */
const SIGNING_DOMAIN = 'cirrus-invocation-v1';
/** The claim that makes a JWT a host credential and nothing else a cluster key signs. */
const CREDENTIAL_KIND = 'host';
const NONCE_BYTES = 16;
const SIGNATURE_BYTES = 64;

type MaybePromise<T> = T | Promise<T>;

/** What an invocation signature covers besides the parameters: where it goes and who makes it. */
export interface InvocationFields {
  readonly lattice: string;
  readonly targetId: string;
  /** The wRPC instance, e.g. `wrpc:keyvalue/atomics@0.2.0-draft` (empty for a root function). */
  readonly instance: string;
  readonly fn: string;
  readonly sourceId: string;
  readonly linkName: string;
}

/** The primitives, supplied by the platform. `K` is its form of a public key, imported once. */
export interface InvocationCrypto<K> {
  sha256(data: Uint8Array): MaybePromise<Uint8Array>;
  /** A verification key from the 32 bytes of an Ed25519 public key. */
  importPublicKey(raw: Uint8Array): K;
  verify(key: K, data: Uint8Array, signature: Uint8Array): MaybePromise<boolean>;
}

/**
 * The platform's WebCrypto (Node, browsers): slower than node:crypto's one-shot calls, because every
 * step is a promise, but available wherever the protocol runs. Provider processes check with it.
 */
type WebCryptoKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

export const webInvocationCrypto: InvocationCrypto<Promise<WebCryptoKey>> = {
  sha256: async (data) => new Uint8Array(await crypto.subtle.digest('SHA-256', webCryptoBytes(data))),
  importPublicKey: (raw) =>
    crypto.subtle.importKey('raw', webCryptoBytes(raw), { name: 'Ed25519' }, false, ['verify']),
  verify: async (key, data, signature) =>
    crypto.subtle.verify({ name: 'Ed25519' }, await key, webCryptoBytes(signature), webCryptoBytes(data)),
};

/** A host able to sign: its current credential and its key's Ed25519 signature. */
export interface InvocationSigner {
  credential(): string;
  sign(data: Uint8Array): MaybePromise<Uint8Array>;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// --- the signed bytes ------------------------------------------------------------------------------

/**
 * The bytes a host signs for one invocation: a JSON array, so that no field can run into the next
 * whatever characters it holds.
 */
export function invocationSigningInput(
  fields: InvocationFields,
  timeMs: number,
  nonce: string,
  digest: string,
): Uint8Array {
  return utf8.encode(
    JSON.stringify([
      SIGNING_DOMAIN,
      fields.lattice,
      fields.targetId,
      fields.instance,
      fields.fn,
      fields.sourceId,
      fields.linkName,
      timeMs,
      nonce,
      digest,
    ]),
  );
}

export interface SignInvocationOptions {
  /** Signing time in ms since the epoch. Default: now. */
  readonly now?: number;
  /** Default: 16 random bytes, base64url. */
  readonly nonce?: string;
}

/** The headers that sign an invocation with `params` (all its parameter bytes). */
export async function signInvocation(
  fields: InvocationFields,
  params: Uint8Array,
  signer: InvocationSigner,
  primitives: Pick<InvocationCrypto<unknown>, 'sha256'>,
  options: SignInvocationOptions = {},
): Promise<Record<string, string>> {
  const timeMs = Math.floor(options.now ?? Date.now());
  const nonce = options.nonce ?? encodeBase64Url(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)));
  const digest = encodeBase64Url(await primitives.sha256(params));
  const signature = await signer.sign(invocationSigningInput(fields, timeMs, nonce, digest));
  return {
    [WRPC_HEADER_HOST_CREDENTIAL]: signer.credential(),
    [WRPC_HEADER_INVOCATION_SIGNATURE]: [
      SIGNATURE_VERSION,
      timeMs,
      nonce,
      digest,
      encodeBase64Url(signature),
    ].join('.'),
  };
}

// --- host credentials ------------------------------------------------------------------------------

/** The claims of a host credential; times in seconds since the epoch, as in every JWT. */
export interface HostCredentialClaims {
  readonly jti: string;
  readonly iat: number;
  /** The cluster key that issued it (`C…`). */
  readonly iss: string;
  /** The host key it vouches for (`N…`). */
  readonly sub: string;
  readonly exp: number;
  readonly nbf?: number;
  readonly cirrus_credential: typeof CREDENTIAL_KIND;
}

export interface HostCredentialRequest {
  readonly issuer: string;
  readonly hostId: string;
  readonly issuedAtMs: number;
  readonly expiresAtMs: number;
  readonly notBeforeMs?: number;
}

const JWT_HEADER = encodeBase64Url(utf8.encode(JSON.stringify({ typ: 'jwt', alg: 'Ed25519' })));

/**
 * A host credential signed by `sign` (the cluster key's Ed25519 signature): a compact JWS whose header
 * is `{"typ":"jwt","alg":"Ed25519"}`, as wascap's.
 */
export function encodeHostCredential(
  request: HostCredentialRequest,
  sign: (data: Uint8Array) => Uint8Array,
): string {
  parsePublicKey(request.issuer, 'cluster', 'the credential issuer');
  parsePublicKey(request.hostId, 'server', 'the host key');
  const claims: HostCredentialClaims = {
    jti: encodeBase64Url(crypto.getRandomValues(new Uint8Array(NONCE_BYTES))),
    iat: Math.floor(request.issuedAtMs / 1000),
    iss: request.issuer,
    sub: request.hostId,
    exp: Math.floor(request.expiresAtMs / 1000),
    ...(request.notBeforeMs === undefined ? {} : { nbf: Math.floor(request.notBeforeMs / 1000) }),
    cirrus_credential: CREDENTIAL_KIND,
  };
  const input = `${JWT_HEADER}.${encodeBase64Url(utf8.encode(JSON.stringify(claims)))}`;
  return `${input}.${encodeBase64Url(sign(utf8.encode(input)))}`;
}

/** A credential taken apart and checked for shape, not yet for its signature or times. */
export interface DecodedHostCredential {
  readonly claims: HostCredentialClaims;
  /** The issuer's and the host's 32-byte Ed25519 public keys. */
  readonly issuerKey: Uint8Array;
  readonly hostKey: Uint8Array;
  readonly signingInput: Uint8Array;
  readonly signature: Uint8Array;
}

function credentialInvalid(reason: string): never {
  throw new InvocationCredentialInvalidError(`the host credential ${reason}`, {
    hint: 'issue the host a new credential with: cirrus credential issue --cluster-seed FILE --host N…',
  });
}

function isSeconds(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function parseJsonSegment(segment: string, what: string): Record<string, unknown> {
  const bytes = decodeBase64Url(segment);
  if (bytes === undefined) credentialInvalid(`has a ${what} that is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(bytes));
  } catch {
    credentialInvalid(`has a ${what} that is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    credentialInvalid(`has a ${what} that is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Takes a credential apart; INVOCATION_CREDENTIAL_INVALID names what is wrong with its form. */
export function decodeHostCredential(jwt: string): DecodedHostCredential {
  const parts = typeof jwt === 'string' ? jwt.split('.') : [];
  if (parts.length !== 3) credentialInvalid(`has ${parts.length} dot-separated parts, not 3`);
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  const header = parseJsonSegment(headerPart, 'header');
  if (header['alg'] !== 'Ed25519' || header['typ'] !== 'jwt') {
    credentialInvalid('header is not {"typ":"jwt","alg":"Ed25519"}');
  }
  const claims = parseJsonSegment(claimsPart, 'claims segment');
  if (claims['cirrus_credential'] !== CREDENTIAL_KIND) credentialInvalid('is not a host credential');
  if (!isSeconds(claims['iat']) || !isSeconds(claims['exp'])) {
    credentialInvalid('lacks whole-second iat and exp claims');
  }
  if (claims['nbf'] !== undefined && !isSeconds(claims['nbf'])) credentialInvalid('has a malformed nbf');
  if (typeof claims['jti'] !== 'string') credentialInvalid('lacks a jti claim');
  let issuerKey: Uint8Array;
  let hostKey: Uint8Array;
  try {
    issuerKey = parsePublicKey(claims['iss'] as string, 'cluster', 'its issuer').raw;
    hostKey = parsePublicKey(claims['sub'] as string, 'server', 'its subject').raw;
  } catch (err) {
    credentialInvalid(`is malformed: ${err instanceof Error ? err.message : String(err)}`);
  }
  const signature = decodeBase64Url(signaturePart);
  if (signature === undefined || signature.byteLength !== SIGNATURE_BYTES) {
    credentialInvalid('has no 64-byte Ed25519 signature');
  }
  return {
    claims: claims as unknown as HostCredentialClaims,
    issuerKey,
    hostKey,
    signingInput: utf8.encode(`${headerPart}.${claimsPart}`),
    signature,
  };
}

function checkCredentialTimes(claims: HostCredentialClaims, nowMs: number): void {
  const now = Math.floor(nowMs / 1000);
  if (claims.exp <= now) {
    credentialInvalid(`of ${claims.sub} expired at ${new Date(claims.exp * 1000).toISOString()}`);
  }
  if (claims.nbf !== undefined && claims.nbf > now) {
    credentialInvalid(`of ${claims.sub} is not valid before ${new Date(claims.nbf * 1000).toISOString()}`);
  }
}

/** A credential checked completely: form, the issuer's signature, `exp` and `nbf`. */
export async function verifyHostCredential<K>(
  jwt: string,
  primitives: InvocationCrypto<K>,
  nowMs = Date.now(),
): Promise<HostCredentialClaims> {
  const decoded = decodeHostCredential(jwt);
  const issuer = primitives.importPublicKey(decoded.issuerKey);
  if (!(await primitives.verify(issuer, decoded.signingInput, decoded.signature))) {
    credentialInvalid(`of ${decoded.claims.sub} does not carry a valid signature of ${decoded.claims.iss}`);
  }
  checkCredentialTimes(decoded.claims, nowMs);
  return decoded.claims;
}

// --- verification ----------------------------------------------------------------------------------

/**
 * Nonces seen within the window. Bounded: when full, the oldest entry goes and `floor` rises to its
 * signing time, below which no invocation can be told apart from a replay any more (it is refused as
 * stale), so eviction never opens a door to replays.
 */
class ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #size: number;
  readonly #windowMs: number;
  #floor = Number.NEGATIVE_INFINITY;

  constructor(size: number, windowMs: number) {
    this.#size = size;
    this.#windowMs = windowMs;
  }

  get floor(): number {
    return this.#floor;
  }

  /** Records `key`; false when it was seen already. */
  add(key: string, timeMs: number, nowMs: number): boolean {
    // Entries leave in arrival order once past the window, where the time check refuses them anyway.
    for (const [seen, at] of this.#seen) {
      if (at >= nowMs - this.#windowMs) break;
      this.#seen.delete(seen);
    }
    if (this.#seen.has(key)) return false;
    if (this.#seen.size >= this.#size) {
      const [oldest, at] = this.#seen.entries().next().value as [string, number];
      this.#seen.delete(oldest);
      this.#floor = Math.max(this.#floor, at);
    }
    this.#seen.set(key, timeMs);
    return true;
  }
}

export interface InvocationVerifierOptions<K> {
  /** Cluster keys (`C…`) whose host credentials are accepted. */
  readonly clusterIssuers: readonly string[];
  readonly crypto: InvocationCrypto<K>;
  /** How far from now a signing time may be, either way (`invocationSignatureWindowMs`). */
  readonly windowMs: number;
  /** Nonces remembered (`invocationReplayCacheSize`). */
  readonly replayCacheSize: number;
  /** Verified credentials kept (`hostCredentialCacheSize`). */
  readonly credentialCacheSize: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  readonly now?: () => number;
}

/** Who signed an accepted invocation. */
export interface VerifiedInvocation {
  readonly hostId: string;
  readonly clusterIssuer: string;
}

interface KnownCredential<K> {
  readonly claims: HostCredentialClaims;
  readonly hostKey: K;
}

interface ParsedSignature {
  readonly timeMs: number;
  readonly nonce: string;
  readonly digest: string;
  readonly signature: Uint8Array;
}

/** Checks invocations for a serving host; one instance per host, so replays are caught across its exports. */
export class InvocationVerifier<K> {
  readonly #crypto: InvocationCrypto<K>;
  readonly #issuers: ReadonlyMap<string, K>;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #credentials = new Map<string, KnownCredential<K>>();
  readonly #credentialCacheSize: number;
  readonly #replays: ReplayCache;

  constructor(options: InvocationVerifierOptions<K>) {
    this.#crypto = options.crypto;
    this.#issuers = new Map(
      options.clusterIssuers.map((key) => [
        key,
        options.crypto.importPublicKey(parsePublicKey(key, 'cluster', 'the cluster issuer').raw),
      ]),
    );
    this.#windowMs = options.windowMs;
    this.#now = options.now ?? Date.now;
    this.#credentialCacheSize = options.credentialCacheSize;
    this.#replays = new ReplayCache(options.replayCacheSize, options.windowMs);
  }

  /** Resolves with the signer, or rejects with the INVOCATION_* error that refuses the invocation. */
  async verify(
    fields: InvocationFields,
    headers: Readonly<Record<string, string>> | undefined,
    params: Uint8Array,
  ): Promise<VerifiedInvocation> {
    const what = `invocation of ${fields.targetId} ${fields.instance}.${fields.fn} from ${fields.sourceId || 'an unnamed source'}`;
    const credential = headers?.[WRPC_HEADER_HOST_CREDENTIAL];
    const header = headers?.[WRPC_HEADER_INVOCATION_SIGNATURE];
    if (credential === undefined || header === undefined) {
      throw new InvocationUnsignedError(
        `${what} has no ${credential === undefined ? WRPC_HEADER_HOST_CREDENTIAL : WRPC_HEADER_INVOCATION_SIGNATURE} header`,
        { hint: 'start the calling host with --sign-invocations and a host credential' },
      );
    }
    const signed = parseSignatureHeader(header, what);
    const now = this.#now();
    const skew = now - signed.timeMs;
    if (Math.abs(skew) > this.#windowMs) {
      throw new InvocationStaleError(
        `${what} was signed ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ago' : 'ahead of this host'}, outside the ${this.#windowMs} ms window`,
        { hint: 'check that the hosts’ clocks are synchronised (NTP), or raise invocationSignatureWindowMs' },
      );
    }
    const known = await this.#credential(credential, now, what);
    const input = invocationSigningInput(fields, signed.timeMs, signed.nonce, signed.digest);
    if (!(await this.#crypto.verify(known.hostKey, input, signed.signature))) {
      throw new InvocationSignatureInvalidError(
        `${what} does not carry a valid signature of ${known.claims.sub}`,
        { hint: 'the headers were altered, or signed for another target, function, source or link' },
      );
    }
    if (encodeBase64Url(await this.#crypto.sha256(params)) !== signed.digest) {
      throw new InvocationTamperedError(
        `${what}: the parameters are not the ones ${known.claims.sub} signed`,
        {
          hint: 'something between the hosts changed the payload',
        },
      );
    }
    if (signed.timeMs <= this.#replays.floor) {
      throw new InvocationStaleError(
        `${what} was signed before the oldest invocation this host still remembers, so it may be a replay`,
        { hint: 'raise invocationReplayCacheSize for this rate of signed invocations' },
      );
    }
    if (!this.#replays.add(`${known.claims.sub}.${signed.nonce}`, signed.timeMs, now)) {
      throw new InvocationReplayedError(`${what} replays nonce ${signed.nonce} of ${known.claims.sub}`, {
        hint: 'an invocation is served once; something on the lattice sent it again',
      });
    }
    return { hostId: known.claims.sub, clusterIssuer: known.claims.iss };
  }

  /** The credential's subject key, verifying the credential once per string; times checked every time. */
  async #credential(jwt: string, nowMs: number, what: string): Promise<KnownCredential<K>> {
    let known = this.#credentials.get(jwt);
    if (known === undefined) {
      const decoded = decodeHostCredential(jwt);
      const issuer = this.#issuers.get(decoded.claims.iss);
      if (issuer === undefined) throw this.#notAllowed(decoded.claims, what);
      if (!(await this.#crypto.verify(issuer, decoded.signingInput, decoded.signature))) {
        credentialInvalid(
          `of ${decoded.claims.sub} does not carry a valid signature of ${decoded.claims.iss}`,
        );
      }
      known = { claims: decoded.claims, hostKey: this.#crypto.importPublicKey(decoded.hostKey) };
      if (this.#credentials.size >= this.#credentialCacheSize) {
        this.#credentials.delete(this.#credentials.keys().next().value as string);
      }
      this.#credentials.set(jwt, known);
    }
    checkCredentialTimes(known.claims, nowMs);
    return known;
  }

  #notAllowed(claims: HostCredentialClaims, what: string): InvocationIssuerNotAllowedError {
    return new InvocationIssuerNotAllowedError(
      `${what}: host ${claims.sub} has a credential of cluster ${claims.iss}, which this host does not accept`,
      {
        hint: `add --cluster-issuer ${claims.iss} to trust that cluster, or issue the host a credential of an accepted one`,
      },
    );
  }
}

function parseSignatureHeader(header: string, what: string): ParsedSignature {
  const parts = header.split('.');
  const [version, time, nonce, digest, signature] = parts;
  const signatureBytes = signature === undefined ? undefined : decodeBase64Url(signature);
  const timeMs = time !== undefined && /^[0-9]{1,15}$/.test(time) ? Number(time) : Number.NaN;
  if (
    parts.length !== 5 ||
    version !== SIGNATURE_VERSION ||
    !Number.isSafeInteger(timeMs) ||
    nonce === undefined ||
    decodeBase64Url(nonce)?.byteLength !== NONCE_BYTES ||
    digest === undefined ||
    decodeBase64Url(digest)?.byteLength !== 32 ||
    signatureBytes?.byteLength !== SIGNATURE_BYTES
  ) {
    throw new InvocationSignatureInvalidError(
      `${what} has a malformed ${WRPC_HEADER_INVOCATION_SIGNATURE} header`,
      {
        hint: `expected ${SIGNATURE_VERSION}.<time ms>.<nonce>.<digest>.<signature>, base64url parts`,
      },
    );
  }
  return { timeMs, nonce, digest, signature: signatureBytes };
}
