/** `cirrus stop component|provider|host`. */
import { ComponentNotRunningError } from '@cirrus/protocol';
import type { CommandContext } from '../context.ts';
import {
  COMMON_FLAGS,
  parseSubcommand,
  printAck,
  resolveHost,
  subcommand,
  withControlClient,
} from './lattice.ts';

export const STOP_USAGE = [
  `cirrus stop component HOST ID ${COMMON_FLAGS}`,
  `cirrus stop provider HOST ID ${COMMON_FLAGS}`,
  `cirrus stop host HOST ${COMMON_FLAGS}`,
].join('\n');

const SUBCOMMANDS = ['component', 'provider', 'host'] as const;

export async function stop(argv: string[], context: CommandContext): Promise<number> {
  const name = subcommand(argv, 'stop', SUBCOMMANDS, STOP_USAGE);
  const usage = STOP_USAGE.split('\n').find((line) => line.startsWith(`cirrus stop ${name}`)) ?? STOP_USAGE;
  const required = name === 'host' ? ['HOST'] : ['HOST', 'ID'];
  const { positionals, output, common } = parseSubcommand(argv.slice(1), {}, usage, { required });
  const [hostArg, id] = positionals as [string, string];
  return withControlClient(common, context, async (client) => {
    const hostId = await resolveHost(client, hostArg);
    switch (name) {
      case 'component': {
        // A scale request names the image; stopping should not make the user repeat it, so take it
        // from the host's inventory (as wash does).
        const inventory = await client.getInventory(hostId);
        const running = inventory.components.find((c) => c.id === id);
        if (running === undefined) {
          throw new ComponentNotRunningError(`component ${id} is not running on host ${hostId}`, {
            hint: `see what runs there with \`cirrus get inventory ${hostId}\``,
          });
        }
        const ack = await client.scaleComponent({
          hostId,
          componentRef: running.image_ref,
          componentId: id,
          count: 0,
        });
        printAck(context, output, `Host ${hostId} is stopping component ${id}.`, ack, {
          host_id: hostId,
          component_id: id,
        });
        return 0;
      }
      case 'provider': {
        const ack = await client.stopProvider({ hostId, providerId: id });
        printAck(context, output, `Host ${hostId} stopped provider ${id}.`, ack, {
          host_id: hostId,
          provider_id: id,
        });
        return 0;
      }
      case 'host': {
        const ack = await client.stopHost(hostId);
        printAck(context, output, `Host ${hostId} is stopping.`, ack, { host_id: hostId });
        return 0;
      }
    }
  });
}
