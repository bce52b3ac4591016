/**
 * Capability providers that run as processes of their own (§4.6 of the 1.x protocol), started from a
 * file: a native executable, or a `.js`/`.ts` program (a provider written with @cirrus/provider-sdk)
 * run by this host's own Node. The host hands the process its HostData on stdin, counts it as up once
 * it answers a health check, publishes links and config changes to it, checks its health on a timer,
 * restarts it with backoff when it dies, and stops it with the shutdown request, then SIGTERM, then
 * SIGKILL. Calls from components reach it over wRPC like any provider on the lattice.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, extname, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EMPTY, encodeJson } from '@cirrus/lattice';
import {
  ArtifactNotFoundError,
  ClaimsRequiredError,
  describeError,
  encodeHostData,
  FileLoadDeniedError,
  NoLatticeError,
  parseHealthCheckResponse,
  ProviderProcessFailedError,
  providerConfigUpdateSubject,
  providerHealthSubject,
  providerLinkDelSubject,
  providerLinkPutSubject,
  providerShutdownSubject,
  UnsupportedReferenceError,
} from '@cirrus/protocol';
import type { HostData, InterfaceLinkDefinition, LatticeRpcTls, StringMap } from '@cirrus/protocol';
import type { EventSink } from '../ports.ts';
import { parseProviderLogLine, readLines } from './external-output.ts';
import type {
  BuiltinProvider,
  CapabilityProvider,
  ProviderContext,
  ResolvedLink,
} from '@cirrus/provider-core';

/** Where provider processes connect to reach this host's lattice (HostData `lattice_rpc_*`). */
export interface ProviderRpc {
  /**
   * NATS URL; a token or user and password travel inside it (`nats://<token>@127.0.0.1:4222`), the
   * form NATS clients of every language accept.
   */
  readonly url: string;
  /** A decentralised-auth user JWT, with `seed`. */
  readonly jwt?: string;
  /** The nkey seed that signs for `jwt`, or of an nkey user on its own. */
  readonly seed?: string;
  /** TLS files and settings (HostData `lattice_rpc_tls`, a Cirrus extension); the URL says `tls://`. */
  readonly tls?: LatticeRpcTls;
}

export interface ExternalProviderOptions {
  /** The host's `allowFileLoad`: without it, file references are refused. */
  allowFileLoad: boolean;
  /**
   * The host's `requireSigned`: a program file carries no claims (a signed provider archive, PAR, is
   * not supported), so with it every provider program is refused.
   */
  requireSigned: boolean;
  events: EventSink;
  /** Read at every (re)start, since a local endpoint may come up after the host. */
  rpc: () => ProviderRpc | undefined;
}

/** Programs Node runs itself; anything else must be an executable. */
const NODE_PROGRAMS = new Set(['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']);

/**
 * How often a starting process's health subject is probed: only start latency depends on it, and a
 * probe costs one small request, so it is no limit an operator would tune.
 */
const READY_POLL_MS = 50;

/** Lines of a process's stderr kept to explain a failed start. */
const STDERR_TAIL_LINES = 5;

/**
 * What a process wrote just before it exited may still be in the pipe when the exit is seen; this
 * long its output may take to arrive before a failed start is reported without it.
 */
const OUTPUT_DRAIN_MS = 200;

/** The file a provider reference names (`file:///…`, an absolute path, `./…`), or undefined. */
export function providerProgram(ref: string): string | undefined {
  if (ref.startsWith('file://')) {
    try {
      return fileURLToPath(ref);
    } catch {
      throw new UnsupportedReferenceError(`cannot read file reference ${JSON.stringify(ref)}`, {
        hint: 'use an absolute file URL such as file:///srv/providers/greeter/main.ts',
      });
    }
  }
  if (isAbsolute(ref) || ref.startsWith('./') || ref.startsWith('../')) return resolve(ref);
  return undefined;
}

/**
 * The environment of a provider process: empty but for OTEL_* and RUST_LOG, as a 1.x host passes it,
 * so that no secret of the host's environment reaches a provider. Node needs nothing from it to run a
 * program; Windows needs SYSTEMROOT to load system libraries.
 */
function providerEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (key.startsWith('OTEL_') || key === 'RUST_LOG') out[key] = value;
    else if (process.platform === 'win32' && key.toUpperCase() === 'SYSTEMROOT') out[key] = value;
  }
  return out;
}

