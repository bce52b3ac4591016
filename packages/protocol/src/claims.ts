/**
 * Component claims as wascap writes and wasmCloud 1.x reads them (§5.2): a compact JWS with header
 * `{"typ":"jwt","alg":"Ed25519"}`, signed by an account key, embedded in a `wasmcloud_jwt` custom
 * section, whose `wascap.hash` is the SHA-256 of the binary without claims sections.
 *
 * Verification is stricter than 1.x in three ways, each a host setting or a fixed rule: the hash is
 * checked whatever `wascap_revision` says (1.x skips it below 3, which would let anyone re-use an old
 * signature on new code), exactly one top-level claims section is allowed, and a host may require a
 * signature and restrict issuers.
 *
 * SHA-256 comes from WebCrypto (`crypto.subtle`), present in Node and browsers: components are
 * megabytes, and native hashing keeps a check of every start in the milliseconds.
 */
import {
  ClaimsDuplicateSectionError,
  ClaimsExpiredError,
  ClaimsHashMismatchError,
  ClaimsIssuerNotAllowedError,
  ClaimsMalformedError,
  ClaimsNotYetValidError,
  ClaimsRequiredError,
  ClaimsSignatureInvalidError,
  InvalidArgumentError,
} from './errors.ts';
import { parsePublicKey, verifyNkeySignature } from './nkeys.ts';
import type { Nkey } from './nkeys.ts';
import {
  claimsSectionText,
  embedClaimsSection,
  findClaimsSections,
  stripClaimsSections,
} from './wasm-sections.ts';
import { decodeBase64Url, encodeBase64Url } from './base64url.ts';
import { webCryptoBytes } from './web-bytes.ts';

/** The claims format revision Cirrus writes, as current wascap does. */
export const WASCAP_REVISION = 3;

const HEADER_TYP = 'jwt';
const HEADER_ALG = 'Ed25519';

/** `wascap` of component claims; optional fields are left out when absent, as wascap does. */
export interface WascapComponentMetadata {
  name?: string;
  /** SHA-256 of the binary without claims sections, upper-case hex. */
  hash: string;
  tags?: string[];
  rev?: number;
  ver?: string;
  call_alias?: string;
  /** Whether the signer meant a capability provider (always false for components). */
  prov: boolean;
}

/** Component claims (the JWT's payload). Times are seconds since the epoch. */
export interface WascapClaims {
  exp?: number;
  jti: string;
  iat: number;
  /** The account (`A…`) that signed. */
  iss: string;
  /** The component's identity, a module key (`M…`) when wash or Cirrus signed it. */
  sub: string;
  nbf?: number;
  wascap: WascapComponentMetadata;
  wascap_revision?: number;
}

