/** `cirrus config put|del`: named configuration shared by the lattice. */
import type { Command } from 'commander';
import { keyValues } from '../args.ts';
import { commandGroup } from '../program.ts';
import type { Invocation } from '../program.ts';
import { latticeCommand, printAck, withControlClient } from './lattice.ts';

export function configCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const put = latticeCommand(
    'put',
    'put named config, replacing what the name held',
    {},
    invocation,
    ({ args, output, common }) => {
      const [configName, ...pairs] = args as [string, ...string[]];
      const values = keyValues(pairs, `cirrus config put ${configName}`);
      return withControlClient(common, context, async (client) => {
        const ack = await client.putConfig(configName, values);
        const count = Object.keys(values).length;
        printAck(
          context,
          output,
          `Config ${configName} put (${count} ${count === 1 ? 'key' : 'keys'}).`,
          ack,
        );
        return 0;
      });
    },
  )
    .argument('<NAME>', 'name of the config')
    .argument('[KEY=VALUE...]', 'its entries');

  const del = latticeCommand('del', 'delete named config', {}, invocation, ({ args, output, common }) => {
    const configName = args[0] as string;
    return withControlClient(common, context, async (client) => {
      const ack = await client.deleteConfig(configName);
      printAck(context, output, `Config ${configName} deleted.`, ack);
      return 0;
    });
  }).argument('<NAME>', 'name of the config');

  return commandGroup('config', 'put or delete named config', [put, del]);
}
