/** `cirrus update component`: replace the image of a running component, keeping its instance count. */
import type { Command } from 'commander';
import { commandGroup } from '../program.ts';
import type { Invocation } from '../program.ts';
import { HOST_ARGUMENT, latticeCommand, printAck, resolveHost, withControlClient } from './lattice.ts';

export function updateCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const component = latticeCommand(
    'component',
    'replace the image of a running component',
    {},
    invocation,
    ({ args, output, common }) => {
      const [hostArg, componentId, newComponentRef] = args as [string, string, string];
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
    },
  )
    .argument('<HOST>', HOST_ARGUMENT)
    .argument('<ID>', 'id of the running component')
    .argument('<NEWREF>', 'the new image');
  return commandGroup('update', 'replace the image of a running component', [component]);
}
