/**
 * `runProvider`: a capability provider process as wasmCloud 1.x hosts run them (§4.6 of the
 * protocol). It reads HostData, connects to the lattice, serves the exported WIT functions over wRPC
 * under `<lattice>.<provider id>` in that queue group, keeps the links and config the host sends up
 * to date, answers health checks, and stops when the host asks (or on SIGTERM/SIGINT) after the
 * calls in flight have finished.
 */
import { encodeJson, encodeText, wrpcInvoke, wrpcServe } from '@cirrus/lattice';
import type { LatticeConnection, Msg, Subscription, WrpcHandler } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import {
  DEFAULT_LIMITS,
  describeError,
  InvocationVerifier,
  InvalidArgumentError,
  parseInterfaceLinkDefinition,
  parseWit,
  providerConfigUpdateSubject,
  providerHealthSubject,
  providerLinkDelSubject,
  providerLinkPutSubject,
  providerShutdownSubject,
  stringMap,
  webInvocationCrypto,
  witInstanceName,
} from '@cirrus/protocol';
import type {
  HealthCheckResponse,
  HostData,
  InterfaceLinkDefinition,
  Logger,
  StringMap,
  WitFunction,
  WitInterface,
} from '@cirrus/protocol';
import { hostResource, otlpTracesTarget, startTracing } from '@cirrus/telemetry';
import type { Tracing } from '@cirrus/telemetry';
import sdk from '../package.json' with { type: 'json' };
import { natsOptionsFromHostData } from './connect.ts';
import { LinkTable } from './links.ts';
import type { LinkRole } from './links.ts';
import { createJsonLogger, minimumLevel } from './logger.ts';
import { readHostData, whenHostGone } from './stdin.ts';

/** What a handler knows about the call it serves. */
export interface InvocationContext {
  /** The calling component (the `source-id` header). */
  readonly sourceId: string;
  /** The link the caller resolved this provider through (the `link-name` header). */
  readonly linkName: string;
  /** That link, once the host delivered it; undefined for a caller without one. */
  readonly link: InterfaceLinkDefinition | undefined;
  /** The link's target config: the caller's settings for this provider (empty without a link). */
  readonly config: StringMap;
  readonly logger: Logger;
}

/**
 * One exported function: called with the decoded parameters in jco's value mapping (records with
 * camelCase keys, `result` as `{ tag: 'ok' | 'err', val }`, …); returns the result value (nothing
 * for a function without results, an array for several).
 */
export type ExportHandler = (ctx: InvocationContext, ...args: never[]) => unknown;

/** Handlers by instance name (`example:greeter/greet@0.1.0`), then by WIT function name (`checked-greet`). */
export type ExportHandlers = Readonly<Record<string, Readonly<Record<string, ExportHandler>>>>;

export interface ProviderOptions {
  /** Shown in the provider's logs. */
  name: string;
  /** WIT text declaring the interfaces in `exports` (a package header and its interfaces). */
  wit?: string;
  /** What the provider serves; a provider that only calls components has none. */
  exports?: ExportHandlers;
  /**
   * WIT text declaring the interfaces this provider calls on components (as the source of their
   * links), for `Provider.invoke`.
   */
  imports?: string;
  /** A component linked to this provider (the provider is the target); its settings are `link.target_config`. */
  onLinkAsTarget?: (link: InterfaceLinkDefinition) => void | Promise<void>;
  /** This provider is linked to a component it will call; its settings are `link.source_config`. */
  onLinkAsSource?: (link: InterfaceLinkDefinition) => void | Promise<void>;
  onLinkDeleted?: (link: InterfaceLinkDefinition, role: LinkRole) => void | Promise<void>;
  /** The provider's merged named config changed. */
  onConfigUpdate?: (config: StringMap) => void | Promise<void>;
  /** Answers the host's health checks; default healthy. */
  health?: () => HealthCheckResponse | Promise<HealthCheckResponse>;
  /** Runs once no call is in flight any more, before the connection closes. */
  shutdown?: () => void | Promise<void>;
  /** HostData to use instead of reading it from stdin (tests, embedding). */
  hostData?: HostData;
  /** A lattice connection to use instead of connecting to `lattice_rpc_url`; it is not closed on stop. */
  connection?: LatticeConnection;
  /**
   * Whether the provider owns its process: SIGTERM and SIGINT stop it, it exits with 0 once stopped
   * and with 1 when it cannot start. Default true; tests that run a provider in-process pass false.
   */
  exitOnShutdown?: boolean;
  /** Where log lines go; default stderr, which the host forwards into its log. */
  writeLog?: (line: string) => void;
}

