/**
 * `cirrus app put|deploy|undeploy|list|status|get|versions|delete|validate`: applications on a
 * lattice, through the wadm API of its application manager (every `cirrus up` can run one; a wadm
 * 0.2x answers the same requests).
 */
import { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { createWadmClient, startApplicationService, withImages } from '@cirrus/apps';
import type { WadmClient, WadmStatus } from '@cirrus/apps';
import { resolveLimits, UsageError } from '@cirrus/protocol';
import { heartbeatSeconds, managerTiming } from '../app-manager-timing.ts';
import { LOG_FLAGS, loggerFromFlags } from '../log-flags.ts';
import { readAppManifest } from '../app-files.ts';
import type { CommandContext } from '../context.ts';
import type { LatticeConnection } from '@cirrus/lattice';
import { commandGroup, runs, sentence } from '../program.ts';
import type { Invocation } from '../program.ts';
import { latticeCommand, printJson, printTable, withLattice } from './lattice.ts';
import type { LatticeInput } from './lattice.ts';
import type { FlagSpecs } from '../args.ts';

const WATCH_FLAG = {
  watch: { description: 'follow the status: print it again each time it changes, until Ctrl+C' },
} as const;

/**
 * Prints the status, then every change the manager publishes on `wadm.status.<lattice>.<name>`,
 * until SIGINT or SIGTERM. Subscribed before the first request, so no change falls in between.
 */
async function watchStatus(
  connection: LatticeConnection,
  lattice: string,
  name: string,
  client: WadmClient,
  show: (status: WadmStatus) => void,
  context: CommandContext,
): Promise<number> {
  const updates = connection.subscribe(`wadm.status.${lattice}.${name}`);
  const stop = (): void => updates.unsubscribe();
  context.signals.on('SIGINT', stop);
  context.signals.on('SIGTERM', stop);
  try {
    let shown = JSON.stringify(await client.status(name));
    show(JSON.parse(shown) as WadmStatus);
    for await (const msg of updates) {
      let update: WadmStatus;
      try {
        update = msg.json<WadmStatus>();
      } catch {
        continue;
      }
      const text = JSON.stringify(update);
      if (text === shown) continue;
      shown = text;
      show(update);
    }
  } finally {
    context.signals.off('SIGINT', stop);
    context.signals.off('SIGTERM', stop);
    updates.unsubscribe();
  }
  return 0;
}

const MANAGER_FLAGS = {
  'heartbeat-interval': {
    value: 'S',
    description: "the lattice's host heartbeat interval in seconds, which the lease and resync follow",
    default: '30',
  },
  ...LOG_FLAGS,
} as const satisfies FlagSpecs;

/**
 * The standalone application manager: it takes part in the lease like a host's, and while it holds
 * it, manages the lattice's applications and serves the wadm API. Hosts can then run with
 * `--no-app-manager`. It needs a NATS lattice: the embedded one's host runs its own.
 */
async function runManager(
  input: LatticeInput<typeof MANAGER_FLAGS>,
  context: CommandContext,
): Promise<number> {
  if (input.common.nats === undefined) {
    throw new UsageError('cirrus app manager runs on a NATS lattice: give --nats URL', {
      hint: 'on the embedded lattice, the host that cirrus up starts runs the manager itself',
    });
  }
  const heartbeat = heartbeatSeconds(input.values['heartbeat-interval']);
  return withLattice(input.common, context, async ({ connection, lattice, limits }) => {
    const logger = loggerFromFlags(input.values, context, limits);
    const service = await startApplicationService({
      connection,
      lattice,
      holderId: `manager-${randomUUID()}`,
      ...managerTiming(heartbeat, limits),
      logger,
    });
    context.print(`Application manager on lattice "${lattice}"; press Ctrl+C to stop.`);
    try {
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          context.signals.off('SIGINT', stop);
          context.signals.off('SIGTERM', stop);
          resolve();
        };
        context.signals.on('SIGINT', stop);
        context.signals.on('SIGTERM', stop);
      });
    } finally {
      await service.stop();
    }
    return 0;
  });
}

const VERSION_FLAG = {
  version: { value: 'V', description: 'a version of the application (default: the latest)' },
} as const;

/** Runs `body` with a wadm client on the chosen lattice. */
function withWadm<F extends FlagSpecs>(
  input: LatticeInput<F>,
  context: CommandContext,
  body: (client: WadmClient) => Promise<number>,
): Promise<number> {
  return withLattice(input.common, context, ({ connection, lattice, limits, timeoutMs }) =>
    body(createWadmClient(connection, lattice, timeoutMs ?? limits.controlRequestTimeoutMs)),
  );
}

function printStatus(context: CommandContext, name: string, status: WadmStatus): void {
  const message =
    status.status.message === undefined || status.status.message === '' ? '' : `: ${status.status.message}`;
  context.print(
    `${name}${status.version === undefined || status.version === '' ? '' : ` ${status.version}`}  ${status.status.type}${message}`,
  );
  const scalers = status.scalers ?? [];
  if (scalers.length === 0) return;
  printTable(
    context,
    ['SCALER', 'NAME', 'STATUS', 'MESSAGE'],
    scalers.map((s) => [s.kind, s.name, s.status.type, s.status.message ?? '']),
  );
}

