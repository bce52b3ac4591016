/** `cirrus get …`: read the lattice (hosts, inventories, links, config, claims, metrics) and follow its events. */
import type { Command } from 'commander';
import type { ControlClient, EventStream } from '@cirrus/control-client';
import { ConfigNotFoundError } from '@cirrus/protocol';
import type { CloudEvent, EventName, HostInventory, StringMap } from '@cirrus/protocol';
import type { FlagSpecs } from '../args.ts';
import type { CommandContext } from '../context.ts';
import { commandGroup } from '../program.ts';
import type { Invocation } from '../program.ts';
import {
  formatList,
  formatMap,
  HOST_ARGUMENT,
  latticeCommand,
  printJson,
  printTable,
  resolveHost,
  withControlClient,
} from './lattice.ts';
import type { LatticeInput } from './lattice.ts';
import { metricsCommand } from './get-metrics.ts';

function userLabels(labels: StringMap): StringMap {
  // hostcore.* labels (os, arch) are the same on most hosts and crowd out the ones people set.
  return Object.fromEntries(Object.entries(labels).filter(([key]) => !key.startsWith('hostcore.')));
}

const EVENT_FLAGS = {
  type: {
    value: 'EVENT',
    multiple: true,
    description: 'only events of this type, e.g. component_scaled',
    default: 'every event',
  },
} as const satisfies FlagSpecs;

export function getCommand(invocation: Invocation): Command {
  const { context } = invocation;
  return commandGroup('get', 'show hosts, inventories, links, config, claims or metrics; follow events', [
    latticeCommand(
      'hosts',
      'list the hosts that answer on the lattice',
      {},
      invocation,
      ({ output, common }) =>
        withControlClient(common, context, async (client) => {
          const hosts = (await client.pingHosts()).sort((a, b) =>
            a.friendly_name.localeCompare(b.friendly_name),
          );
          if (output === 'json') printJson(context, hosts);
          else if (hosts.length === 0) context.print(`No hosts answered on lattice "${client.lattice}".`);
          else {
            printTable(
              context,
              ['HOST ID', 'FRIENDLY NAME', 'UPTIME', 'VERSION', 'LABELS'],
              hosts.map((h) => [
                h.id,
                h.friendly_name,
                h.uptime_human,
                h.version,
                formatMap(userLabels(h.labels)),
              ]),
            );
          }
          return 0;
        }),
    ),
    latticeCommand(
      'inventory',
      'show the components and providers of one host, or of every host',
      {},
      invocation,
      ({ output, common, args }) => {
        const [hostArg] = args;
        return withControlClient(common, context, async (client) => {
          if (hostArg !== undefined) {
            const inventory = await client.getInventory(await resolveHost(client, hostArg));
            if (output === 'json') printJson(context, inventory);
            else printInventory(context, inventory);
            return 0;
          }
          const inventories = await allInventories(client);
          if (output === 'json') printJson(context, inventories);
          else if (inventories.length === 0)
            context.print(`No hosts answered on lattice "${client.lattice}".`);
          else
            inventories.forEach((inventory, i) => {
              if (i > 0) context.print('');
              printInventory(context, inventory);
            });
          return 0;
        });
      },
    ).argument('[HOST]', `${HOST_ARGUMENT} (default: every host)`),
    latticeCommand('links', "list the lattice's links", {}, invocation, ({ output, common }) =>
      withControlClient(common, context, async (client) => {
        const links = await client.getLinks();
        if (output === 'json') printJson(context, links);
        else if (links.length === 0) context.print('No links.');
        else {
          printTable(
            context,
            ['SOURCE', 'TARGET', 'INTERFACES', 'NAME', 'SOURCE CONFIG', 'TARGET CONFIG'],
            links.map((l) => [
              l.source_id,
              l.target,
              `${l.wit_namespace}:${l.wit_package}/${l.interfaces.join(',')}`,
              l.name,
              formatList(l.source_config),
              formatList(l.target_config),
            ]),
          );
        }
        return 0;
      }),
    ),
    latticeCommand('config', 'show one named config', {}, invocation, ({ output, common, args }) => {
      const configName = args[0] as string;
      return withControlClient(common, context, async (client) => {
        const values = await client.getConfig(configName);
        if (values === undefined) {
          throw new ConfigNotFoundError(`no config named "${configName}" on lattice "${client.lattice}"`, {
            hint: `create it with \`cirrus config put ${configName} KEY=VALUE…\``,
          });
        }
        if (output === 'json') printJson(context, values);
        else if (Object.keys(values).length === 0) context.print(`Config "${configName}" is empty.`);
        else printTable(context, ['KEY', 'VALUE'], Object.entries(values));
        return 0;
      });
    }).argument('<NAME>', 'name of the config'),
    latticeCommand(
      'claims',
      'list the claims of the components the lattice knows',
      {},
      invocation,
      ({ output, common }) =>
        withControlClient(common, context, async (client) => {
          const claims = await client.getClaims();
          if (output === 'json') printJson(context, claims);
          else if (claims.length === 0) context.print('No claims.');
          else {
            // Hosts send both the short and the long key names (`sub`/`subject`); either may be missing.
            const pick = (c: StringMap, ...keys: string[]): string =>
              keys.map((k) => c[k]).find((v) => v) ?? '-';
            printTable(
              context,
              ['SUBJECT', 'NAME', 'ISSUER', 'VERSION', 'REVISION'],
              claims.map((c) => [
                pick(c, 'subject', 'sub'),
                pick(c, 'name'),
                pick(c, 'issuer', 'iss'),
                pick(c, 'version'),
                pick(c, 'revision', 'rev'),
              ]),
            );
          }
          return 0;
        }),
    ),
    metricsCommand(invocation),
    latticeCommand(
      'events',
      'follow lattice events until Ctrl+C, one line each (JSON lines with --output json)',
      EVENT_FLAGS,
      invocation,
      (input) => followEvents(input, context),
    ),
  ]);
}

