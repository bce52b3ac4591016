/** `cirrus label put|del`: a host's labels (what auctions and spread requirements match on). */
import type { Command } from 'commander';
import { keyValues } from '../args.ts';
import { commandGroup } from '../program.ts';
import type { Invocation } from '../program.ts';
import { HOST_ARGUMENT, latticeCommand, printAck, resolveHost, withControlClient } from './lattice.ts';

export function labelCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const put = latticeCommand('put', 'put labels on a host', {}, invocation, ({ args, output, common }) => {
    const [hostArg, ...pairs] = args as [string, ...string[]];
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
  })
    .argument('<HOST>', HOST_ARGUMENT)
    .argument('<KEY=VALUE...>', 'labels to put; hostcore.* keys are reserved');

  const del = latticeCommand(
    'del',
    'remove a label from a host',
    {},
    invocation,
    ({ args, output, common }) => {
      const [hostArg, key] = args as [string, string];
      return withControlClient(common, context, async (client) => {
        const hostId = await resolveHost(client, hostArg);
        const ack = await client.deleteLabel(hostId, key);
        printAck(context, output, `Label ${key} removed from host ${hostId}.`, ack, { host_id: hostId });
        return 0;
      });
    },
  )
    .argument('<HOST>', HOST_ARGUMENT)
    .argument('<KEY>', 'key of the label');

  return commandGroup('label', 'put or delete a host label', [put, del]);
}
