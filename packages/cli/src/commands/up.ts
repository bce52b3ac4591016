import { Command } from 'commander';
import {
  awaitDeployed,
  createWadmClient,
  planDeployment,
  putAndDeploy,
  startApplicationService,
  withImages,
} from '@cirrus/apps';
import type { ApplicationService, AppManifest, WadmClient } from '@cirrus/apps';
import { createHost, defaultCacheDir } from '@cirrus/host';
import { BUILTIN_PROVIDERS, DEFAULT_HTTP_ADDRESS, WIRE_BINDINGS } from '@cirrus/providers';
import type { Host, PolicyOptions } from '@cirrus/host';
import type { LatticeConnection } from '@cirrus/lattice';
import {
  DEFAULT_LATTICE,
  describeError,
  LIMIT_SPECS,
  LocalEndpointUnavailableError,
  resolveLimits,
  UsageError,
} from '@cirrus/protocol';
import type { Limits, Logger } from '@cirrus/protocol';
import { addFlags, flagValues, keyValues } from '../args.ts';
import type { FlagSpecs, FlagValues } from '../args.ts';
import { readAppManifest } from '../app-files.ts';
import { servedUrls } from '../served-urls.ts';
import { heartbeatSeconds, managerTiming } from '../app-manager-timing.ts';
import { LOG_FLAGS, loggerFromFlags } from '../log-flags.ts';
import type { CommandContext } from '../context.ts';
import { hostNatsSettings, JS_DOMAIN_FLAGS, natsFlags, providerRpcOf } from '../nats-flags.ts';
import { HOST_IDENTITY_FLAGS, hostIdentityOptions } from '../host-identity-flags.ts';
import { SIGNED_INVOCATIONS_FLAGS, signedInvocationOptions } from '../signed-invocation-flags.ts';
import { runs } from '../program.ts';
import type { Invocation } from '../program.ts';
import { localEndpointFile } from '../local-endpoint.ts';
import { openBackend, openLocalEndpoint } from '../host-backend.ts';
import type { Backend, LocalEndpointHandle } from '../host-backend.ts';
import { DASHBOARD_FLAGS, dashboardSetting, serveDashboard } from '../serve-dashboard.ts';
import { browserHostMount } from '../serve-browser-host.ts';
import type { ServedDashboard } from '../serve-dashboard.ts';
import { serveTelemetry, TELEMETRY_FLAGS, telemetrySetting } from '../serve-telemetry.ts';
import type { ServedTelemetry } from '../serve-telemetry.ts';

export const HOST_FLAGS = {
  app: {
    value: 'FILE',
    multiple: true,
    description: 'application manifest (YAML or JSON) to deploy; all are validated before anything starts',
  },
  lattice: {
    value: 'NAME',
    description: 'lattice name (in subjects and bucket names)',
    default: DEFAULT_LATTICE,
  },
  name: { value: 'NAME', description: "the host's friendly name", default: 'derived from the host key' },
  label: {
    value: 'KEY=VALUE',
    multiple: true,
    description: 'host label; hostcore.* keys are reserved',
  },
  'heartbeat-interval': {
    value: 'S',
    description: 'seconds between host_heartbeat events (1-86400)',
    default: '30',
  },
  ...LOG_FLAGS,
  'cache-dir': {
    value: 'DIR',
    description: 'where transpiled components are cached',
    default: '$CIRRUS_CACHE_DIR or ~/.cache/cirrus',
  },
  'no-file-load': { description: 'refuse components and providers from local files (FILE_LOAD_DENIED)' },
} as const satisfies FlagSpecs;

export const ENDPOINT_FLAGS = {
  'local-port': {
    value: 'N',
    description: 'loopback port that serves the embedded lattice to other programs here',
    default: 'any free port',
  },
  'no-local-endpoint': { description: 'do not serve the embedded lattice to other programs' },
  'no-app-manager': {
    description:
      "do not take part in managing the lattice's applications (by default one host at a time runs the manager and the wadm API)",
  },
} as const satisfies FlagSpecs;