async function allInventories(client: ControlClient): Promise<HostInventory[]> {
  const hosts = await client.pingHosts();
  const inventories = await Promise.all(hosts.map((h) => client.getInventory(h.id)));
  return inventories.sort((a, b) => a.friendly_name.localeCompare(b.friendly_name));
}

function printInventory(context: CommandContext, inventory: HostInventory): void {
  context.print(
    `Host ${inventory.host_id} (${inventory.friendly_name}), version ${inventory.version}, up ${inventory.uptime_human}`,
  );
  context.print(`Labels: ${formatMap(inventory.labels)}`);
  context.print('');
  if (inventory.components.length === 0) context.print('No components.');
  else {
    printTable(
      context,
      ['COMPONENT ID', 'NAME', 'IMAGE REF', 'INSTANCES'],
      inventory.components.map((c) => [c.id, c.name ?? '-', c.image_ref, String(c.max_instances)]),
    );
  }
  context.print('');
  if (inventory.providers.length === 0) context.print('No providers.');
  else {
    printTable(
      context,
      ['PROVIDER ID', 'NAME', 'IMAGE REF'],
      inventory.providers.map((p) => [p.id, p.name ?? '-', p.image_ref ?? '-']),
    );
  }
}

/** One `key=value` per scalar of the event data; nested values are summarised, not dumped. */
function summarise(data: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (value === null || value === undefined) continue;
    if (typeof value === 'string')
      parts.push(`${key}=${/[\s"]/.test(value) || value === '' ? JSON.stringify(value) : value}`);
    else if (typeof value === 'number' || typeof value === 'boolean') parts.push(`${key}=${value}`);
    else if (Array.isArray(value)) {
      const scalars = value.every((v) => typeof v === 'string' || typeof v === 'number');
      parts.push(`${key}=${scalars ? `[${value.join(',')}]` : `[${value.length} items]`}`);
    } else if (Object.keys(value).length > 0) parts.push(`${key}={…}`);
  }
  return parts.join(' ');
}

function eventLine(event: CloudEvent): string {
  const name = event.type.replace(/^com\.wasmcloud\.lattice\./, '');
  return `${event.time}  ${name}  ${event.source}  ${summarise(event.data)}`.trimEnd();
}

async function followEvents(
  { values, output, common }: LatticeInput<typeof EVENT_FLAGS>,
  context: CommandContext,
): Promise<number> {
  const types = values.type as EventName[] | undefined;
  return withControlClient(common, context, async (client) => {
    const stream: EventStream = client.events(types === undefined ? {} : { types });
    const stop = (): void => stream.stop();
    context.signals.on('SIGINT', stop);
    context.signals.on('SIGTERM', stop);
    try {
      if (output === 'table')
        context.log(`Following events on lattice "${client.lattice}"; press Ctrl+C to stop.`);
      for await (const event of stream) {
        context.print(output === 'json' ? JSON.stringify(event) : eventLine(event));
      }
    } finally {
      context.signals.off('SIGINT', stop);
      context.signals.off('SIGTERM', stop);
      stream.stop();
    }
    return 0;
  });
}