export interface DecodedClaimsToken {
  readonly claims: WascapClaims;
  /** `<header>.<claims>`: the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: Uint8Array;
}

const encoder = new TextEncoder();

// --- decoding ----------------------------------------------------------------------------------------

function malformed(message: string): ClaimsMalformedError {
  return new ClaimsMalformedError(message, {
    hint: 'the embedded token is damaged or was not written by wascap, wash or cirrus; sign the component again',
  });
}

function segmentJson(segment: string, what: string): Record<string, unknown> {
  const bytes = decodeBase64Url(segment);
  if (bytes === undefined) throw malformed(`the token's ${what} is not base64url without padding`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw malformed(`the token's ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed(`the token's ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function isWhole(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

const U32_MAX = 0xffff_ffff;
const I32_MIN = -0x8000_0000;
const I32_MAX = 0x7fff_ffff;

/** A field that wascap decodes as `Option<…>`: absent and null both mean absent. */
function optional<T>(
  obj: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
  what: string,
): T | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!check(value)) throw malformed(`claims field ${key} must be ${what}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isTime = (v: unknown): v is number => isWhole(v, 0, Number.MAX_VALUE);
const isRev = (v: unknown): v is number => isWhole(v, I32_MIN, I32_MAX);
const isRevision = (v: unknown): v is number => isWhole(v, 0, U32_MAX);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

function metadataOf(value: unknown): WascapComponentMetadata {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw malformed('the claims have no wascap metadata (not component claims)');
  }
  const obj = value as Record<string, unknown>;
  const hash = obj['hash'];
  if (typeof hash !== 'string') throw malformed('claims field wascap.hash must be a string');
  const name = optional(obj, 'name', isString, 'a string');
  const tags = optional(obj, 'tags', isStrings, 'a list of strings');
  const rev = optional(obj, 'rev', isRev, 'a 32-bit integer');
  const ver = optional(obj, 'ver', isString, 'a string');
  const callAlias = optional(obj, 'call_alias', isString, 'a string');
  const prov = optional(obj, 'prov', isBool, 'true or false');
  // Rebuilt in wascap's field order, so that encoding these claims again gives wascap's bytes.
  return {
    ...(name === undefined ? {} : { name }),
    hash,
    ...(tags === undefined ? {} : { tags: [...tags] }),
    ...(rev === undefined ? {} : { rev }),
    ...(ver === undefined ? {} : { ver }),
    ...(callAlias === undefined ? {} : { call_alias: callAlias }),
    prov: prov ?? false,
  };
}

function claimsOf(obj: Record<string, unknown>): WascapClaims {
  const required = <T>(key: string, check: (v: unknown) => v is T, what: string): T => {
    const value = optional(obj, key, check, what);
    if (value === undefined) throw malformed(`the claims have no ${key}`);
    return value;
  };
  const exp = optional(obj, 'exp', isTime, 'seconds since the epoch');
  const jti = required('jti', isString, 'a string');
  const iat = required('iat', isTime, 'seconds since the epoch');
  const iss = required('iss', isString, 'a string');
  const sub = required('sub', isString, 'a string');
  const nbf = optional(obj, 'nbf', isTime, 'seconds since the epoch');
  const wascap = metadataOf(obj['wascap']);
  const revision = optional(obj, 'wascap_revision', isRevision, 'a whole number');
  if (iss === '') throw malformed('the claims have an empty issuer (iss)');
  if (sub === '') throw malformed('the claims have an empty subject (sub)');
  try {
    parsePublicKey(iss, 'account', 'the issuer (iss)');
  } catch (err) {
    throw malformed(`the claims' issuer is not an account key: ${(err as Error).message}`);
  }
  return {
    ...(exp === undefined ? {} : { exp }),
    jti,
    iat,
    iss,
    sub,
    ...(nbf === undefined ? {} : { nbf }),
    wascap,
    ...(revision === undefined ? {} : { wascap_revision: revision }),
  };
}

/**
 * A header value for a message: strings and scalars as JSON, anything else by its kind, since
 * serialising an arbitrary value could recurse past the stack (a header nested thousands deep).
 */
function headerValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

/**
 * Splits and decodes a compact JWS holding component claims, checking its shape (three segments,
 * base64url, the exact header values, typed fields, a non-empty account issuer and subject) but not
 * its signature. Throws CLAIMS_MALFORMED.
 */
export function decodeClaimsToken(token: string): DecodedClaimsToken {
  const segments = token.split('.');
  if (segments.length !== 3) {
    throw malformed(`the token has ${segments.length} segments, a signed JWT has 3`);
  }
  const [head, body, sig] = segments as [string, string, string];
  const header = segmentJson(head, 'header');
  if (header['alg'] !== HEADER_ALG) {
    throw malformed(`the token's algorithm is ${headerValue(header['alg'])}, only "Ed25519" is accepted`);
  }
  if (header['typ'] !== HEADER_TYP) {
    throw malformed(`the token's type is ${headerValue(header['typ'])}, expected "jwt"`);
  }
  const claims = claimsOf(segmentJson(body, 'claims'));
  const signature = decodeBase64Url(sig);
  if (signature === undefined) throw malformed("the token's signature is not base64url without padding");
  return { claims, signingInput: `${head}.${body}`, signature };
}

