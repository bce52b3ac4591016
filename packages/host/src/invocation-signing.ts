/**
 * Signed invocations on a Node host (the format and the checks are @cirrus/protocol's): Ed25519 and
 * SHA-256 from node:crypto, about 40 µs to sign and 80 µs to verify where nkeys.js's pure JavaScript
 * takes milliseconds; the host's signer, with a credential issued offline or issued by itself from a
 * cluster seed and renewed; and the verifier of a host that requires signatures.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  encodeHostCredential,
  InvalidArgumentError,
  InvocationCredentialInvalidError,
  InvocationVerifier,
  parsePublicKey,
  signInvocation,
  verifyHostCredential,
} from '@cirrus/protocol';
import type { HostCredentialClaims, InvocationCrypto, Limits, Logger, Nkey } from '@cirrus/protocol';
import type { WrpcInvocation, WrpcServeOptions } from '@cirrus/lattice';

/** DER framing that makes 32 raw Ed25519 bytes a PKCS#8 private key or an SPKI public key (RFC 8410). */
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export const nodeInvocationCrypto: InvocationCrypto<KeyObject> = {
  sha256: (data) => createHash('sha256').update(data).digest(),
  importPublicKey: (raw) =>
    createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }),
  verify: (key, data, signature) => verify(null, data, key, signature),
};

/** The key's Ed25519 private key for node:crypto, checked against its public key. */
function privateKeyOf(key: Nkey): KeyObject {
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, key.exportSeedBytes()]),
    format: 'der',
    type: 'pkcs8',
  });
  const derived = createPublicKey(privateKey)
    .export({ format: 'der', type: 'spki' })
    .subarray(SPKI_PREFIX.length);
  if (!derived.equals(parsePublicKey(key.publicKey).raw)) {
    throw new InvalidArgumentError(`the seed of ${key.publicKey} does not give its public key`);
  }
  return privateKey;
}

/** A credential for `hostId`, signed with the cluster key, valid from now for `lifetimeMs`. */
export function issueHostCredential(
  clusterKey: Nkey,
  hostId: string,
  lifetimeMs: number,
  nowMs = Date.now(),
): string {
  const privateKey = privateKeyOf(clusterKey);
  return encodeHostCredential(
    { issuer: clusterKey.publicKey, hostId, issuedAtMs: nowMs, expiresAtMs: nowMs + lifetimeMs },
    (data) => sign(null, data, privateKey),
  );
}

/** The host options for signed invocations (beyond 1.x). Everything off when absent. */
export interface SignedInvocationOptions {
  /** Sign every wRPC invocation the host sends (needs `hostCredential` or `clusterSeed`). */
  sign?: boolean;
  /** Refuse wRPC invocations not signed by a host of an accepted cluster. */
  require?: boolean;
  /** Cluster keys (`C…`) whose host credentials are accepted. */
  clusterIssuers?: readonly string[];
  /** A cluster key the host issues (and renews) its own credential with; its key is also accepted. */
  clusterSeed?: Nkey;
  /** A credential issued offline for this host's key (`cirrus credential issue`). */
  hostCredential?: string;
}

/** What the host threads into its wRPC calls and serving. */
export interface InvocationSigning {
  sign?: WrpcInvocation['sign'];
  verify?: WrpcServeOptions['verify'];
  /** The cluster keys whose hosts' invocations are accepted, when they are required. */
  clusterIssuers?: readonly string[];
}

export interface InvocationSigningContext {
  hostKey: Nkey;
  limits: Limits;
  logger: Logger;
  /** Milliseconds since the epoch. */
  now?: () => number;
}

function invalid(message: string, hint: string): never {
  throw new InvalidArgumentError(message, { hint });
}

