/** `cirrus start provider`: start a capability provider on a host. */
import type { Command } from 'commander';
import type { FlagSpecs } from '../args.ts';
import { commandGroup } from '../program.ts';
import type { Invocation } from '../program.ts';
import { HOST_ARGUMENT, latticeCommand, printAck, resolveHost, withControlClient } from './lattice.ts';

const START_FLAGS = {
  config: { value: 'NAME', multiple: true, description: 'named config the provider gets', default: 'none' },
} as const satisfies FlagSpecs;

export function startCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const provider = latticeCommand(
    'provider',
    'start a capability provider on a host',
    START_FLAGS,
    invocation,
    ({ values, args, output, common }) => {
      const [hostArg, providerRef, providerId] = args as [string, string, string];
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
        printAck(
          context,
          output,
          `Host ${hostId} is starting provider ${providerId} (${providerRef}).`,
          ack,
          {
            host_id: hostId,
            provider_id: providerId,
          },
        );
        return 0;
      });
    },
  )
    .argument('<HOST>', HOST_ARGUMENT)
    .argument('<REF>', 'a built-in (wasmcloud+builtin://http-server) or a provider program (file:///…)')
    .argument('<ID>', 'provider id on the lattice');
  return commandGroup('start', 'start a capability provider on a host', [provider]);
}