const NATS_FLAGS = natsFlags(['nats'], 'the embedded lattice');
const CTL_FLAGS = natsFlags(['ctl'], 'the embedded lattice');
const RPC_FLAGS = natsFlags(['rpc'], 'the embedded lattice');

const POLICY_FLAGS = {
  'policy-topic': {
    value: 'SUBJECT',
    description: 'ask the policy service on this subject before every start and invocation',
    default: 'no policy service',
  },
  'policy-changes-topic': {
    value: 'SUBJECT',
    description: 'follow the decisions the service publishes here (needs --policy-topic)',
  },
  'policy-timeout-ms': {
    value: 'MS',
    description: `deadline of one policy request, ${LIMIT_SPECS.policyTimeoutMs.min}-${LIMIT_SPECS.policyTimeoutMs.max} (needs --policy-topic)`,
    default: String(LIMIT_SPECS.policyTimeoutMs.default),
  },
} as const satisfies FlagSpecs;

const UP_FLAGS = {
  ...HOST_FLAGS,
  ...ENDPOINT_FLAGS,
  ...DASHBOARD_FLAGS,
  ...TELEMETRY_FLAGS,
  ...POLICY_FLAGS,
  ...HOST_IDENTITY_FLAGS,
  ...SIGNED_INVOCATIONS_FLAGS,
} as const satisfies FlagSpecs;

export type UpValues = FlagValues<typeof UP_FLAGS> & FlagValues<FlagSpecs>;

export function upCommand(invocation: Invocation): Command {
  const command = new Command('up')
    .summary('start a host on the embedded lattice and deploy an application')
    .description(
      'Starts a host on the embedded lattice, or with --nats on a NATS lattice, deploys the --app manifests, and runs until SIGINT or SIGTERM (a second signal exits at once).',
    );
  addFlags(command, HOST_FLAGS);
  addFlags(command, ENDPOINT_FLAGS, 'Local lattice endpoint (embedded lattice only):');
  addFlags(command, DASHBOARD_FLAGS, 'Web dashboard:');
  addFlags(command, TELEMETRY_FLAGS, 'Metrics (OTEL_* variables apply too):');
  addFlags(command, NATS_FLAGS, 'NATS lattice (credentials from files or the environment only):');
  addFlags(command, JS_DOMAIN_FLAGS, 'NATS lattice (credentials from files or the environment only):');
  addFlags(command, CTL_FLAGS, 'NATS control connection (control interface, events, lattice state, policy):');
  addFlags(command, RPC_FLAGS, 'NATS RPC connection (wRPC calls, providers):');
  addFlags(command, POLICY_FLAGS, 'Policy service:');
  addFlags(command, HOST_IDENTITY_FLAGS, 'Host identity and signed components:');
  addFlags(command, SIGNED_INVOCATIONS_FLAGS, 'Signed invocations:');
  return runs(command, invocation, () =>
    up(
      {
        ...flagValues(command, NATS_FLAGS),
        ...flagValues(command, JS_DOMAIN_FLAGS),
        ...flagValues(command, CTL_FLAGS),
        ...flagValues(command, RPC_FLAGS),
        ...flagValues(command, UP_FLAGS),
      },
      invocation.context,
    ),
  );
}

/** An application, checked with its local files, and ready for the application manager. */
export interface AppToDeploy {
  manifest: AppManifest;
  /** The manifest's text with its images resolved: the manager may run on another host. */
  text: string;
  /** What the banner says it serves. */
  urls: string[];
}

/** `text` (whose parsed form is `manifest`) with its images resolved, and the URLs it serves. */
export function appToDeploy(text: string, manifest: AppManifest): AppToDeploy {
  return {
    manifest,
    text: withImages(text, manifest),
    urls: servedUrls(planDeployment(manifest), DEFAULT_HTTP_ADDRESS),
  };
}

async function readApp(file: string, limits: Limits): Promise<AppToDeploy> {
  const { text, manifest } = await readAppManifest(file, limits, '--app');
  return appToDeploy(text, manifest);
}

