/** `cirrus update component`: replace the image of a running component, keeping its instance count. */
import type { CommandContext } from '../context.ts';
import {
  COMMON_FLAGS,
  parseSubcommand,
  printAck,
  resolveHost,
  subcommand,
  withControlClient,
} from './lattice.ts';

export const UPDATE_USAGE = `cirrus update component HOST ID NEWREF ${COMMON_FLAGS}`;

export async function update(argv: string[], context: CommandContext): Promise<number> {
  subcommand(argv, 'update', ['component'], UPDATE_USAGE);
  const { positionals, output, common } = parseSubcommand(argv.slice(1), {}, UPDATE_USAGE, {
    required: ['HOST', 'ID', 'NEWREF'],
  });
  const [hostArg, componentId, newComponentRef] = positionals as [string, string, string];
  return withControlClient(common, context, async (client) => {
    const hostId = await resolveHost(client, hostArg);
    const ack = await client.updateComponent({ hostId, componentId, newComponentRef });
    printAck(
      context,
      output,
      `Host ${hostId} is updating component ${componentId} to ${newComponentRef}.`,
      ack,
      {
        host_id: hostId,
        component_id: componentId,
      },
    );
    return 0;
  });
}