export interface Provider {
  readonly id: string;
  readonly lattice: string;
  readonly hostData: HostData;
  readonly connection: LatticeConnection;
  readonly logger: Logger;
  /** The provider's current merged named config. */
  config(): StringMap;
  /** Every link the provider knows now, as source or target. */
  links(): InterfaceLinkDefinition[];
  /**
   * Calls `fn` of `instance` (declared in `options.imports`) exported by the component `targetId`,
   * over wRPC, and returns its result (undefined for a function without results, an array for
   * several). A `result` comes back as `{ tag: 'ok' | 'err', val }`.
   */
  invoke(
    targetId: string,
    instance: string,
    fn: string,
    args: unknown[],
    options?: InvokeOptions,
  ): Promise<unknown>;
  /** Stops serving, waits for the calls in flight, runs `shutdown` and closes the connection. */
  stop(): Promise<void>;
  /** Resolves once the provider has stopped, however that came about. */
  readonly stopped: Promise<void>;
}

export interface InvokeOptions {
  /** The link name the call is made through; default `default`. */
  linkName?: string;
  /** Default the HostData's `default_rpc_timeout_ms`. */
  timeoutMs?: number;
}

/** `{ tag: 'ok', val }`: the `ok` case of a WIT `result`. */
export function ok<T>(val: T): { tag: 'ok'; val: T } {
  return { tag: 'ok', val };
}

/** `{ tag: 'err', val }`: the `err` case of a WIT `result`. */
export function err<E>(val: E): { tag: 'err'; val: E } {
  return { tag: 'err', val };
}

interface ServedInstance {
  instance: string;
  iface: WitInterface;
  handlers: ReadonlyMap<string, ExportHandler>;
}

/** Matches the handlers to the WIT, so a typo or a missing function fails at start, not per call. */
function resolveExports(wit: string | undefined, exports: ExportHandlers): ServedInstance[] {
  const doc = wit === undefined ? { interfaces: [] } : parseWit(wit);
  const declared = new Map(doc.interfaces.map((iface) => [witInstanceName(iface), iface]));
  return Object.entries(exports).map(([instance, handlers]) => {
    const iface = declared.get(instance);
    if (iface === undefined) {
      throw new InvalidArgumentError(`exports name ${instance}, which the WIT does not declare`, {
        hint: `declared: ${[...declared.keys()].join(', ') || 'nothing'}`,
      });
    }
    const missing = [...iface.functions.keys()].filter((fn) => typeof handlers[fn] !== 'function');
    const unknown = Object.keys(handlers).filter((fn) => !iface.functions.has(fn));
    if (missing.length > 0 || unknown.length > 0) {
      throw new InvalidArgumentError(
        `exports of ${instance} do not match its WIT: ${[
          missing.length > 0 ? `missing ${missing.join(', ')}` : '',
          unknown.length > 0 ? `not in the WIT ${unknown.join(', ')}` : '',
        ]
          .filter((part) => part !== '')
          .join('; ')}`,
        { hint: 'key handlers by WIT function name, e.g. "checked-greet"' },
      );
    }
    return { instance, iface, handlers: new Map(Object.entries(handlers)) };
  });
}

function resultsOf(fn: WitFunction, value: unknown): unknown[] {
  if (fn.results.length === 0) return [];
  if (fn.results.length === 1) return [value];
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(
      `${fn.name} returns ${fn.results.length} results: return them as an array`,
    );
  }
  return value as unknown[];
}

