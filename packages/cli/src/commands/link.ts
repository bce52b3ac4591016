/** `cirrus link put|del`: manage 1.x interface links between components and providers. */
import type { Command } from 'commander';
import { UsageError } from '@cirrus/protocol';
import type { Link } from '@cirrus/protocol';
import type { FlagSpecs } from '../args.ts';
import { commandGroup } from '../program.ts';
import type { Invocation } from '../program.ts';
import { latticeCommand, printAck, withControlClient } from './lattice.ts';

const NAME_FLAG = {
  name: {
    value: 'NAME',
    description: 'link name, to tell several links of one source apart',
    default: 'default',
  },
} as const satisfies FlagSpecs;

const PUT_FLAGS = {
  interface: {
    value: 'I',
    multiple: true,
    description: 'interface of the package the link carries, e.g. incoming-handler (at least one)',
  },
  ...NAME_FLAG,
  'source-config': {
    value: 'C',
    multiple: true,
    description: 'named config for the source',
    default: 'none',
  },
  'target-config': {
    value: 'C',
    multiple: true,
    description: 'named config for the target',
    default: 'none',
  },
} as const satisfies FlagSpecs;

export function linkCommand(invocation: Invocation): Command {
  const { context } = invocation;
  const put = latticeCommand(
    'put',
    'put a link from a source to a target over a WIT interface',
    PUT_FLAGS,
    invocation,
    ({ values, args, output, common }) => {
      const [source, target, namespace, pkg] = args as [string, string, string, string];
      const interfaces = values.interface ?? [];
      if (interfaces.length === 0) {
        throw new UsageError('a link needs at least one --interface', {
          hint: `e.g. cirrus link put ${source} ${target} ${namespace} ${pkg} --interface incoming-handler`,
        });
      }
      const body: Link = {
        source_id: source,
        target,
        name: values.name ?? 'default',
        wit_namespace: namespace,
        wit_package: pkg,
        interfaces,
        source_config: values['source-config'] ?? [],
        target_config: values['target-config'] ?? [],
      };
      return withControlClient(common, context, async (client) => {
        const ack = await client.putLink(body);
        printAck(
          context,
          output,
          `Link ${body.name} put: ${source} → ${target} (${namespace}:${pkg}/${interfaces.join(',')}).`,
          ack,
        );
        return 0;
      });
    },
  )
    .argument('<SOURCE>', 'id of the source component or provider')
    .argument('<TARGET>', 'id of the target component or provider')
    .argument('<NAMESPACE>', 'WIT namespace, e.g. wasi')
    .argument('<PACKAGE>', 'WIT package, e.g. http');

  const del = latticeCommand(
    'del',
    'delete a link',
    NAME_FLAG,
    invocation,
    ({ values, args, output, common }) => {
      const [source, namespace, pkg] = args as [string, string, string];
      const linkName = values.name;
      return withControlClient(common, context, async (client) => {
        const ack = await client.deleteLink({
          source_id: source,
          wit_namespace: namespace,
          wit_package: pkg,
          ...(linkName === undefined ? {} : { name: linkName }),
        });
        printAck(
          context,
          output,
          `Link ${linkName ?? 'default'} of ${source} to ${namespace}:${pkg} deleted.`,
          ack,
        );
        return 0;
      });
    },
  )
    .argument('<SOURCE>', 'id of the source component or provider')
    .argument('<NAMESPACE>', 'WIT namespace of the link')
    .argument('<PACKAGE>', 'WIT package of the link');

  return commandGroup('link', 'put or delete a link between components and providers', [put, del]);
}
