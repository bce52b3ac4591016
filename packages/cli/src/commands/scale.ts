/** `cirrus scale component`: run N instances of a component on a host (0 stops it). */
import { UsageError } from '@cirrus/protocol';
import { keyValues } from '../args.ts';
import type { CommandContext } from '../context.ts';
import {
  COMMON_FLAGS,
  parseSubcommand,
  printAck,
  resolveHost,
  subcommand,
  withControlClient,
} from './lattice.ts';

export const SCALE_USAGE = `cirrus scale component HOST REF ID --count N [--config NAME]… [--annotation KEY=VALUE]… [--wait] ${COMMON_FLAGS}`;

export function parseCount(text: string | undefined, usage: string): number {
  if (text === undefined) throw new UsageError('--count is required', { hint: `usage: ${usage}` });
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

export async function scale(argv: string[], context: CommandContext): Promise<number> {
  subcommand(argv, 'scale', ['component'], SCALE_USAGE);
  const { values, positionals, output, common } = parseSubcommand(
    argv.slice(1),
    {
      count: { type: 'string' },
      config: { type: 'string', multiple: true },
      annotation: { type: 'string', multiple: true },
      wait: { type: 'boolean' },
    },
    SCALE_USAGE,
    { required: ['HOST', 'REF', 'ID'] },
  );
  const [hostArg, componentRef, componentId] = positionals as [string, string, string];
  const count = parseCount(values.count, SCALE_USAGE);
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
}