export function appCommand(invocation: Invocation): Command {
  const { context } = invocation;

  const put = latticeCommand('put', 'put a version of an application', {}, invocation, async (input) => {
    const file = input.args[0] as string;
    const limits = resolveLimits({}, context.env);
    // Checked here, with its local images, before anything changes on the lattice.
    const { text, manifest } = await readAppManifest(file, limits, 'cirrus app put');
    const resolved = withImages(text, manifest);
    return withWadm(input, context, async (client) => {
      const reply = await client.put(resolved);
      if (input.output === 'json') printJson(context, reply);
      else
        context.print(
          `${reply.result === 'created' ? 'Created' : 'Put'} ${reply.name} ${reply.current_version} (${reply.total_versions} ${reply.total_versions === 1 ? 'version' : 'versions'}).`,
        );
      return 0;
    });
  }).argument('<FILE>', 'the manifest (YAML or JSON)');

  const deploy = latticeCommand(
    'deploy',
    'deploy a version of an application',
    VERSION_FLAG,
    invocation,
    (input) =>
      withWadm(input, context, async (client) => {
        const name = input.args[0] as string;
        const reply = await client.deploy(name, input.values.version);
        if (input.output === 'json') printJson(context, reply);
        else
          context.print(
            `Deploying ${name}${reply.version === undefined ? '' : ` ${reply.version}`}; follow it with: cirrus app status ${name}`,
          );
        return 0;
      }),
  ).argument('<NAME>', 'the application');

  const undeploy = latticeCommand(
    'undeploy',
    'remove what an application placed, keeping its versions',
    {},
    invocation,
    (input) =>
      withWadm(input, context, async (client) => {
        const name = input.args[0] as string;
        const reply = await client.undeploy(name);
        if (input.output === 'json') printJson(context, reply);
        else context.print(`Undeploying ${name}.`);
        return 0;
      }),
  ).argument('<NAME>', 'the application');

  const list = latticeCommand('list', 'list the applications of the lattice', {}, invocation, (input) =>
    withWadm(input, context, async (client) => {
      const models = await client.list();
      if (input.output === 'json') {
        printJson(context, models);
        return 0;
      }
      printTable(
        context,
        ['NAME', 'LATEST', 'DEPLOYED', 'STATUS', 'DESCRIPTION'],
        models.map((m) => [
          m.name,
          m.version,
          m.deployed_version ?? '-',
          m.detailed_status.status.type,
          m.description ?? '',
        ]),
      );
      return 0;
    }),
  );

  const status = latticeCommand(
    'status',
    'show an application and every scaler with its state',
    WATCH_FLAG,
    invocation,
    (input) =>
      withLattice(input.common, context, async ({ connection, lattice, limits, timeoutMs }) => {
        const name = input.args[0] as string;
        const client = createWadmClient(connection, lattice, timeoutMs ?? limits.controlRequestTimeoutMs);
        const show = (reply: WadmStatus): void => {
          if (input.output === 'json') context.print(JSON.stringify(reply));
          else printStatus(context, name, reply);
        };
        if (input.values.watch !== true) {
          show(await client.status(name));
          return 0;
        }
        return watchStatus(connection, lattice, name, client, show, context);
      }),
  ).argument('<NAME>', 'the application');

  const get = latticeCommand(
    'get',
    'print a version of an application as JSON',
    VERSION_FLAG,
    invocation,
    (input) =>
      withWadm(input, context, async (client) => {
        printJson(context, await client.get(input.args[0] as string, input.values.version));
        return 0;
      }),
  ).argument('<NAME>', 'the application');

  const versions = latticeCommand(
    'versions',
    'list the versions of an application',
    {},
    invocation,
    (input) =>
      withWadm(input, context, async (client) => {
        const all = await client.versions(input.args[0] as string);
        if (input.output === 'json') printJson(context, all);
        else
          printTable(
            context,
            ['VERSION', 'DEPLOYED'],
            all.map((v) => [v.version, v.deployed ? 'yes' : '']),
          );
        return 0;
      }),
  ).argument('<NAME>', 'the application');

  const del = latticeCommand(
    'delete',
    'delete one version, or every version (undeploying it)',
    VERSION_FLAG,
    invocation,
    (input) =>
      withWadm(input, context, async (client) => {
        const name = input.args[0] as string;
        const reply = await client.delete(name, input.values.version);
        if (input.output === 'json') printJson(context, reply);
        else
          context.print(
            reply.result === 'noop'
              ? `Nothing to delete of ${name}.`
              : `${reply.message}${reply.undeploy ? ' (undeploying it)' : ''}.`,
          );
        return 0;
      }),
  ).argument('<NAME>', 'the application');

  const validateCommand = new Command('validate')
    .summary('check a manifest and the local files it names, changing nothing')
    .description(sentence('check a manifest and the local files it names, changing nothing'))
    .argument('<FILE>', 'the manifest (YAML or JSON)');
  const validate = runs(validateCommand, invocation, async () => {
    const file = validateCommand.args[0] as string;
    const { manifest } = await readAppManifest(file, resolveLimits({}, context.env), 'cirrus app validate');
    context.print(
      `${file}: ${manifest.name}${manifest.version === undefined ? '' : ` ${manifest.version}`} is valid (${manifest.components.length} ${manifest.components.length === 1 ? 'component' : 'components'}).`,
    );
    return 0;
  });

  const manager = latticeCommand(
    'manager',
    'run the application manager as a process of its own, until Ctrl+C',
    MANAGER_FLAGS,
    invocation,
    (input) => runManager(input, context),
  );

  return commandGroup('app', 'put, deploy and follow applications on the lattice', [
    put,
    deploy,
    undeploy,
    list,
    status,
    get,
    versions,
    del,
    validate,
    manager,
  ]);
}