/** A host that runs, with what deployed its applications, for `HostRun.serve`. */
export interface ServedHost {
  host: Host;
  /** The connection for control traffic. */
  connection: LatticeConnection;
  wadm: WadmClient;
  limits: Limits;
  logger: Logger;
}

/** What a run of a host deploys, and what it does while the host serves. */
export interface HostRun {
  /**
   * The applications to deploy, called before anything starts and once SIGINT and SIGTERM are
   * handled; a signal meanwhile aborts `signal`, and what it resolves with then is not deployed.
   */
  prepare(limits: Limits, signal: AbortSignal): Promise<AppToDeploy[]>;
  /**
   * Called once the applications are deployed and the banner printed; should resolve once `signal`
   * is aborted, which is the first step of stopping: the host stops after it.
   */
  serve?(served: ServedHost, signal: AbortSignal): Promise<void>;
}

function localPort(value: string | undefined): number {
  if (value === undefined) return 0;
  const port = /^[0-9]{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65_535)) {
    throw new UsageError(`--local-port must be a port number from 0 to 65535, got ${JSON.stringify(value)}`, {
      hint: 'e.g. --local-port 4222, or leave it out to pick a free port',
    });
  }
  return port;
}

/** The host's own default when the flag is not given. */

function policyOptions(
  topic: string | undefined,
  changesTopic: string | undefined,
  timeout: string | undefined,
): PolicyOptions | undefined {
  if (topic === undefined) {
    if (changesTopic !== undefined || timeout !== undefined) {
      throw new UsageError('--policy-changes-topic and --policy-timeout-ms need --policy-topic', {
        hint: 'name the subject the policy service answers on: --policy-topic wasmcloud.policy',
      });
    }
    return undefined;
  }
  if (timeout === undefined) return { topic, changesTopic };
  const { min, max } = LIMIT_SPECS.policyTimeoutMs;
  const timeoutMs = /^[0-9]{1,7}$/.test(timeout) ? Number(timeout) : Number.NaN;
  if (!(timeoutMs >= min && timeoutMs <= max)) {
    throw new UsageError(
      `--policy-timeout-ms must be whole milliseconds from ${min} to ${max}, got ${JSON.stringify(timeout)}`,
      { hint: 'the 1.x default is 1000' },
    );
  }
  return { topic, changesTopic, timeoutMs };
}

/** Starts a host (embedded lattice, or NATS with --nats), deploys the apps, and runs until SIGINT/SIGTERM. */
export function up(values: UpValues, context: CommandContext): Promise<number> {
  return runHost(values, context, {
    prepare: async (limits) => {
      // Every manifest is validated before anything starts, so one broken file deploys nothing.
      const apps: AppToDeploy[] = [];
      for (const file of values.app ?? []) apps.push(await readApp(file, limits));
      return apps;
    },
  });
}

