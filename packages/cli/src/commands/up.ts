import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseManifest, planDeployment } from '@cirrus/apps';
import type { DeploymentPlan } from '@cirrus/apps';
import { createHost, createLogger, DEFAULT_HTTP_ADDRESS } from '@cirrus/host';
import type { Host, LogFormat, LogLevel } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import {
  ArtifactNotFoundError,
  DEFAULT_LATTICE,
  describeError,
  ManifestInvalidError,
  resolveLimits,
} from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';
import { keyValues, oneOf, parseCommandArgs } from '../args.ts';
import { deploy, servedUrls } from '../deploy.ts';
import type { CommandContext } from '../context.ts';

export const UP_USAGE =
  'cirrus up [--app FILE] [--lattice NAME] [--label KEY=VALUE]… [--name NAME] [--log-format human|json] [--log-level LEVEL] [--cache-dir DIR] [--no-file-load]';

async function readPlan(file: string, limits: Limits): Promise<DeploymentPlan> {
  const path = resolve(file);
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    throw new ArtifactNotFoundError(`application file ${file} does not exist`, {
      hint: 'check the path given to --app',
    });
  }
  if (size > limits.manifestMaxBytes) {
    throw new ManifestInvalidError(
      `${file} is ${size} bytes, above the ${limits.manifestMaxBytes}-byte limit`,
      {
        hint: 'split the application or raise manifestMaxBytes',
      },
    );
  }
  const text = await readFile(path, 'utf8');
  const manifest = parseManifest(text, { source: file, baseUrl: pathToFileURL(`${dirname(path)}/`).href });
  return planDeployment(manifest);
}

/** Starts a host on the embedded lattice, deploys the app, and runs until SIGINT/SIGTERM. */
export async function up(argv: string[], context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      app: { type: 'string' },
      lattice: { type: 'string' },
      label: { type: 'string', multiple: true },
      name: { type: 'string' },
      'log-format': { type: 'string' },
      'log-level': { type: 'string' },
      'cache-dir': { type: 'string' },
      'no-file-load': { type: 'boolean' },
    },
    UP_USAGE,
  );
  const logger = createLogger({
    format: oneOf<LogFormat>(values['log-format'], ['human', 'json'], '--log-format', 'human'),
    level: oneOf<LogLevel>(values['log-level'], ['debug', 'info', 'warn', 'error'], '--log-level', 'info'),
    write: context.log,
  });
  const limits = resolveLimits({}, context.env);
  const labels = keyValues(values.label, '--label');
  const plan = values.app === undefined ? undefined : await readPlan(values.app, limits);

  const lattice = createMemoryLattice({
    maxPayload: limits.latticeMaxPayloadBytes,
    maxValueBytes: limits.kvMaxValueBytes,
  });
  const host: Host = await createHost({
    lattice: lattice.connect(),
    latticeName: values.lattice ?? DEFAULT_LATTICE,
    friendlyName: values.name,
    labels,
    limits,
    logger,
    cacheDir: values['cache-dir'],
    allowFileLoad: values['no-file-load'] !== true,
  });

  const shutdown = async (): Promise<void> => {
    await host.stop();
    await lattice.close();
  };
  const signals = context.signals;
  let stopping = false;
  const onSignal = (signal: string): void => {
    if (stopping) {
      logger.warn('second signal, exiting without waiting', { signal });
      context.exit(1);
      return;
    }
    stopping = true;
    logger.info('shutting down', { signal });
    void shutdown();
  };
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);

  if (plan !== undefined) {
    try {
      await deploy(host, plan);
    } catch (err) {
      logger.error('deployment failed', { error: describeError(err) });
      signals.off('SIGINT', onSignal);
      signals.off('SIGTERM', onSignal);
      await shutdown();
      throw err;
    }
    const urls = servedUrls(plan, DEFAULT_HTTP_ADDRESS);
    context.print(`Cirrus host ${host.friendlyName} is up on lattice "${host.latticeName}".`);
    for (const url of urls) context.print(`Serving ${url}  (try: curl ${url})`);
  } else {
    context.print(
      `Cirrus host ${host.friendlyName} is up on lattice "${host.latticeName}" (no app deployed).`,
    );
  }
  context.print('Press Ctrl+C to stop.');
  await host.stopped;
  signals.off('SIGINT', onSignal);
  signals.off('SIGTERM', onSignal);
  return 0;
}
