import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseManifest, planDeployment } from '@cirrus/apps';
import type { DeploymentPlan } from '@cirrus/apps';
import { createHost, createLogger, DEFAULT_HTTP_ADDRESS, defaultCacheDir } from '@cirrus/host';
import type { Host, LogFormat, LogLevel, PolicyOptions } from '@cirrus/host';
import { createMemoryLattice, serveLattice } from '@cirrus/lattice';
import type { LatticeConnection, LocalEndpoint, MemoryLattice } from '@cirrus/lattice';
import {
  ArtifactNotFoundError,
  DEFAULT_LATTICE,
  describeError,
  LIMIT_SPECS,
  ManifestInvalidError,
  resolveLimits,
  UsageError,
} from '@cirrus/protocol';
import type { Limits } from '@cirrus/protocol';
import { keyValues, oneOf, parseCommandArgs } from '../args.ts';
import { deploy, servedUrls } from '../deploy.ts';
import type { CommandContext } from '../context.ts';
import { connectHostNats, hostNatsSettings, natsFlagOptions, providerRpcOf } from '../nats-flags.ts';
import type { HostNatsSettings } from '../nats-flags.ts';
import { HOST_IDENTITY_USAGE, hostIdentityOptions } from '../host-identity-flags.ts';
import {
  SIGNED_INVOCATIONS_FLAGS,
  SIGNED_INVOCATIONS_USAGE,
  signedInvocationOptions,
} from '../signed-invocation-flags.ts';
import { localEndpointFile, newToken, writeLocalEndpoint } from '../local-endpoint.ts';
import type { LocalEndpointRemover } from '../local-endpoint.ts';

export const UP_USAGE = `cirrus up [--app FILE]… [--nats URL] [--lattice NAME] [--label KEY=VALUE]… [--name NAME] [--heartbeat-interval S] [--log-format human|json] [--log-level LEVEL] [--cache-dir DIR] [--no-file-load] [--local-port N | --no-local-endpoint] [--nats-… FLAGS] [--ctl-nats URL] [--ctl-… FLAGS] [--rpc-nats URL] [--rpc-… FLAGS] [--policy-topic SUBJECT [--policy-changes-topic SUBJECT] [--policy-timeout-ms MS]] ${HOST_IDENTITY_USAGE} ${SIGNED_INVOCATIONS_USAGE}`;

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

function heartbeatSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const seconds = /^[0-9]{1,6}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds >= 1 && seconds <= 86_400)) {
    throw new UsageError(
      `--heartbeat-interval must be whole seconds from 1 to 86400, got ${JSON.stringify(value)}`,
      {
        hint: 'the 1.x default is 30; wadm forgets a host after 70 s without one',
      },
    );
  }
  return seconds;
}

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

/** Where the host lives:  a NATS lattice, or the embedded one (which other processes reach locally). */
interface Backend {
  connection: LatticeConnection;
  /** A connection for control traffic of its own (`--ctl-…` settings differing from `--rpc-…`). */
  control?: LatticeConnection | undefined;
  embedded: MemoryLattice | undefined;
  close(): Promise<void>;
}

async function openBackend(
  nats: HostNatsSettings | undefined,
  limits: Limits,
  name: string | undefined,
): Promise<Backend> {
  if (nats !== undefined) {
    const { rpc, control, close } = await connectHostNats(nats, limits, name);
    return { connection: rpc, control, embedded: undefined, close };
  }
  const lattice = createMemoryLattice({
    maxPayload: limits.latticeMaxPayloadBytes,
    maxValueBytes: limits.kvMaxValueBytes,
    requestTimeoutMs: limits.latticeRequestTimeoutMs,
  });
  return { connection: lattice.connect(), embedded: lattice, close: () => lattice.close() };
}

interface LocalEndpointHandle {
  readonly url: string;
  /** The URL with the token in it, for provider processes this host starts (never logged). */
  readonly providerUrl: string;
  close(): Promise<void>;
}

/**
 * Serves the embedded lattice to other processes on this machine (loopback, token in a user-only
 * file), so `cirrus get …` in another terminal reaches this host without a NATS server.
 */
async function openLocalEndpoint(
  lattice: MemoryLattice,
  host: Host,
  port: number,
  limits: Limits,
  context: CommandContext,
  onError: (err: unknown) => void,
): Promise<LocalEndpointHandle> {
  const token = newToken();
  const endpoint: LocalEndpoint = await serveLattice(lattice, {
    port,
    token,
    maxPayload: limits.latticeMaxPayloadBytes,
    maxConnections: limits.localEndpointMaxConnections,
    maxSubscriptionsPerConnection: limits.localEndpointMaxSubscriptions,
    maxControlLineBytes: limits.localEndpointMaxControlLineBytes,
    maxPendingBytes: limits.localEndpointMaxPendingBytes,
    pingIntervalMs: limits.localEndpointPingIntervalMs,
    maxPingsOut: limits.localEndpointMaxPingsOut,
    authTimeoutMs: limits.localEndpointAuthTimeoutMs,
    onError,
  });
  let remove: LocalEndpointRemover;
  try {
    remove = await writeLocalEndpoint(context.env, {
      url: endpoint.url,
      token,
      lattice: host.latticeName,
      hostId: host.id,
      pid: process.pid,
    });
  } catch (err) {
    await endpoint.close();
    throw err;
  }
  let closed: Promise<void> | undefined;
  const providerUrl = new URL(endpoint.url);
  providerUrl.username = token;
  return {
    url: endpoint.url,
    providerUrl: providerUrl.href,
    close: () => (closed ??= Promise.all([endpoint.close(), remove()]).then(() => undefined)),
  };
}

