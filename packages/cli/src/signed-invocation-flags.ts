/** The `cirrus up` flags for signed invocations (beyond 1.x): what the host signs with and what it demands. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ArtifactNotFoundError, parsePublicKey } from '@cirrus/protocol';
import type { HostOptions } from '@cirrus/host';
import { readSeedFile } from './seed-files.ts';

export const SIGNED_INVOCATIONS_USAGE =
  '[--sign-invocations (--cluster-seed FILE | --host-credential FILE)] [--require-signed-invocations (--cluster-issuer C…… | --cluster-seed FILE)]';

export const SIGNED_INVOCATIONS_FLAGS = {
  'sign-invocations': { type: 'boolean' },
  'require-signed-invocations': { type: 'boolean' },
  'cluster-issuer': { type: 'string', multiple: true },
  'cluster-seed': { type: 'string' },
  'host-credential': { type: 'string' },
} as const;

export interface SignedInvocationFlags {
  'sign-invocations'?: boolean | undefined;
  'require-signed-invocations'?: boolean | undefined;
  'cluster-issuer'?: string[] | undefined;
  'cluster-seed'?: string | undefined;
  'host-credential'?: string | undefined;
}

/**
 * Reads the cluster seed (user-only, a cluster seed) and the host credential; none of the flags leaves
 * the host as 1.x. The host checks that the combination makes sense.
 */
export async function signedInvocationOptions(
  flags: SignedInvocationFlags,
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
    seedFile === undefined ? undefined : await readSeedFile(resolve(seedFile), 'cluster', 'the cluster seed');
  let hostCredential: string | undefined;
  if (credentialFile !== undefined) {
    // A credential is no secret (every signed invocation carries it): no permission check.
    hostCredential = await readFile(resolve(credentialFile), 'utf8').catch((err: unknown) => {
      throw new ArtifactNotFoundError(`the host credential ${credentialFile} cannot be read`, {
        hint: 'issue one with: cirrus credential issue --cluster-seed FILE --host N… --output FILE',
        cause: err,
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
