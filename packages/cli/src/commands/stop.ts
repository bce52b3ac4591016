/** `cirrus stop component|provider|host`. */
import type { Command } from 'commander';
import { ComponentNotRunningError } from '@cirrus/protocol';
import { commandGroup } from '../program.ts';
import type { Invocation } from '../program.ts';
import { HOST_ARGUMENT, latticeCommand, printAck, resolveHost, withControlClient } from './lattice.ts';

export function stopCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const component = latticeCommand(
    'component',
    'stop a component on a host (scale it to 0)',
    {},
    invocation,
    ({ args, output, common }) => {
      const [hostArg, id] = args as [string, string];
      return withControlClient(common, context, async (client) => {
        const hostId = await resolveHost(client, hostArg);
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
      });
    },
  )
    .argument('<HOST>', HOST_ARGUMENT)
    .argument('<ID>', 'id of the component');

  const provider = latticeCommand(
    'provider',
    'stop a provider on a host',
    {},
    invocation,
    ({ args, output, common }) => {
      const [hostArg, id] = args as [string, string];
      return withControlClient(common, context, async (client) => {
        const hostId = await resolveHost(client, hostArg);
        const ack = await client.stopProvider({ hostId, providerId: id });
        printAck(context, output, `Host ${hostId} stopped provider ${id}.`, ack, {
          host_id: hostId,
          provider_id: id,
        });
        return 0;
      });
    },
  )
    .argument('<HOST>', HOST_ARGUMENT)
    .argument('<ID>', 'id of the provider');

  const host = latticeCommand('host', 'stop a whole host', {}, invocation, ({ args, output, common }) => {
    const [hostArg] = args as [string];
    return withControlClient(common, context, async (client) => {
      const hostId = await resolveHost(client, hostArg);
      const ack = await client.stopHost(hostId);
      printAck(context, output, `Host ${hostId} is stopping.`, ack, { host_id: hostId });
      return 0;
    });
  }).argument('<HOST>', HOST_ARGUMENT);

  return commandGroup('stop', 'stop a component, a provider or a host', [component, provider, host]);
}
