/**
 * `cirrus credential issue`: a host credential for signed invocations, issued offline with a cluster
 * seed, so that the seed stays off the hosts. `cirrus credential inspect` shows one and checks it.
 */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { issueHostCredential, nodeInvocationCrypto } from '@cirrus/host';
import {
  decodeHostCredential,
  parsePublicKey,
  resolveLimits,
  UsageError,
  verifyHostCredential,
} from '@cirrus/protocol';
import { readRegularTextFile } from '@cirrus/runtime';
import { addFlags, flagValues, usageHint } from '../args.ts';
import type { FlagSpecs } from '../args.ts';
import { commandGroup, runs } from '../program.ts';
import type { Invocation } from '../program.ts';
import { readSeedFile } from '../seed-files.ts';

const DEFAULT_EXPIRES = '30d';
const UNIT_MS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

const ISSUE_FLAGS = {
  'cluster-seed': {
    value: 'FILE',
    description: 'the cluster seed (SC…, a file only you can read) that signs (required)',
  },
  host: { value: 'KEY', description: "the host's public key (N…); or give --host-seed" },
  'host-seed': { value: 'FILE', description: "the host's seed file, to take its public key from" },
  expires: {
    value: 'DURATION',
    description: 'lifetime: minutes, hours or days (90m, 12h, 30d)',
    default: DEFAULT_EXPIRES,
  },
} as const satisfies FlagSpecs;

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

export function credentialCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const issue = new Command('issue')
    .summary('print a host credential for signed invocations (a JWT on stdout)')
    .description(
      'Prints a host credential for signed invocations: a JWT signed by the cluster key, vouching for the host key. Give it to the host with cirrus up --host-credential FILE.',
    );
  addFlags(issue, ISSUE_FLAGS);
  runs(issue, invocation, async () => {
    const values = flagValues(issue, ISSUE_FLAGS);
    const usage = (message: string): never => {
      throw new UsageError(message, { hint: usageHint(issue) });
    };
    const seedFile = values['cluster-seed'];
    if (seedFile === undefined) return usage('cirrus credential issue needs --cluster-seed FILE');
    if ((values.host === undefined) === (values['host-seed'] === undefined)) {
      usage('name the host with either --host N… or --host-seed FILE');
    }
    const limits = resolveLimits({}, context.env);
    const hostId =
      values.host === undefined
        ? (
            await readSeedFile(
              resolve(values['host-seed'] as string),
              'server',
              'the host seed',
              limits.secretFileMaxBytes,
            )
          ).publicKey
        : parsePublicKey(values.host, 'server', '--host').publicKey;
    const cluster = await readSeedFile(
      resolve(seedFile),
      'cluster',
      'the cluster seed',
      limits.secretFileMaxBytes,
    );
    const lifetimeMs = duration(values.expires ?? DEFAULT_EXPIRES);
    const jwt = issueHostCredential(cluster, hostId, lifetimeMs);
    context.print(jwt);
    context.log(
      `credential for host ${hostId} from cluster ${cluster.publicKey}, valid until ${new Date(Date.now() + lifetimeMs).toISOString()}`,
    );
    return 0;
  });

  const inspect = new Command('inspect')
    .summary("show a credential's host, cluster and times, and check it")
    .description("Shows a host credential's host, cluster and times, then checks its signature and validity.")
    .argument('<FILE>', 'the credential (a JWT) to inspect');
  runs(inspect, invocation, async () => {
    const limits = resolveLimits({}, context.env);
    const file = resolve(inspect.args[0] as string);
    const jwt = (
      await readRegularTextFile(file, {
        what: 'credential file',
        maxBytes: limits.secretFileMaxBytes,
        limitName: 'secretFileMaxBytes',
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
  });

  return commandGroup('credential', 'issue a host credential for signed invocations, or inspect one', [
    issue,
    inspect,
  ]);
}
