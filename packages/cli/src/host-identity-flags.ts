/** The `cirrus up` flags for the host's identity and what it demands of component signatures. */
import { resolve } from 'node:path';
import { parsePublicKey } from '@cirrus/protocol';
import type { HostOptions } from '@cirrus/host';
import { readSeedFile } from './seed-files.ts';

export const HOST_IDENTITY_USAGE = '[--host-seed FILE] [--require-signed] [--allowed-issuer A…]…';

export interface HostIdentityFlags {
  'host-seed'?: string | undefined;
  'require-signed'?: boolean | undefined;
  'allowed-issuer'?: string[] | undefined;
}

/** Reads the host seed file (user-only, a server seed) and checks every allowed issuer is an account key. */
export async function hostIdentityOptions(
  flags: HostIdentityFlags,
): Promise<Pick<HostOptions, 'hostKey' | 'requireSigned' | 'allowedIssuers'>> {
  const allowedIssuers = flags['allowed-issuer']?.map(
    (key) => parsePublicKey(key, 'account', '--allowed-issuer').publicKey,
  );
  const hostKey =
    flags['host-seed'] === undefined
      ? undefined
      : await readSeedFile(resolve(flags['host-seed']), 'server', 'the host seed');
  return {
    ...(hostKey === undefined ? {} : { hostKey }),
    requireSigned: flags['require-signed'] === true,
    ...(allowedIssuers === undefined ? {} : { allowedIssuers }),
  };
}