/** Throws CLAIMS_SIGNATURE_INVALID unless the issuer's key signed the token. */
export function verifyClaimsSignature(decoded: DecodedClaimsToken, what = 'the component'): void {
  const ok = verifyNkeySignature(decoded.claims.iss, encoder.encode(decoded.signingInput), decoded.signature);
  if (!ok) {
    throw new ClaimsSignatureInvalidError(
      `the claims of ${what} are not signed by their issuer ${decoded.claims.iss}`,
      {
        hint: 'the claims were altered or signed with another key; do not run this component, or sign it again with the issuer key',
        details: { issuer: decoded.claims.iss, subject: decoded.claims.sub },
      },
    );
  }
}

// --- encoding ----------------------------------------------------------------------------------------

/** Encodes and signs claims: wascap's header, field order and base64url, so the bytes match its output. */
export function encodeClaimsToken(claims: WascapClaims, issuer: Nkey): string {
  if (issuer.publicKey !== claims.iss) {
    throw new InvalidArgumentError(
      `the claims name issuer ${claims.iss}, but the key is ${issuer.publicKey}`,
    );
  }
  const segment = (value: object): string => encodeBase64Url(encoder.encode(JSON.stringify(value)));
  // Object literals keep insertion order: wascap's (serde's) field order.
  const { exp, jti, iat, iss, sub, nbf, wascap, wascap_revision } = claims;
  const { name, hash, tags, rev, ver, call_alias, prov } = wascap;
  const body = {
    exp,
    jti,
    iat,
    iss,
    sub,
    nbf,
    wascap: { name, hash, tags, rev, ver, call_alias, prov },
    wascap_revision,
  };
  const signingInput = `${segment({ typ: HEADER_TYP, alg: HEADER_ALG })}.${segment(body)}`;
  return `${signingInput}.${encodeBase64Url(issuer.sign(encoder.encode(signingInput)))}`;
}

/** SHA-256 of the binary without claims sections, upper-case hex: the claims' module hash. */
export async function moduleHash(bytes: Uint8Array): Promise<string> {
  const stripped = stripClaimsSections(bytes);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', webCryptoBytes(stripped)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
}

const NUID_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A random 22-character id, the shape of the nuid wascap puts in `jti`. */
function newJti(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(22));
  return Array.from(bytes, (b) => NUID_ALPHABET[b % NUID_ALPHABET.length]).join('');
}

export interface SignComponentOptions {
  /** The account key that signs (`iss`). */
  issuer: Nkey;
  /** The component's module key (`sub`), or its public key. */
  subject: Nkey | string;
  name: string;
  ver?: string;
  rev?: number;
  tags?: readonly string[];
  /** Seconds since the epoch after which the claims are no longer valid. */
  expires?: number;
  /** Seconds since the epoch before which the claims are not valid yet. */
  notBefore?: number;
  /** Seconds since the epoch (default: now). */
  issuedAt?: number;
  /** Default: a random nuid-shaped id. */
  jti?: string;
}

export interface SignedComponent {
  readonly bytes: Uint8Array;
  readonly claims: WascapClaims;
  readonly token: string;
}

/**
 * Signs a module or component: strips any claims it had, hashes, and embeds one `wasmcloud_jwt`
 * section with revision-3 claims. Tags are always written (wash writes `[]` too).
 */
export async function signComponent(
  bytes: Uint8Array,
  options: SignComponentOptions,
): Promise<SignedComponent> {
  const issuer = options.issuer;
  if (issuer.type !== 'account') {
    throw new InvalidArgumentError(`claims are signed by an account key, not a ${issuer.type} key`, {
      hint: 'cirrus keys gen account',
    });
  }
  const sub =
    typeof options.subject === 'string'
      ? parsePublicKey(options.subject, 'module', 'the subject').publicKey
      : parsePublicKey(options.subject.publicKey, 'module', 'the subject').publicKey;
  if (typeof options.name !== 'string' || options.name === '') {
    throw new InvalidArgumentError('a component needs a name to be signed', { hint: 'e.g. --name hello' });
  }
  if (options.rev !== undefined && !isRev(options.rev)) {
    throw new InvalidArgumentError(`rev must be a 32-bit whole number, got ${String(options.rev)}`);
  }
  for (const [key, value] of [
    ['expires', options.expires],
    ['notBefore', options.notBefore],
    ['issuedAt', options.issuedAt],
  ] as const) {
    if (value !== undefined && !isTime(value)) {
      throw new InvalidArgumentError(`${key} must be whole seconds since the epoch, got ${String(value)}`);
    }
  }
  const claims: WascapClaims = {
    ...(options.expires === undefined ? {} : { exp: options.expires }),
    jti: options.jti ?? newJti(),
    iat: options.issuedAt ?? Math.floor(Date.now() / 1000),
    iss: issuer.publicKey,
    sub,
    ...(options.notBefore === undefined ? {} : { nbf: options.notBefore }),
    wascap: {
      name: options.name,
      hash: await moduleHash(bytes),
      tags: [...(options.tags ?? [])],
      ...(options.rev === undefined ? {} : { rev: options.rev }),
      ...(options.ver === undefined ? {} : { ver: options.ver }),
      prov: false,
    },
    wascap_revision: WASCAP_REVISION,
  };
  const token = encodeClaimsToken(claims, issuer);
  return { bytes: embedClaimsSection(bytes, token), claims, token };
}