/** Starts a host (embedded lattice, or NATS with --nats), deploys the app, and runs until SIGINT/SIGTERM. */
export async function up(argv: string[], context: CommandContext): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    {
      app: { type: 'string', multiple: true },
      ...natsFlagOptions(['nats', 'ctl', 'rpc']),
      lattice: { type: 'string' },
      'heartbeat-interval': { type: 'string' },
      label: { type: 'string', multiple: true },
      name: { type: 'string' },
      'log-format': { type: 'string' },
      'log-level': { type: 'string' },
      'cache-dir': { type: 'string' },
      'no-file-load': { type: 'boolean' },
      'local-port': { type: 'string' },
      'no-local-endpoint': { type: 'boolean' },
      'policy-topic': { type: 'string' },
      'policy-changes-topic': { type: 'string' },
      'policy-timeout-ms': { type: 'string' },
      'host-seed': { type: 'string' },
      'require-signed': { type: 'boolean' },
      'allowed-issuer': { type: 'string', multiple: true },
      ...SIGNED_INVOCATIONS_FLAGS,
    },
    UP_USAGE,
  );
  if (values['no-local-endpoint'] === true && values['local-port'] !== undefined) {
    throw new UsageError('--local-port and --no-local-endpoint exclude each other', {
      hint: `usage: ${UP_USAGE}`,
    });
  }
  const port = localPort(values['local-port']);
  const heartbeat = heartbeatSeconds(values['heartbeat-interval']);
  const policy = policyOptions(
    values['policy-topic'],
    values['policy-changes-topic'],
    values['policy-timeout-ms'],
  );
  const logger = createLogger({
    format: oneOf<LogFormat>(values['log-format'], ['human', 'json'], '--log-format', 'human'),
    level: oneOf<LogLevel>(values['log-level'], ['debug', 'info', 'warn', 'error'], '--log-level', 'info'),
    write: context.log,
  });
  const nats = await hostNatsSettings(values, {
    env: context.env,
    warn: (message) => logger.warn('NATS secret file is not private', { warning: message }),
  });
  if (nats !== undefined && values['local-port'] !== undefined) {
    throw new UsageError('--local-port only applies to the embedded lattice, not with --nats', {
      hint: 'clients reach a NATS lattice through the NATS server: cirrus get hosts --nats URL',
    });
  }
  const limits = resolveLimits({}, context.env);
  const labels = keyValues(values.label, '--label');
  const identity = await hostIdentityOptions(values);
  const signedInvocations = await signedInvocationOptions(values);
  // Every manifest is validated before anything starts, so one broken file deploys nothing.
  const plans: DeploymentPlan[] = [];
  for (const file of values.app ?? []) plans.push(await readPlan(file, limits));

  const backend = await openBackend(nats, limits, values.name);
  const natsRpc = nats === undefined ? undefined : providerRpcOf(nats.rpc);
  // Declared before the host: provider processes reach the embedded lattice through it.
  let endpoint: LocalEndpointHandle | undefined;
  let host: Host;
  try {
    host = await createHost({
      lattice: backend.connection,
      ...(backend.control === undefined ? {} : { controlLattice: backend.control }),
      latticeName: values.lattice ?? DEFAULT_LATTICE,
      friendlyName: values.name,
      labels,
      limits,
      logger,
      cacheDir: values['cache-dir'] ?? defaultCacheDir(context.env),
      allowFileLoad: values['no-file-load'] !== true,
      providerRpc: () => natsRpc ?? (endpoint && { url: endpoint.providerUrl }),
      ...(heartbeat === undefined ? {} : { heartbeatIntervalMs: heartbeat * 1000 }),
      ...(policy === undefined ? {} : { policy }),
      ...identity,
      ...signedInvocations,
    });
  } catch (err) {
    await backend.close();
    throw err;
  }

  if (backend.embedded !== undefined && values['no-local-endpoint'] !== true) {
    try {
      endpoint = await openLocalEndpoint(backend.embedded, host, port, limits, context, (err) =>
        logger.warn('local lattice endpoint failed a client', { error: describeError(err) }),
      );
    } catch (err) {
      await host.stop();
      await backend.close();
      throw err;
    }
    // The URL only: the token stays in the user-only file.
    logger.info('local lattice endpoint', {
      url: endpoint.url,
      file: localEndpointFile(context.env, host.latticeName),
    });
  }

  const shutdown = async (): Promise<void> => {
    // The endpoint outlives the host: provider processes reach the lattice through it and must get
    // the shutdown request, and answer calls in flight, while the host stops. The file goes with it.
    await host.stop();
    await endpoint?.close();
    await backend.close();
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

  if (plans.length > 0) {
    try {
      for (const plan of plans) await deploy(host, plan);
    } catch (err) {
      logger.error('deployment failed', { error: describeError(err) });
      signals.off('SIGINT', onSignal);
      signals.off('SIGTERM', onSignal);
      await shutdown();
      throw err;
    }
    const urls = plans.flatMap((plan) => servedUrls(plan, DEFAULT_HTTP_ADDRESS));
    context.print(`Cirrus host ${host.friendlyName} is up on lattice "${host.latticeName}".`);
    for (const url of urls) context.print(`Serving ${url}  (try: curl ${url})`);
  } else {
    context.print(
      `Cirrus host ${host.friendlyName} is up on lattice "${host.latticeName}" (no app deployed).`,
    );
  }
  context.print('Press Ctrl+C to stop.');
  await host.stopped;
  // The host may also stop on a control request; the endpoint and its file must not outlive it.
  await endpoint?.close();
  await backend.close();
  signals.off('SIGINT', onSignal);
  signals.off('SIGTERM', onSignal);
  return 0;
}
