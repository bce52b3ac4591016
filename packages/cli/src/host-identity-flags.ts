/** The `cirrus up` flags for the host's identity and what it demands of component signatures. */
import { resolve } from 'node:path';
import { parsePublicKey } from '@cirrus/protocol';
import type { HostOptions } from '@cirrus/host';
import type { FlagSpecs, FlagValues } from './args.ts';
import { readSeedFile } from './seed-files.ts';

export const HOST_IDENTITY_FLAGS = {
  'host-seed': {
    value: 'FILE',
    description: "the host's server seed (SN…, a file only you can read): a stable host id",
    default: 'a fresh key',
  },
  'require-signed': {
    description: 'refuse components without claims, and provider programs',
  },
  'allowed-issuer': {
    value: 'KEY',
    multiple: true,
    description: 'accept only components signed by this account (A…)',
    default: 'any issuer',
  },
} as const satisfies FlagSpecs;

export type HostIdentityFlags = FlagValues<typeof HOST_IDENTITY_FLAGS>;

/** Reads the host seed file (user-only, a server seed) and checks every allowed issuer is an account key. */
export async function hostIdentityOptions(
  flags: HostIdentityFlags,
  seedMaxBytes: number,
): Promise<Pick<HostOptions, 'hostKey' | 'requireSigned' | 'allowedIssuers'>> {
  const allowedIssuers = flags['allowed-issuer']?.map(
    (key) => parsePublicKey(key, 'account', '--allowed-issuer').publicKey,
  );
  const hostKey =
    flags['host-seed'] === undefined
      ? undefined
      : await readSeedFile(resolve(flags['host-seed']), 'server', 'the host seed', seedMaxBytes);
  return {
    ...(hostKey === undefined ? {} : { hostKey }),
    requireSigned: flags['require-signed'] === true,
    ...(allowedIssuers === undefined ? {} : { allowedIssuers }),
  };
}