function linkKey(link: ResolvedLink): string {
  return JSON.stringify([link.source_id, link.target, link.wit_namespace, link.wit_package, link.name]);
}

function linkDefinition(link: ResolvedLink, withConfig = true): InterfaceLinkDefinition {
  return {
    source_id: link.source_id,
    target: link.target,
    name: link.name,
    wit_namespace: link.wit_namespace,
    wit_package: link.wit_package,
    interfaces: [...link.interfaces],
    source_config: withConfig ? { ...link.source_config } : {},
    target_config: withConfig ? { ...link.target_config } : {},
    // Cirrus seals no secrets yet; the SDK then reads the config maps alone.
    source_secrets: null,
    target_secrets: null,
  };
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One spawned process of a provider. */
class ProviderProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startedAt = performance.now();
  readonly exited: Promise<Exit>;
  /** Resolves once the process has exited and its stdout and stderr are read to the end. */
  readonly closed: Promise<void>;
  /** The HostData links it started with, to catch up on changes made while it was coming up. */
  readonly links: ReadonlyMap<string, ResolvedLink>;
  readonly stderrTail: string[] = [];
  exit: Exit | undefined;

  constructor(child: ChildProcess, pid: number, links: ReadonlyMap<string, ResolvedLink>) {
    this.child = child;
    this.pid = pid;
    this.links = links;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
    });
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
  }

  /** Whether it exits within `ms`. */
  async exitsWithin(ms: number): Promise<boolean> {
    if (this.exit !== undefined) return true;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([this.exited.then(() => true), expired]);
    } finally {
      clearTimeout(timer);
    }
  }

  describeExit(): string {
    const exit = this.exit;
    if (exit === undefined) return 'is still running';
    return exit.signal === null ? `exited with code ${exit.code}` : `was killed by ${exit.signal}`;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class ExternalProvider implements CapabilityProvider {
  readonly #ctx: ProviderContext;
  readonly #options: ExternalProviderOptions;
  readonly #program: string;
  readonly #links = new Map<string, ResolvedLink>();
  #config: StringMap;
  #process: ProviderProcess | undefined;
  #stopping = false;
  /** Crashes in a row without a stable run in between; sets the next restart's pause. */
  #crashes = 0;
  #healthy = false;
  #healthTimer: NodeJS.Timeout | undefined;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(ctx: ProviderContext, options: ExternalProviderOptions, program: string) {
    this.#ctx = ctx;
    this.#options = options;
    this.#program = program;
    this.#config = { ...ctx.config };
  }

  /** The first start: up to `providerStartAttempts` processes, with the restart backoff between them. */
  async start(): Promise<void> {
    const attempts = this.#ctx.limits.providerStartAttempts;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.#launch();
        return;
      } catch (err) {
        // Only a process that failed may do better next time; a missing lattice stays missing.
        if (!(err instanceof ProviderProcessFailedError) || attempt >= attempts || this.#stopping) throw err;
        this.#ctx.logger.warn('provider process failed to come up; trying again', {
          attempt,
          attempts,
          error: describeError(err),
        });
        await delay(this.#backoff(attempt - 1));
      }
    }
  }

  #backoff(crashes: number): number {
    const { providerRestartMinDelayMs: min, providerRestartMaxDelayMs: max } = this.#ctx.limits;
    return Math.min(max, min * 2 ** Math.min(crashes, 30));
  }

  #hostData(links: Iterable<ResolvedLink>): HostData {
    const rpc = this.#options.rpc();
    if (rpc === undefined) {
      throw new NoLatticeError('provider processes cannot reach the lattice of this host', {
        hint: 'connect the host to NATS (cirrus up --nats URL), or keep the local lattice endpoint of cirrus up on',
      });
    }
    const { hostId, lattice, providerId, limits } = this.#ctx;
    return {
      host_id: hostId,
      lattice_rpc_prefix: lattice,
      link_name: 'default',
      lattice_rpc_user_jwt: rpc.jwt ?? '',
      lattice_rpc_user_seed: rpc.seed ?? '',
      lattice_rpc_url: rpc.url,
      ...(rpc.tls === undefined ? {} : { lattice_rpc_tls: { ...rpc.tls } }),
      provider_key: providerId,
      env_values: {},
      instance_id: randomUUID(),
      link_definitions: [...links].map((link) => linkDefinition(link)),
      // Empty in 1.x; filled when this host requires signed invocations, as 0.x did, so the process
      // refuses what the host would refuse.
      cluster_issuers: [...(this.#ctx.clusterIssuers ?? [])],
      config: { ...this.#config },
      secrets: {},
      host_xkey_public_key: '',
      provider_xkey_private_key: '',
      default_rpc_timeout_ms: limits.invocationTimeoutMs,
      structured_logging: true,
      log_level: 'info',
      otel_config: {
        enable_observability: false,
        protocol: 'Http',
        additional_ca_paths: [],
        trace_level: 'info',
      },
    };
  }

  /** Spawns a process and waits until it answers a health check; kills it when it does not. */
  async #launch(): Promise<void> {
    const links = new Map(this.#links);
    const hostData = this.#hostData(links.values());
    const node = NODE_PROGRAMS.has(extname(this.#program).toLowerCase());
    const child = spawn(node ? process.execPath : this.#program, node ? [this.#program] : [], {
      env: providerEnv(process.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawned !== undefined || child.pid === undefined) {
      throw new ProviderProcessFailedError(
        `cannot run ${this.#program}: ${spawned?.message ?? 'no process'}`,
        {
          hint: 'check that the file is an executable (chmod +x) or a .js/.ts program',
          cause: spawned,
        },
      );
    }
    const proc = new ProviderProcess(child, child.pid, links);
    this.#process = proc;
    // Without a listener, a failed kill would be thrown at the host.
    child.on('error', (err) =>
      this.#ctx.logger.warn('provider process error', { pid: proc.pid, error: err.message }),
    );
    this.#forwardOutput(proc);
    // A process that exits at once closes stdin under our feet; its exit is what gets reported.
    child.stdin?.on('error', () => {});
    // Stdin stays open for the life of the host: when the host dies, however it dies (SIGKILL
    // included), the pipe closes and the provider learns that its host is gone.
    child.stdin?.write(`${encodeHostData(hostData)}\r\n`);
    this.#ctx.logger.info('provider process started', { pid: proc.pid, program: this.#program });
    try {
      await this.#waitReady(proc);
    } catch (err) {
      if (proc.exit === undefined) {
        child.kill('SIGKILL');
        await proc.exitsWithin(this.#ctx.limits.providerStopGraceMs);
      }
      throw err;
    }
    void proc.exited.then(() => this.#onExit(proc));
    await this.#catchUp(proc);
    this.#scheduleHealthCheck(this.#ctx.limits.providerHealthCheckDelayMs);
  }

  #forwardOutput(proc: ProviderProcess): void {
    const logger = this.#ctx.logger.child({ pid: proc.pid });
    const maxBytes = this.#ctx.limits.providerLogLineMaxBytes;
    const forward = (stream: 'stdout' | 'stderr') => (line: string) => {
      if (line === '') return;
      if (stream === 'stderr') {
        proc.stderrTail.push(line);
        if (proc.stderrTail.length > STDERR_TAIL_LINES) proc.stderrTail.shift();
      }
      // Text on stderr is usually a crash report or a warning; on stdout, chatter.
      const entry = parseProviderLogLine(line, stream === 'stderr' ? 'warn' : 'info');
      logger[entry.level](entry.message, { ...entry.fields, stream });
    };
    if (proc.child.stdout !== null) readLines(proc.child.stdout, maxBytes, forward('stdout'));
    if (proc.child.stderr !== null) readLines(proc.child.stderr, maxBytes, forward('stderr'));
  }

  #failure(proc: ProviderProcess, what: string): ProviderProcessFailedError {
    const last = proc.stderrTail.at(-1);
    return new ProviderProcessFailedError(
      `provider process ${proc.pid} (${this.#program}) ${what}${last === undefined ? '' : `; last output: ${last}`}`,
      {
        hint: 'the host log has its output (field pid); run it by hand with HostData to debug',
        details: { pid: proc.pid, exit: proc.exit ?? null, stderr: [...proc.stderrTail] },
      },
    );
  }

  async #waitReady(proc: ProviderProcess): Promise<void> {
    const { connection, lattice, providerId, limits } = this.#ctx;
    const subject = providerHealthSubject(lattice, providerId);
    const deadline = performance.now() + limits.providerStartTimeoutMs;
    const exited = proc.exited.then(() => undefined);
    for (;;) {
      if (proc.exit !== undefined) {
        await Promise.race([proc.closed, delay(OUTPUT_DRAIN_MS)]);
        throw this.#failure(proc, `${proc.describeExit()} before it answered a health check`);
      }
      if (this.#stopping) throw this.#failure(proc, 'was stopped before it answered a health check');
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        throw this.#failure(proc, `did not answer a health check within ${limits.providerStartTimeoutMs} ms`);
      }
      const timeoutMs = Math.max(1, Math.min(remaining, limits.latticeRequestTimeoutMs));
      // Until the process subscribes, requests find no responder and fail at once.
      const answered = await Promise.race([
        connection.request(subject, EMPTY, { timeoutMs }).then(
          () => true,
          () => false,
        ),
        exited.then(() => false),
      ]);
      if (answered && proc.exit === undefined) return;
      await Promise.race([delay(Math.min(READY_POLL_MS, remaining)), exited]);
    }
  }

  /** Links and config that changed while the process came up went out before it listened. */
  async #catchUp(proc: ProviderProcess): Promise<void> {
    const { connection, lattice, providerId } = this.#ctx;
    const put = providerLinkPutSubject(lattice, providerId);
    const del = providerLinkDelSubject(lattice, providerId);
    for (const [key, link] of proc.links) {
      if (!this.#links.has(key)) connection.publish(del, encodeJson(linkDefinition(link, false)));
    }
    for (const [key, link] of this.#links) {
      if (proc.links.get(key) !== link) connection.publish(put, encodeJson(linkDefinition(link)));
    }
    await connection.flush();
  }

  #onExit(proc: ProviderProcess): void {
    if (this.#stopping || this.#process !== proc) return;
    clearTimeout(this.#healthTimer);
    const uptimeMs = Math.round(performance.now() - proc.startedAt);
    const { limits, logger } = this.#ctx;
    if (uptimeMs >= limits.providerRestartResetMs) this.#crashes = 0;
    const pauseMs = this.#backoff(this.#crashes);
    this.#crashes += 1;
    logger.warn('provider process exited; restarting it', {
      pid: proc.pid,
      exit: proc.describeExit(),
      uptime_ms: uptimeMs,
      restart_in_ms: pauseMs,
    });
    if (this.#healthy) this.#report(false);
    this.#scheduleRestart(pauseMs);
  }

  #scheduleRestart(pauseMs: number): void {
    if (this.#stopping) return;
    this.#restartTimer = setTimeout(() => {
      void this.#launch().then(
        () => this.#ctx.logger.info('provider process restarted', { pid: this.#process?.pid }),
        (err: unknown) => {
          if (this.#stopping) return;
          const pause = this.#backoff(this.#crashes);
          this.#crashes += 1;
          this.#ctx.logger.error('provider process failed to restart', {
            error: describeError(err),
            restart_in_ms: pause,
          });
          this.#scheduleRestart(pause);
        },
      );
    }, pauseMs);
  }

  #scheduleHealthCheck(afterMs: number): void {
    clearTimeout(this.#healthTimer);
    if (this.#stopping) return;
    this.#healthTimer = setTimeout(() => void this.#checkHealth(), afterMs);
  }

  async #checkHealth(): Promise<void> {
    const proc = this.#process;
    if (this.#stopping || proc === undefined || proc.exit !== undefined) return;
    const { connection, lattice, providerId, limits, logger } = this.#ctx;
    let healthy: boolean;
    try {
      const reply = await connection.request(providerHealthSubject(lattice, providerId), EMPTY, {
        timeoutMs: limits.latticeRequestTimeoutMs,
      });
      const response = parseHealthCheckResponse(reply.string());
      healthy = response.healthy;
      if (!healthy) logger.warn('provider reports itself unhealthy', { message: response.message });
    } catch (err) {
      healthy = false;
      logger.warn('provider health check failed', { error: describeError(err) });
    }
    // A check that raced a crash or a stop says nothing about the process now running.
    if (this.#stopping || this.#process !== proc || proc.exit !== undefined) return;
    this.#report(healthy);
    this.#scheduleHealthCheck(limits.providerHealthCheckIntervalMs);
  }

  /** The 1.x health events: passed and failed on a change, status when it stays the same. */
  #report(healthy: boolean): void {
    const data = { host_id: this.#ctx.hostId, provider_id: this.#ctx.providerId };
    if (healthy && !this.#healthy) this.#options.events.publish('health_check_passed', data);
    else if (!healthy && this.#healthy) this.#options.events.publish('health_check_failed', data);
    else this.#options.events.publish('health_check_status', data);
    this.#healthy = healthy;
  }

  async #publishLink(link: ResolvedLink): Promise<void> {
    this.#links.set(linkKey(link), link);
    const { connection, lattice, providerId } = this.#ctx;
    connection.publish(providerLinkPutSubject(lattice, providerId), encodeJson(linkDefinition(link)));
    // Once the server has it, a call made after the link was put cannot overtake it.
    await connection.flush();
  }

  async #unpublishLink(link: ResolvedLink): Promise<void> {
    this.#links.delete(linkKey(link));
    const { connection, lattice, providerId } = this.#ctx;
    connection.publish(providerLinkDelSubject(lattice, providerId), encodeJson(linkDefinition(link, false)));
    await connection.flush();
  }

  receiveLinkAsSource(link: ResolvedLink): Promise<void> {
    return this.#publishLink(link);
  }

  receiveLinkAsTarget(link: ResolvedLink): Promise<void> {
    return this.#publishLink(link);
  }

  deleteLinkAsSource(link: ResolvedLink): Promise<void> {
    return this.#unpublishLink(link);
  }

  deleteLinkAsTarget(link: ResolvedLink): Promise<void> {
    return this.#unpublishLink(link);
  }

  async updateConfig(config: StringMap): Promise<void> {
    this.#config = { ...config };
    const { connection, lattice, providerId } = this.#ctx;
    connection.publish(providerConfigUpdateSubject(lattice, providerId), encodeJson(config));
    await connection.flush();
  }

  async shutdown(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#healthTimer);
    clearTimeout(this.#restartTimer);
    const proc = this.#process;
    if (proc === undefined || proc.exit !== undefined) return;
    const { connection, lattice, providerId, hostId, limits, logger } = this.#ctx;
    const grace = limits.providerStopGraceMs;
    const acknowledged = await connection
      .request(providerShutdownSubject(lattice, providerId), encodeJson({ host_id: hostId }), {
        timeoutMs: limits.providerShutdownTimeoutMs,
      })
      .then(
        () => true,
        () => false,
      );
    if (acknowledged && (await proc.exitsWithin(grace))) return;
    proc.child.kill('SIGTERM');
    if (await proc.exitsWithin(grace)) return;
    logger.warn('provider process ignored SIGTERM; killing it', { pid: proc.pid, grace_ms: grace });
    proc.child.kill('SIGKILL');
    if (!(await proc.exitsWithin(grace)))
      logger.error('provider process survived SIGKILL', { pid: proc.pid });
  }
}

/**
 * The provider a file reference names, for the manager to start like a built-in one. Refused with
 * FILE_LOAD_DENIED when the host does not load files, ARTIFACT_NOT_FOUND when there is no such file.
 */
export function externalProvider(
  ref: string,
  program: string,
  options: ExternalProviderOptions,
): BuiltinProvider {
  return {
    name: basename(program),
    async start(ctx) {
      if (!options.allowFileLoad) {
        throw new FileLoadDeniedError(`this host does not load providers from files (${ref})`, {
          hint: 'start the host with file loading allowed (cirrus up allows it unless --no-file-load is given)',
        });
      }
      if (options.requireSigned) {
        throw new ClaimsRequiredError(
          `provider program ${ref} carries no claims, and this host runs signed workloads only`,
          { hint: 'use a built-in provider, or run provider programs on a host without --require-signed' },
        );
      }
      const info = await stat(program).catch(() => undefined);
      if (info?.isFile() !== true) {
        throw new ArtifactNotFoundError(`provider program ${program} does not exist`, {
          hint: 'reference the provider by an absolute path or file:// URL',
        });
      }
      const provider = new ExternalProvider(ctx, options, program);
      try {
        await provider.start();
      } catch (err) {
        await provider.shutdown();
        throw err;
      }
      return provider;
    },
  };
}
