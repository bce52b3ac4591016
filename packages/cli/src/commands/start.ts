/** `cirrus start provider`: start a capability provider on a host. */
import type { CommandContext } from '../context.ts';
import {
  COMMON_FLAGS,
  parseSubcommand,
  printAck,
  resolveHost,
  subcommand,
  withControlClient,
} from './lattice.ts';

export const START_USAGE = `cirrus start provider HOST REF ID [--config NAME]… ${COMMON_FLAGS}`;

export async function start(argv: string[], context: CommandContext): Promise<number> {
  subcommand(argv, 'start', ['provider'], START_USAGE);
  const { values, positionals, output, common } = parseSubcommand(
    argv.slice(1),
    { config: { type: 'string', multiple: true } },
    START_USAGE,
    { required: ['HOST', 'REF', 'ID'] },
  );
  const [hostArg, providerRef, providerId] = positionals as [string, string, string];
  const config = values.config;
  return withControlClient(common, context, async (client) => {
    const hostId = await resolveHost(client, hostArg);
    const ack = await client.startProvider({
      hostId,
      providerRef,
      providerId,
      ...(config === undefined ? {} : { config }),
    });
    // The ack comes before the provider runs; provider_started / provider_start_failed tell the rest.
    printAck(context, output, `Host ${hostId} is starting provider ${providerId} (${providerRef}).`, ack, {
      host_id: hostId,
      provider_id: providerId,
    });
    return 0;
  });
}
