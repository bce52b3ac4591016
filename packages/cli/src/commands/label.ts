/** `cirrus label put|del`: a host's labels (what auctions and spread requirements match on). */
import type { CommandContext } from '../context.ts';
import { keyValues } from '../args.ts';
import {
  COMMON_FLAGS,
  parseSubcommand,
  printAck,
  resolveHost,
  subcommand,
  withControlClient,
} from './lattice.ts';

export const LABEL_USAGE = [
  `cirrus label put HOST KEY=VALUE… ${COMMON_FLAGS}`,
  `cirrus label del HOST KEY ${COMMON_FLAGS}`,
].join('\n');

export async function label(argv: string[], context: CommandContext): Promise<number> {
  const name = subcommand(argv, 'label', ['put', 'del'], LABEL_USAGE);
  const usage =
    LABEL_USAGE.split('\n').find((line) => line.startsWith(`cirrus label ${name}`)) ?? LABEL_USAGE;
  if (name === 'put') {
    const { positionals, output, common } = parseSubcommand(argv.slice(1), {}, usage, {
      required: ['HOST', 'KEY=VALUE'],
      rest: true,
    });
    const [hostArg, ...pairs] = positionals as [string, ...string[]];
    const labels = keyValues(pairs, `cirrus label put ${hostArg}`);
    return withControlClient(common, context, async (client) => {
      const hostId = await resolveHost(client, hostArg);
      let message = '';
      // One request per label, as the 1.x interface has no batch form.
      for (const [key, value] of Object.entries(labels)) {
        const ack = await client.putLabel(hostId, key, value);
        if (ack.message !== '') message = ack.message;
      }
      printAck(
        context,
        output,
        `Host ${hostId} labelled ${Object.keys(labels)
          .map((k) => `${k}=${labels[k]}`)
          .join(', ')}.`,
        { message },
        {
          host_id: hostId,
          labels,
        },
      );
      return 0;
    });
  }
  const { positionals, output, common } = parseSubcommand(argv.slice(1), {}, usage, {
    required: ['HOST', 'KEY'],
  });
  const [hostArg, key] = positionals as [string, string];
  return withControlClient(common, context, async (client) => {
    const hostId = await resolveHost(client, hostArg);
    const ack = await client.deleteLabel(hostId, key);
    printAck(context, output, `Label ${key} removed from host ${hostId}.`, ack, { host_id: hostId });
    return 0;
  });
}
