/**
 * `cirrus credential issue`: a host credential for signed invocations, issued offline with a cluster
 * seed, so that the seed stays off the hosts. `cirrus credential inspect` shows one and checks it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { issueHostCredential, nodeInvocationCrypto } from '@cirrus/host';
import {
  ArtifactNotFoundError,
  decodeHostCredential,
  parsePublicKey,
  UsageError,
  verifyHostCredential,
} from '@cirrus/protocol';
import { parseCommandArgs } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { readSeedFile } from '../seed-files.ts';
import { subcommand } from './lattice.ts';

export const CREDENTIAL_USAGE = `cirrus credential issue --cluster-seed FILE (--host N… | --host-seed FILE) [--expires DURATION] > host.jwt
cirrus credential inspect FILE`;

const DEFAULT_EXPIRES = '30d';
const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `90m` in milliseconds. */
function duration(value: string): number {
  const match = /^([1-9][0-9]{0,5})([mhd])$/.exec(value);
  if (match === null) {
    throw new UsageError(
      `--expires must be a whole number of minutes, hours or days, got ${JSON.stringify(value)}`,
      {
        hint: 'e.g. --expires 30d, --expires 12h or --expires 90m',
      },
    );
  }
  return Number(match[1]) * (UNIT_MS[match[2] as string] as number);
}

function usage(message: string): never {
  throw new UsageError(message, { hint: `usage: ${CREDENTIAL_USAGE}` });
}

export async function credential(argv: string[], context: CommandContext): Promise<number> {
  const verb = subcommand(argv, 'credential', ['issue', 'inspect'], CREDENTIAL_USAGE);
  const { values, positionals } = parseCommandArgs(
    argv.slice(1),
    {
      'cluster-seed': { type: 'string' },
      host: { type: 'string' },
      'host-seed': { type: 'string' },
      expires: { type: 'string' },
    },
    CREDENTIAL_USAGE,
  );
  if (verb === 'inspect') {
    const [file, ...extra] = positionals;
    if (file === undefined || extra.length > 0) usage('cirrus credential inspect takes one credential file');
    const jwt = (
      await readFile(resolve(file), 'utf8').catch((err: unknown) => {
        throw new ArtifactNotFoundError(`${file} cannot be read`, { cause: err });
      })
    ).trim();
    const { claims } = decodeHostCredential(jwt);
    context.print(`host      ${claims.sub}`);
    context.print(`cluster   ${claims.iss}`);
    context.print(`issued    ${new Date(claims.iat * 1000).toISOString()}`);
    if (claims.nbf !== undefined) context.print(`not before ${new Date(claims.nbf * 1000).toISOString()}`);
    context.print(`expires   ${new Date(claims.exp * 1000).toISOString()}`);
    await verifyHostCredential(jwt, nodeInvocationCrypto);
    context.print('valid: signed by the cluster key, within its validity');
    return 0;
  }
  if (positionals.length > 0) usage(`unexpected ${positionals.join(' ')}`);
  const seedFile = values['cluster-seed'];
  if (seedFile === undefined) usage('cirrus credential issue needs --cluster-seed FILE');
  if ((values.host === undefined) === (values['host-seed'] === undefined)) {
    usage('name the host with either --host N… or --host-seed FILE');
  }
  const hostId =
    values.host === undefined
      ? (await readSeedFile(resolve(values['host-seed'] as string), 'server', 'the host seed')).publicKey
      : parsePublicKey(values.host, 'server', '--host').publicKey;
  const cluster = await readSeedFile(resolve(seedFile), 'cluster', 'the cluster seed');
  const lifetimeMs = duration(values.expires ?? DEFAULT_EXPIRES);
  const jwt = issueHostCredential(cluster, hostId, lifetimeMs);
  context.print(jwt);
  context.log(
    `credential for host ${hostId} from cluster ${cluster.publicKey}, valid until ${new Date(Date.now() + lifetimeMs).toISOString()}`,
  );
  return 0;
}