/** Starts a host as `values` say, deploys what `run` prepares, and runs until SIGINT/SIGTERM. */
export async function runHost(values: UpValues, context: CommandContext, run: HostRun): Promise<number> {
  if (values['no-local-endpoint'] === true && values['local-port'] !== undefined) {
    throw new UsageError('--local-port and --no-local-endpoint exclude each other', {
      hint: 'the endpoint is on by default: --local-port picks its port, --no-local-endpoint turns it off',
    });
  }
  const port = localPort(values['local-port']);
  const dashboardAt = dashboardSetting(values);
  const heartbeat = heartbeatSeconds(values['heartbeat-interval']);
  const policy = policyOptions(
    values['policy-topic'],
    values['policy-changes-topic'],
    values['policy-timeout-ms'],
  );
  const limits = resolveLimits({}, context.env);
  const telemetryAt = telemetrySetting(values, context.env, limits);
  const logger = loggerFromFlags(values, context, limits);
  const nats = await hostNatsSettings(values, {
    env: context.env,
    warn: (message) => logger.warn('NATS secret file is not private', { warning: message }),
    secretFileMaxBytes: limits.secretFileMaxBytes,
  });
  if (nats !== undefined && values['local-port'] !== undefined) {
    throw new UsageError('--local-port only applies to the embedded lattice, not with --nats', {
      hint: 'clients reach a NATS lattice through the NATS server: cirrus get hosts --nats URL',
    });
  }
  const labels = keyValues(values.label, '--label');
  const identity = await hostIdentityOptions(values, limits.secretFileMaxBytes);
  const signedInvocations = await signedInvocationOptions(values, limits.secretFileMaxBytes);

  // From here a signal at any moment ends the run cleanly: whatever has been opened so far is closed,
  // and a step still under way is closed as soon as it finishes.
  let backend: Backend | undefined;
  let host: Host | undefined;
  let endpoint: LocalEndpointHandle | undefined;
  let applications: ApplicationService | undefined;
  let dashboard: ServedDashboard | undefined;
  let telemetry: ServedTelemetry | undefined;
  let serving: Promise<void> | undefined;
  const stopping = new AbortController();
  const closeAll = async (): Promise<void> => {
    stopping.abort();
    await serving;
    await dashboard?.close();
    // First: while it is active, the manager would put back what stopping the host takes away.
    await applications?.stop();
    // The endpoint outlives the host: provider processes reach the lattice through it and must get
    // the shutdown request, and answer calls in flight, while the host stops. The file goes with it.
    await host?.stop();
    // After the host: the last export holds the calls that finished while it stopped.
    await telemetry?.close();
    await endpoint?.close();
    await backend?.close();
  };
  let shuttingDown: Promise<void> | undefined;
  const shutdown = (): Promise<void> => (shuttingDown ??= closeAll());
  /** After a step: when a signal came meanwhile, close what the step opened too. */
  const interrupted = async (): Promise<boolean> => {
    if (shuttingDown === undefined) return false;
    await shuttingDown;
    await closeAll();
    return true;
  };
  const signals = context.signals;
  const onSignal = (signal: string): void => {
    if (shuttingDown !== undefined) {
      logger.warn('second signal, exiting without waiting', { signal });
      context.exit(1);
      return;
    }
    logger.info('shutting down', { signal });
    shutdown().catch((err: unknown) => logger.error('shutdown failed', { error: describeError(err) }));
  };
  signals.on('SIGINT', onSignal);
  signals.on('SIGTERM', onSignal);
  try {
    const apps = await run.prepare(limits, stopping.signal);
    if (await interrupted()) return 0;

    backend = await openBackend(nats, limits, values.name);
    if (await interrupted()) return 0;
    const natsRpc = nats === undefined ? undefined : providerRpcOf(nats.rpc);
    const opened = backend;
    try {
      host = await createHost({
        lattice: opened.connection,
        ...(opened.control === undefined ? {} : { controlLattice: opened.control }),
        latticeName: values.lattice ?? DEFAULT_LATTICE,
        friendlyName: values.name,
        labels,
        limits,
        logger,
        cacheDir: values['cache-dir'] ?? defaultCacheDir(context.env),
        allowFileLoad: values['no-file-load'] !== true,
        builtinProviders: BUILTIN_PROVIDERS,
        wireBindings: WIRE_BINDINGS,
        // Provider processes reach the embedded lattice through the endpoint, opened just below.
        providerRpc: () => natsRpc ?? (endpoint && { url: endpoint.providerUrl }),
        ...(heartbeat === undefined ? {} : { heartbeatIntervalMs: heartbeat * 1000 }),
        ...(policy === undefined ? {} : { policy }),
        ...identity,
        ...signedInvocations,
      });
    } catch (err) {
      await shutdown();
      throw err;
    }
    if (await interrupted()) return 0;
    const running = host;
    try {
      telemetry = await serveTelemetry(telemetryAt, running, { env: context.env, logger });
    } catch (err) {
      await shutdown();
      throw err;
    }
    if (await interrupted()) return 0;

    if (opened.embedded !== undefined && values['no-local-endpoint'] !== true) {
      try {
        endpoint = await openLocalEndpoint(opened.embedded, running, port, limits, context, (err) =>
          logger.warn('local lattice endpoint failed a client', { error: describeError(err) }),
        );
      } catch (err) {
        // The endpoint is a convenience for other commands on this machine; unless it was asked for
        // by port, a state directory that cannot be written does not stop the host.
        if (!(err instanceof LocalEndpointUnavailableError) || values['local-port'] !== undefined) {
          await shutdown();
          throw err;
        }
        logger.warn('local lattice endpoint unavailable', { code: err.code, error: describeError(err) });
      }
      if (await interrupted()) return 0;
      if (endpoint !== undefined) {
        // The URL only: the token stays in the user-only file.
        logger.info('local lattice endpoint', {
          url: endpoint.url,
          file: localEndpointFile(context.env, running.latticeName),
        });
      }
    }

    if (values['no-app-manager'] !== true) {
      applications = await startApplicationService({
        connection: opened.control ?? opened.connection,
        lattice: running.latticeName,
        holderId: running.id,
        ...managerTiming(heartbeat, limits),
        logger,
      });
      if (await interrupted()) return 0;
    }

    if (dashboardAt !== undefined) {
      try {
        dashboard = await serveDashboard(dashboardAt, {
          connection: opened.control ?? opened.connection,
          lattice: running.latticeName,
          limits,
          logger,
          env: context.env,
          mounts: [
            browserHostMount({
              lattice: running.latticeName,
              cacheDir: values['cache-dir'] ?? defaultCacheDir(context.env),
              limits,
              logger,
              identity,
              signing: signedInvocations.signedInvocations,
              endpoint,
            }),
          ],
        });
      } catch (err) {
        // A signal meanwhile closed the lattice connection under it: that is the shutdown asked for.
        if (await interrupted()) return 0;
        await shutdown();
        throw err;
      }
      if (await interrupted()) return 0;
    }

    // Through the lattice's application manager (this host's, or the active one elsewhere), which
    // keeps the applications running after this command's part is done.
    const wadm = createWadmClient(
      opened.control ?? opened.connection,
      running.latticeName,
      limits.controlRequestTimeoutMs,
    );
    try {
      for (const app of apps) await putAndDeploy(wadm, app.text, app.manifest);
      for (const app of apps) {
        await awaitDeployed(wadm, app.manifest.name, { deadlineMs: limits.controlWaitTimeoutMs });
      }
    } catch (err) {
      // A signal during deployment stops the host, and what was still starting fails with
      // HOST_STOPPED: that is the shutdown asked for, not a failed deployment.
      if (await interrupted()) return 0;
      logger.error('deployment failed', { error: describeError(err) });
      await shutdown();
      throw err;
    }
    if (await interrupted()) return 0;
    if (apps.length > 0) {
      const urls = apps.flatMap((app) => app.urls);
      context.print(`Cirrus host ${running.friendlyName} is up on lattice "${running.latticeName}".`);
      for (const url of urls) context.print(`Serving ${url}  (try: curl ${url})`);
    } else {
      context.print(
        `Cirrus host ${running.friendlyName} is up on lattice "${running.latticeName}" (no app deployed).`,
      );
    }
    context.print('Press Ctrl+C to stop.');
    const served = { host: running, connection: opened.control ?? opened.connection, wadm, limits, logger };
    // Its failure is no reason to leave the host running unattended, nor to skip stopping it.
    serving = run.serve?.(served, stopping.signal).catch((err: unknown) => {
      logger.error('stopped serving', { error: describeError(err) });
      shutdown().catch((failed: unknown) =>
        logger.error('shutdown failed', { error: describeError(failed) }),
      );
    });
    await running.stopped;
    // The host may also stop on a control request; the endpoint and its file must not outlive it.
    await shutdown();
    return 0;
  } finally {
    signals.off('SIGINT', onSignal);
    signals.off('SIGTERM', onSignal);
  }
}