// --- verification --------------------------------------------------------------------------------------

export interface ClaimsVerificationOptions {
  /** The time to judge `exp` and `nbf` by (default: now). */
  now?: Date;
  /** Refuse components without claims (CLAIMS_REQUIRED). */
  requireSigned?: boolean;
  /** When given, only these accounts (`A…`) may have signed (CLAIMS_ISSUER_NOT_ALLOWED). */
  allowedIssuers?: readonly string[];
  /** Names the component in error messages, e.g. its reference. */
  what?: string;
}

/** A timestamp for messages: ISO 8601 where representable, the raw seconds otherwise. */
function when(seconds: number): string {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? `${seconds} s after the epoch` : date.toISOString();
}

/** The one claims section of a binary (or undefined); more than one is CLAIMS_DUPLICATE_SECTION. */
function claimsToken(bytes: Uint8Array, what: string): { token: string; section: string } | undefined {
  const found = findClaimsSections(bytes);
  if (found.length > 1) {
    throw new ClaimsDuplicateSectionError(
      `${what} has ${found.length} claims sections (${found.map((s) => s.name).join(', ')}); exactly one is allowed`,
      {
        hint: 'which one a host reads would decide who signed it; sign the component again (signing replaces every claims section)',
      },
    );
  }
  const section = found[0];
  return section === undefined ? undefined : { token: claimsSectionText(section), section: section.name };
}

/**
 * Checks the claims of a module or component, as a host does on every start and update: one
 * top-level claims section at most, a well-formed token, the issuer's signature, an allowed issuer,
 * the module hash (whatever the revision), `exp` and `nbf`. Returns the claims, or undefined for an
 * unsigned binary that `requireSigned` does not refuse. Each failure has its own error code.
 */
export async function verifyComponentClaims(
  bytes: Uint8Array,
  options: ClaimsVerificationOptions = {},
): Promise<WascapClaims | undefined> {
  const what = options.what ?? 'the component';
  const found = claimsToken(bytes, what);
  if (found === undefined) {
    if (options.requireSigned === true) {
      throw new ClaimsRequiredError(`${what} is not signed, and this host runs signed components only`, {
        hint: 'sign it: cirrus claims sign <wasm> --issuer <account seed file> --name … --ver … --rev …',
      });
    }
    return undefined;
  }
  const decoded = decodeClaimsToken(found.token);
  verifyClaimsSignature(decoded, what);
  const { claims } = decoded;
  const details = { issuer: claims.iss, subject: claims.sub };
  if (options.allowedIssuers !== undefined && !options.allowedIssuers.includes(claims.iss)) {
    throw new ClaimsIssuerNotAllowedError(
      `${what} is signed by ${claims.iss}, which this host does not accept`,
      {
        hint: 'sign it with an allowed account, or add the account with --allowed-issuer',
        details,
      },
    );
  }
  const computed = await moduleHash(bytes);
  if (claims.wascap.hash !== computed) {
    throw new ClaimsHashMismatchError(
      `the code of ${what} does not match its claims: they name hash ${claims.wascap.hash}, the binary hashes to ${computed}`,
      {
        hint: 'the binary was changed after it was signed; rebuild and sign it again',
        details: { ...details, expected: claims.wascap.hash, computed },
      },
    );
  }
  const nowMs = (options.now ?? new Date()).getTime();
  if (claims.exp !== undefined && claims.exp * 1000 < nowMs) {
    throw new ClaimsExpiredError(`the claims of ${what} expired at ${when(claims.exp)}`, {
      hint: 'sign the component again with a later --expires',
      details: { ...details, exp: claims.exp },
    });
  }
  if (claims.nbf !== undefined && nowMs < claims.nbf * 1000) {
    throw new ClaimsNotYetValidError(`the claims of ${what} are not valid before ${when(claims.nbf)}`, {
      hint: 'wait until then, check this host clock, or sign it again without --not-before',
      details: { ...details, nbf: claims.nbf },
    });
  }
  return claims;
}