/** Starts the provider; in a process of its own, `await runProvider(…)` is the whole main module. */
export async function runProvider(options: ProviderOptions): Promise<Provider> {
  const standalone = options.exitOnShutdown ?? true;
  const writeLog = options.writeLog ?? ((line: string) => void process.stderr.write(line));
  let logger = createJsonLogger({ level: 'info', write: writeLog, fields: { provider: options.name } });
  try {
    const hostData = options.hostData ?? (await readHostData(process.stdin));
    logger = createJsonLogger({
      level: minimumLevel(hostData.log_level),
      write: writeLog,
      fields: { provider: options.name },
    });
    const provider = await start(options, hostData, logger);
    if (standalone) {
      const tracing = startProviderTracing(options.name, hostData.provider_key, logger);
      const onSignal = (signal: string): void => {
        logger.info('stopping', { signal });
        void provider.stop();
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      // A provider outliving its host would serve on unsupervised (NATS) or never again (the
      // host's embedded lattice): the end of stdin, which the host keeps open, stops it.
      if (options.hostData === undefined) {
        whenHostGone(process.stdin, () => {
          logger.warn('the host is gone (stdin closed); stopping');
          void provider.stop();
        });
      }
      // The spans of the last calls leave before the process does.
      void provider.stopped.then(() => tracing?.close()).finally(() => process.exit(0));
    }
    return provider;
  } catch (error) {
    if (!standalone) throw error;
    logger.error('provider failed to start', { error: describeError(error) });
    process.exit(1);
  }
}

/**
 * Tracing for a provider process, when the host handed it an OTLP endpoint among the OTEL_*
 * variables it passes on: the calls it serves then join the traces of the components that made them.
 * It reports as its own service, whatever name the host was given.
 */
function startProviderTracing(name: string, providerId: string, logger: Logger): Tracing | undefined {
  const env = { ...process.env, OTEL_SERVICE_NAME: undefined };
  try {
    const target = otlpTracesTarget(env, DEFAULT_LIMITS);
    if (target === undefined) return undefined;
    return startTracing({
      target,
      resource: hostResource(env, { id: providerId, version: sdk.version, service: name }),
      logger,
    });
  } catch (error) {
    logger.error('tracing not started', { error: describeError(error) });
    return undefined;
  }
}

/** The functions a provider may call, by instance name then function name. */
function resolveImports(wit: string | undefined): ReadonlyMap<string, WitInterface> {
  if (wit === undefined) return new Map();
  return new Map(parseWit(wit).interfaces.map((iface) => [witInstanceName(iface), iface]));
}

async function start(options: ProviderOptions, hostData: HostData, logger: Logger): Promise<Provider> {
  const served = resolveExports(options.wit, options.exports ?? {});
  const callable = resolveImports(options.imports);
  // A host that requires signed invocations names its accepted clusters; the provider then refuses
  // what that host would refuse, so a call cannot reach the host's providers around its checks.
  const verifier =
    hostData.cluster_issuers.length === 0
      ? undefined
      : new InvocationVerifier({
          clusterIssuers: hostData.cluster_issuers,
          crypto: webInvocationCrypto,
          windowMs: DEFAULT_LIMITS.invocationSignatureWindowMs,
          replayCacheSize: DEFAULT_LIMITS.invocationReplayCacheSize,
          credentialCacheSize: DEFAULT_LIMITS.hostCredentialCacheSize,
        });
  const id = hostData.provider_key;
  const lattice = hostData.lattice_rpc_prefix;
  const owned = options.connection === undefined;
  const conn = options.connection ?? (await connectNats(natsOptionsFromHostData(hostData)));
  const links = new LinkTable(id);
  let config: StringMap = { ...hostData.config };
  const subscriptions: Subscription[] = [];
  const inFlight = new Set<Promise<unknown>>();
  let stopping: Promise<void> | undefined;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));

  /** Hooks may fail; a failure is the provider's problem to log, never a reason to stop serving. */
  const hook = async (
    what: string,
    fields: Record<string, unknown>,
    run: () => unknown,
  ): Promise<boolean> => {
    try {
      await run();
      return true;
    } catch (error) {
      logger.error(`${what} failed`, { ...fields, error: describeError(error) });
      return false;
    }
  };

  const putLink = async (link: InterfaceLinkDefinition): Promise<void> => {
    // Recorded before the hook runs: a call that arrives next already sees the link's config.
    const roles = links.put(link);
    const fields = { source_id: link.source_id, target: link.target, link_name: link.name };
    if (roles.length === 0) {
      logger.debug('ignored a link that does not concern this provider', fields);
      return;
    }
    for (const role of roles) {
      const accepted = await hook(`link as ${role}`, fields, () =>
        role === 'target' ? options.onLinkAsTarget?.(link) : options.onLinkAsSource?.(link),
      );
      if (!accepted) {
        links.delete(link);
        return;
      }
    }
    logger.info('link received', { ...fields, roles });
  };

  const deleteLink = async (link: InterfaceLinkDefinition): Promise<void> => {
    const known = links.delete(link);
    if (known === undefined) return;
    const fields = { source_id: known.source_id, target: known.target, link_name: known.name };
    for (const role of links.roles(known)) {
      await hook('link deletion', fields, () => options.onLinkDeleted?.(known, role));
    }
    logger.info('link deleted', fields);
  };

  /** Handles a lattice message one at a time in arrival order, so a put and its delete never swap. */
  let queue: Promise<void> = Promise.resolve();
  const inOrder = (work: () => Promise<void>): void => {
    queue = queue.then(work, work);
  };

  const onMessage = (what: string, handle: (msg: Msg) => Promise<void>) => (msg: Msg) =>
    inOrder(async () => {
      try {
        await handle(msg);
      } catch (error) {
        logger.warn(`malformed ${what} message`, { subject: msg.subject, error: describeError(error) });
      }
    });

  for (const link of hostData.link_definitions) await putLink(link);

  for (const { instance, iface, handlers } of served) {
    const namespace = iface.package?.namespace ?? '';
    const pkg = iface.package?.name ?? '';
    const wrpcHandlers = new Map<string, WrpcHandler>();
    for (const [name, fn] of iface.functions) {
      const run = handlers.get(name) as (ctx: InvocationContext, ...args: unknown[]) => unknown;
      wrpcHandlers.set(name, {
        fn,
        handle: (args, caller) => {
          const link = links.asTarget(caller.sourceId, caller.linkName, namespace, pkg);
          const ctx: InvocationContext = {
            sourceId: caller.sourceId,
            linkName: caller.linkName,
            link,
            config: link?.target_config ?? {},
            logger,
          };
          const call = (async () => resultsOf(fn, await run(ctx, ...args)))();
          inFlight.add(call);
          // wrpcServe logs a failed call; here it only stops counting as in flight.
          const settled = (): void => void inFlight.delete(call);
          void call.then(settled, settled);
          return call;
        },
      });
    }
    subscriptions.push(
      wrpcServe(conn, {
        lattice,
        id,
        instance,
        handlers: wrpcHandlers,
        logger,
        maxBytes: DEFAULT_LIMITS.wrpcMaxValueBytes,
        maxPayload: conn.maxPayload,
        timeoutMs: hostData.default_rpc_timeout_ms ?? DEFAULT_LIMITS.invocationTimeoutMs,
        ...(verifier === undefined
          ? {}
          : { verify: (fields, headers, params) => verifier.verify(fields, headers, params) }),
      }),
    );
  }

  subscriptions.push(
    conn.subscribe(providerLinkPutSubject(lattice, id), {
      callback: onMessage('linkdefs.put', (msg) => putLink(parseInterfaceLinkDefinition(msg.json()))),
    }),
    conn.subscribe(providerLinkDelSubject(lattice, id), {
      callback: onMessage('linkdefs.del', (msg) => deleteLink(parseInterfaceLinkDefinition(msg.json()))),
    }),
    conn.subscribe(providerConfigUpdateSubject(lattice, id), {
      callback: onMessage('config.update', async (msg) => {
        config = stringMap(msg.json(), 'config');
        await hook('config update', {}, () => options.onConfigUpdate?.({ ...config }));
      }),
    }),
    conn.subscribe(providerShutdownSubject(lattice, id, hostData.link_name), {
      callback: (msg) => {
        let hostId: unknown;
        try {
          hostId = msg.json<{ host_id?: unknown }>().host_id;
        } catch {
          hostId = undefined;
        }
        // Several hosts may run a provider under one id; each stops only its own.
        if (hostId !== hostData.host_id) return;
        msg.respond(encodeText('shutting down'));
        logger.info('shutdown requested by the host');
        void conn.flush().then(stop, stop);
      },
    }),
  );

  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      for (const sub of subscriptions) sub.unsubscribe();
      await Promise.allSettled([...inFlight]);
      await hook('shutdown', {}, () => options.shutdown?.());
      if (owned) await conn.close();
      logger.info('stopped');
      resolveStopped();
    })());

  // Subscribed last: the host takes the first health answer as "the provider is up".
  subscriptions.push(
    conn.subscribe(providerHealthSubject(lattice, id), {
      callback: (msg) => {
        void (async () => {
          let reply: HealthCheckResponse;
          try {
            reply = (await options.health?.()) ?? { healthy: true };
          } catch (error) {
            reply = { healthy: false, message: describeError(error) };
          }
          msg.respond(encodeJson(reply));
        })();
      },
    }),
  );
  await conn.flush();
  logger.info('serving', {
    provider_id: id,
    lattice,
    exports: served.map((s) => s.instance),
    links: links.all().length,
    signed_invocations_from: hostData.cluster_issuers,
  });

  return {
    id,
    lattice,
    hostData,
    connection: conn,
    logger,
    config: () => ({ ...config }),
    links: () => links.all(),
    async invoke(targetId, instance, fn, args, invokeOptions = {}) {
      const signature = callable.get(instance)?.functions.get(fn);
      if (signature === undefined) {
        throw new InvalidArgumentError(`${instance}.${fn} is not declared in the provider's imports WIT`, {
          hint: `declared: ${[...callable.keys()].join(', ') || 'nothing (pass options.imports)'}`,
        });
      }
      const results = await wrpcInvoke(conn, {
        lattice,
        targetId,
        instance,
        fn: signature,
        args,
        sourceId: id,
        linkName: invokeOptions.linkName ?? 'default',
        timeoutMs:
          invokeOptions.timeoutMs ?? hostData.default_rpc_timeout_ms ?? DEFAULT_LIMITS.invocationTimeoutMs,
        maxBytes: DEFAULT_LIMITS.wrpcMaxValueBytes,
        sendTargetId: true,
      });
      return signature.results.length === 1
        ? results[0]
        : signature.results.length === 0
          ? undefined
          : results;
    },
    stop,
    stopped,
  };
}
