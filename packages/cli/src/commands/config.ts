/** `cirrus config put|del`: named configuration shared by the lattice. */
import { keyValues } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { COMMON_FLAGS, parseSubcommand, printAck, subcommand, withControlClient } from './lattice.ts';

export const CONFIG_USAGE = [
  `cirrus config put NAME KEY=VALUE… ${COMMON_FLAGS}`,
  `cirrus config del NAME ${COMMON_FLAGS}`,
].join('\n');

export async function config(argv: string[], context: CommandContext): Promise<number> {
  const name = subcommand(argv, 'config', ['put', 'del'], CONFIG_USAGE);
  const usage =
    CONFIG_USAGE.split('\n').find((line) => line.startsWith(`cirrus config ${name}`)) ?? CONFIG_USAGE;
  if (name === 'put') {
    const { positionals, output, common } = parseSubcommand(argv.slice(1), {}, usage, {
      required: ['NAME'],
      rest: true,
    });
    const [configName, ...pairs] = positionals as [string, ...string[]];
    const values = keyValues(pairs, `cirrus config put ${configName}`);
    return withControlClient(common, context, async (client) => {
      const ack = await client.putConfig(configName, values);
      const count = Object.keys(values).length;
      printAck(context, output, `Config ${configName} put (${count} ${count === 1 ? 'key' : 'keys'}).`, ack);
      return 0;
    });
  }
  const { positionals, output, common } = parseSubcommand(argv.slice(1), {}, usage, { required: ['NAME'] });
  const configName = positionals[0] as string;
  return withControlClient(common, context, async (client) => {
    const ack = await client.deleteConfig(configName);
    printAck(context, output, `Config ${configName} deleted.`, ack);
    return 0;
  });
}