export interface ClaimsInspection {
  readonly claims: WascapClaims;
  readonly token: string;
  /** `wasmcloud_jwt`, or `jwt` for components signed by wascap before 0.9. */
  readonly section: string;
  readonly signatureValid: boolean;
  readonly computedHash: string;
  readonly hashMatches: boolean;
  readonly expired: boolean;
  readonly notYetValid: boolean;
}

/**
 * What a binary's claims say and which checks they pass, without refusing it for a failed one: for
 * `cirrus claims inspect`. Undefined when unsigned; a malformed token or a second section still throws.
 */
export async function inspectComponentClaims(
  bytes: Uint8Array,
  now: Date = new Date(),
): Promise<ClaimsInspection | undefined> {
  const found = claimsToken(bytes, 'the component');
  if (found === undefined) return undefined;
  const decoded = decodeClaimsToken(found.token);
  const { claims } = decoded;
  const computedHash = await moduleHash(bytes);
  const nowMs = now.getTime();
  return {
    claims,
    token: found.token,
    section: found.section,
    signatureValid: verifyNkeySignature(claims.iss, encoder.encode(decoded.signingInput), decoded.signature),
    computedHash,
    hashMatches: computedHash === claims.wascap.hash,
    expired: claims.exp !== undefined && claims.exp * 1000 < nowMs,
    notYetValid: claims.nbf !== undefined && nowMs < claims.nbf * 1000,
  };
}

/** The claims summary 1.x puts in `component_scaled` (absent fields are null, times are strings). */
export interface ComponentClaimsEventSummary {
  call_alias: string | null;
  issuer: string;
  tags: string[] | null;
  name: string | null;
  version: string | null;
  revision: number | null;
  not_before_human: string;
  expires_human: string;
}

/**
 * The fields a 1.x host adds to `component_scaled` for a signed component: `public_key` (the
 * subject) and `claims`; none for an unsigned one.
 */
export function componentClaimsEventFields(
  claims: WascapClaims | undefined,
): { public_key: string; claims: ComponentClaimsEventSummary } | Record<string, never> {
  if (claims === undefined) return {};
  const { wascap } = claims;
  return {
    public_key: claims.sub,
    claims: {
      call_alias: wascap.call_alias ?? null,
      issuer: claims.iss,
      tags: wascap.tags === undefined ? null : [...wascap.tags],
      name: wascap.name ?? null,
      version: wascap.ver ?? null,
      revision: wascap.rev ?? null,
      not_before_human: claims.nbf === undefined ? 'never' : String(claims.nbf),
      expires_human: claims.exp === undefined ? 'never' : String(claims.exp),
    },
  };
}

/** The `CLAIMS_<subject>` record a 1.x host stores in LATTICEDATA when a signed component starts. */
export interface StoredComponentClaims {
  call_alias: string;
  issuer: string;
  name: string;
  revision: string;
  subject: string;
  tags: string[];
  version: string;
}

/** Claims as 1.x stores them for `claims.get`: absent fields empty, the revision as text. */
export function storedComponentClaims(claims: WascapClaims): StoredComponentClaims {
  const { wascap } = claims;
  return {
    call_alias: wascap.call_alias ?? '',
    issuer: claims.iss,
    name: wascap.name ?? '',
    revision: String(wascap.rev ?? 0),
    subject: claims.sub,
    tags: [...(wascap.tags ?? [])],
    version: wascap.ver ?? '',
  };
}
