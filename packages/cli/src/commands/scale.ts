/** `cirrus scale component`: run N instances of a component on a host (0 stops it). */
import type { Command } from 'commander';
import { UsageError } from '@cirrus/protocol';
import { keyValues, usageHint } from '../args.ts';
import type { FlagSpecs } from '../args.ts';
import { commandGroup } from '../program.ts';
import type { Invocation } from '../program.ts';
import { HOST_ARGUMENT, latticeCommand, printAck, resolveHost, withControlClient } from './lattice.ts';

const SCALE_FLAGS = {
  count: { value: 'N', description: 'instances to run, a whole number; 0 stops the component (required)' },
  config: { value: 'NAME', multiple: true, description: 'named config the component gets', default: 'none' },
  annotation: {
    value: 'KEY=VALUE',
    multiple: true,
    description: 'annotation of the request',
    default: 'none',
  },
  wait: { description: 'return when the host reports the outcome, not when it accepts the request' },
} as const satisfies FlagSpecs;

export function parseCount(text: string | undefined, usage: string): number {
  if (text === undefined) throw new UsageError('--count is required', { hint: usage });
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(
      `--count must be a whole number (0 stops the component), got ${JSON.stringify(text)}`,
      {
        hint: 'e.g. --count 4',
      },
    );
  }
  return Number(text);
}

export function scaleCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const component = latticeCommand(
    'component',
    'run a number of instances of a component on a host',
    SCALE_FLAGS,
    invocation,
    ({ values, args, output, common, command }) => {
      const [hostArg, componentRef, componentId] = args as [string, string, string];
      const count = parseCount(values.count, usageHint(command));
      const annotations = keyValues(values.annotation, '--annotation');
      const config = values.config;
      const wait = values.wait === true;
      return withControlClient(common, context, async (client) => {
        const hostId = await resolveHost(client, hostArg);
        const result = await client.scaleComponent(
          {
            hostId,
            componentRef,
            componentId,
            count,
            ...(config === undefined ? {} : { config }),
            ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
          },
          { wait },
        );
        const summary = wait
          ? `Component ${componentId} scaled to ${count} on host ${hostId}.`
          : `Host ${hostId} accepted: scale component ${componentId} (${componentRef}) to ${count}. Follow the outcome with \`cirrus get events\` or use --wait.`;
        printAck(context, output, summary, result, {
          host_id: hostId,
          component_id: componentId,
          count,
          ...(result.event === undefined ? {} : { event: result.event }),
        });
        return 0;
      });
    },
  )
    .argument('<HOST>', HOST_ARGUMENT)
    .argument('<REF>', 'image of the component: a file path, file:// or http(s):// URL')
    .argument('<ID>', 'component id on the lattice');
  return commandGroup('scale', 'run a number of instances of a component on a host', [component]);
}
