/** The `cirrus up` flags for signed invocations (beyond 1.x): what the host signs with and what it demands. */
import { resolve } from 'node:path';
import { FileNotFoundError, parsePublicKey } from '@cirrus/protocol';
import type { HostOptions } from '@cirrus/host';
import { readRegularTextFile } from '@cirrus/runtime';
import type { FlagSpecs, FlagValues } from './args.ts';
import { readSeedFile } from './seed-files.ts';

export const SIGNED_INVOCATIONS_FLAGS = {
  'sign-invocations': {
    description: 'sign every wRPC invocation sent; needs --cluster-seed or --host-credential',
  },
  'require-signed-invocations': {
    description: "refuse unsigned, stale, replayed or foreign invocations of this host's components",
  },
  'cluster-issuer': {
    value: 'KEY',
    multiple: true,
    description: 'a cluster key (C…) whose host credentials are accepted',
    default: 'the --cluster-seed key',
  },
  'cluster-seed': {
    value: 'FILE',
    description: 'a cluster seed (SC…, a file only you can read): the host issues its own credential',
  },
  'host-credential': {
    value: 'FILE',
    description: "a credential issued for this host's key by cirrus credential issue",
  },
} as const satisfies FlagSpecs;

export type SignedInvocationFlags = FlagValues<typeof SIGNED_INVOCATIONS_FLAGS>;

/**
 * Reads the cluster seed (user-only, a cluster seed) and the host credential; none of the flags leaves
 * the host as 1.x. The host checks that the combination makes sense.
 */
export async function signedInvocationOptions(
  flags: SignedInvocationFlags,
  fileMaxBytes: number,
): Promise<Pick<HostOptions, 'signedInvocations'>> {
  const clusterIssuers = flags['cluster-issuer']?.map(
    (key) => parsePublicKey(key, 'cluster', '--cluster-issuer').publicKey,
  );
  const seedFile = flags['cluster-seed'];
  const credentialFile = flags['host-credential'];
  if (
    flags['sign-invocations'] !== true &&
    flags['require-signed-invocations'] !== true &&
    clusterIssuers === undefined &&
    seedFile === undefined &&
    credentialFile === undefined
  ) {
    return {};
  }
  const clusterSeed =
    seedFile === undefined
      ? undefined
      : await readSeedFile(resolve(seedFile), 'cluster', 'the cluster seed', fileMaxBytes);
  let hostCredential: string | undefined;
  if (credentialFile !== undefined) {
    // A credential is no secret (every signed invocation carries it): no permission check.
    hostCredential = await readRegularTextFile(resolve(credentialFile), {
      what: 'host credential',
      maxBytes: fileMaxBytes,
      limitName: 'secretFileMaxBytes',
    }).catch((err: unknown) => {
      if (!(err instanceof FileNotFoundError)) throw err;
      throw new FileNotFoundError(err.message, {
        hint: 'issue one with: cirrus credential issue --cluster-seed FILE --host N… > FILE',
      });
    });
  }
  return {
    signedInvocations: {
      sign: flags['sign-invocations'] === true,
      require: flags['require-signed-invocations'] === true,
      ...(clusterIssuers === undefined ? {} : { clusterIssuers }),
      ...(clusterSeed === undefined ? {} : { clusterSeed }),
      ...(hostCredential === undefined ? {} : { hostCredential }),
    },
  };
}
