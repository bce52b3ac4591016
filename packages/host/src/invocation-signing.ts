/**
 * Signed invocations on a host (the format and the checks are @cirrus/protocol's): the host's signer,
 * with a credential issued offline or issued by itself from a cluster seed and renewed, and the
 * verifier of a host that requires signatures. Ed25519 and SHA-256 come from the platform
 * (`SigningPrimitives`): node:crypto on Node, WebCrypto in a browser.
 */
import {
  describeError,
  InvalidArgumentError,
  InvocationCredentialInvalidError,
  InvocationVerifier,
  signInvocation,
  verifyHostCredential,
} from '@cirrus/protocol';
import type { HostCredentialClaims, InvocationCrypto, Limits, Logger, Nkey } from '@cirrus/protocol';
import type { WrpcInvocation, WrpcServeOptions } from '@cirrus/lattice';

/** The platform's Ed25519 and SHA-256. */
export interface SigningPrimitives {
  crypto: InvocationCrypto<unknown>;
  /** Signs invocations as `key`, whose seed stays inside; asked once per host. */
  signer(key: Nkey): Promise<(data: Uint8Array) => Uint8Array | Promise<Uint8Array>>;
  /** A credential for `hostId`, signed with the cluster key, valid from `nowMs` for `lifetimeMs`. */
  issueCredential(clusterKey: Nkey, hostId: string, lifetimeMs: number, nowMs: number): string;
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
  hostCredential?: string | CredentialSource;
}

/**
 * Where a host gets credentials issued for it (a browser host asks the host that served it): the
 * first before it starts, the next once half the current one's lifetime has passed.
 */
export type CredentialSource = () => Promise<string>;

/** What the host threads into its wRPC calls and serving. */
export interface InvocationSigning {
  sign?: WrpcInvocation['sign'];
  verify?: WrpcServeOptions['verify'];
  /** The cluster keys whose hosts' invocations are accepted, when they are required. */
  clusterIssuers?: readonly string[];
}

export interface InvocationSigningContext {
  hostKey: Nkey;
  primitives: SigningPrimitives;
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
  const { hostKey, limits, logger, primitives } = context;
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
        ? selfIssued(clusterSeed as Nkey, hostKey.publicKey, { ...context, now })
        : typeof hostCredential === 'string'
          ? await offline(hostCredential, hostKey.publicKey, { ...context, now })
          : await fetched(hostCredential, hostKey.publicKey, { ...context, now });
    const signer = { credential, sign: await primitives.signer(hostKey) };
    out.sign = (fields, params) => signInvocation(fields, params, signer, primitives.crypto, { now: now() });
  }
  if (options.require === true) {
    const verifier = new InvocationVerifier({
      clusterIssuers: [...new Set(issuers)],
      crypto: primitives.crypto,
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
  context: InvocationSigningContext & { now: () => number },
): () => string {
  const { now, logger, primitives } = context;
  const lifetimeMs = context.limits.hostCredentialLifetimeMs;
  let credential = '';
  let renewAt = Number.NEGATIVE_INFINITY;
  const issue = (): void => {
    const at = now();
    credential = primitives.issueCredential(clusterKey, hostId, lifetimeMs, at);
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

/** A credential checked for this host; its claims. */
async function checked(
  credential: string,
  hostId: string,
  context: InvocationSigningContext & { now: () => number },
): Promise<HostCredentialClaims> {
  const claims = await verifyHostCredential(credential, context.primitives.crypto, context.now());
  if (claims.sub !== hostId) {
    throw new InvocationCredentialInvalidError(
      `the host credential is for ${claims.sub}, not this host (${hostId})`,
      {
        hint: `start the host with the seed of ${claims.sub} (--host-seed FILE), or issue a credential for ${hostId}`,
      },
    );
  }
  return claims;
}

/**
 * Credentials from `source`: the current one, and the next fetched in the background once half of
 * its lifetime has passed (again at each signature while fetching fails; the current one is used
 * meanwhile, until it expires and receivers refuse it).
 */
async function fetched(
  source: CredentialSource,
  hostId: string,
  context: InvocationSigningContext & { now: () => number },
): Promise<() => string> {
  const { now, logger } = context;
  let credential = (await source()).trim();
  let claims = await checked(credential, hostId, context);
  let renewing = false;
  const renewAt = (): number => (claims.iat * 1000 + claims.exp * 1000) / 2;
  logger.info('signing invocations', {
    cluster: claims.iss,
    expires: new Date(claims.exp * 1000).toISOString(),
  });
  return () => {
    if (!renewing && now() >= renewAt()) {
      renewing = true;
      void (async () => {
        const next = (await source()).trim();
        claims = await checked(next, hostId, context);
        credential = next;
      })()
        .catch((err: unknown) =>
          logger.warn('host credential not renewed', {
            error: describeError(err),
            expires: new Date(claims.exp * 1000).toISOString(),
          }),
        )
        .finally(() => (renewing = false));
    }
    return credential;
  };
}

/** An offline credential, checked once; its expiry is logged once, as every receiver will refuse it. */
async function offline(
  jwt: string,
  hostId: string,
  context: InvocationSigningContext & { now: () => number },
): Promise<() => string> {
  const { now, logger } = context;
  const credential = jwt.trim();
  const claims = await checked(credential, hostId, context);
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