/** Checks the options and builds the hooks; rejects a credential that is not valid for this host. */
export async function setUpInvocationSigning(
  options: SignedInvocationOptions,
  context: InvocationSigningContext,
): Promise<InvocationSigning> {
  const { hostKey, limits, logger } = context;
  const now = context.now ?? Date.now;
  const { clusterSeed, hostCredential } = options;
  if (clusterSeed !== undefined && clusterSeed.type !== 'cluster') {
    invalid(`the cluster seed is a ${clusterSeed.type} key`, 'give the seed of a cluster key (SC…)');
  }
  if (options.sign === true && (clusterSeed === undefined) === (hostCredential === undefined)) {
    invalid(
      'signing invocations needs one source of credentials: a host credential or a cluster seed',
      'pass either --host-credential FILE (issued offline) or --cluster-seed FILE',
    );
  }
  if (clusterSeed !== undefined && options.sign !== true && options.require !== true) {
    invalid('a cluster seed is only used to sign or check invocations', 'add --sign-invocations');
  }
  if (options.sign !== true && hostCredential !== undefined) {
    invalid('a host credential is only used to sign invocations', 'add --sign-invocations');
  }
  const issuers = [...(options.clusterIssuers ?? [])];
  if (clusterSeed !== undefined) issuers.push(clusterSeed.publicKey);
  if (options.require === true && issuers.length === 0) {
    invalid(
      'requiring signed invocations needs at least one accepted cluster',
      'pass --cluster-issuer C… (repeatable), or --cluster-seed FILE',
    );
  }
  if (options.require !== true && options.clusterIssuers !== undefined && options.clusterIssuers.length > 0) {
    invalid('cluster issuers are only used to check signed invocations', 'add --require-signed-invocations');
  }
  const out: InvocationSigning = {};
  if (options.sign === true) {
    const credential =
      hostCredential === undefined
        ? selfIssued(clusterSeed as Nkey, hostKey.publicKey, limits.hostCredentialLifetimeMs, now, logger)
        : await offline(hostCredential, hostKey.publicKey, now, logger);
    const privateKey = privateKeyOf(hostKey);
    const signer = { credential, sign: (data: Uint8Array) => sign(null, data, privateKey) };
    out.sign = (fields, params) =>
      signInvocation(fields, params, signer, nodeInvocationCrypto, { now: now() });
  }
  if (options.require === true) {
    const verifier = new InvocationVerifier({
      clusterIssuers: [...new Set(issuers)],
      crypto: nodeInvocationCrypto,
      windowMs: limits.invocationSignatureWindowMs,
      replayCacheSize: limits.invocationReplayCacheSize,
      credentialCacheSize: limits.hostCredentialCacheSize,
      now,
    });
    out.verify = (fields, headers, params) => verifier.verify(fields, headers, params);
    out.clusterIssuers = [...new Set(issuers)];
    logger.info('refusing unsigned invocations', { cluster_issuers: [...new Set(issuers)] });
  }
  return out;
}

/** The current self-issued credential, renewed once half of its lifetime has passed. */
function selfIssued(
  clusterKey: Nkey,
  hostId: string,
  lifetimeMs: number,
  now: () => number,
  logger: Logger,
): () => string {
  let credential = '';
  let renewAt = Number.NEGATIVE_INFINITY;
  const issue = (): void => {
    const at = now();
    credential = issueHostCredential(clusterKey, hostId, lifetimeMs, at);
    renewAt = at + lifetimeMs / 2;
    logger.info('host credential issued', {
      cluster: clusterKey.publicKey,
      expires: new Date(at + lifetimeMs).toISOString(),
    });
  };
  issue();
  return () => {
    if (now() >= renewAt) issue();
    return credential;
  };
}

/** An offline credential, checked once; its expiry is logged once, as every receiver will refuse it. */
async function offline(
  jwt: string,
  hostId: string,
  now: () => number,
  logger: Logger,
): Promise<() => string> {
  const credential = jwt.trim();
  const claims: HostCredentialClaims = await verifyHostCredential(credential, nodeInvocationCrypto, now());
  if (claims.sub !== hostId) {
    throw new InvocationCredentialInvalidError(
      `the host credential is for ${claims.sub}, not this host (${hostId})`,
      {
        hint: `start the host with the seed of ${claims.sub} (--host-seed FILE), or issue a credential for ${hostId}`,
      },
    );
  }
  logger.info('signing invocations', {
    cluster: claims.iss,
    expires: new Date(claims.exp * 1000).toISOString(),
  });
  let reported = false;
  return () => {
    if (!reported && now() >= claims.exp * 1000) {
      reported = true;
      logger.error('the host credential has expired: other hosts refuse this host’s invocations', {
        code: InvocationCredentialInvalidError.CODE,
        expired: new Date(claims.exp * 1000).toISOString(),
      });
    }
    return credential;
  };
}
