/** `cirrus link put|del`: manage 1.x interface links between components and providers. */
import { UsageError } from '@cirrus/protocol';
import type { Link } from '@cirrus/protocol';
import type { CommandContext } from '../context.ts';
import { COMMON_FLAGS, parseSubcommand, printAck, subcommand, withControlClient } from './lattice.ts';

export const LINK_USAGE = [
  `cirrus link put SOURCE TARGET NAMESPACE PACKAGE --interface I… [--name NAME] [--source-config C]… [--target-config C]… ${COMMON_FLAGS}`,
  `cirrus link del SOURCE NAMESPACE PACKAGE [--name NAME] ${COMMON_FLAGS}`,
].join('\n');

export async function link(argv: string[], context: CommandContext): Promise<number> {
  const name = subcommand(argv, 'link', ['put', 'del'], LINK_USAGE);
  const usage = LINK_USAGE.split('\n').find((line) => line.startsWith(`cirrus link ${name}`)) ?? LINK_USAGE;
  if (name === 'put') {
    const { values, positionals, output, common } = parseSubcommand(
      argv.slice(1),
      {
        interface: { type: 'string', multiple: true },
        name: { type: 'string' },
        'source-config': { type: 'string', multiple: true },
        'target-config': { type: 'string', multiple: true },
      },
      usage,
      { required: ['SOURCE', 'TARGET', 'NAMESPACE', 'PACKAGE'] },
    );
    const [source, target, namespace, pkg] = positionals as [string, string, string, string];
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
  }
  const { values, positionals, output, common } = parseSubcommand(
    argv.slice(1),
    { name: { type: 'string' } },
    usage,
    {
      required: ['SOURCE', 'NAMESPACE', 'PACKAGE'],
    },
  );
  const [source, namespace, pkg] = positionals as [string, string, string];
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
}
