/**
 * A real `nats-server` for tests: JetStream with a private store, a websocket listener and the HTTP
 * monitoring endpoint, all on ports the server picks itself (port -1) and reports through a ports file
 * (the leaf node port, which that file leaves out, through `/varz`), so parallel test files never race
 * for a port. `restart()` brings the server back on the same ports with the same store, the way an
 * operator restarts a lattice's server; `stop()` kills it and removes every file it had.
 *
 * Topologies that span regions are built from the same servers: a hub that accepts leaf node
 * connections (`leafnodes: true`), its JetStream in a named domain (`jetstream: { domain }`), and leaf
 * servers without JetStream connected to it (`leafRemotes`, or `startNatsLeaf` in nats-topology.ts).
 *
 * Servers left running when the test process ends (a failed `before`, a forgotten `stop()`, Ctrl+C, the
 * test runner's SIGTERM) are killed and their directories removed by an exit hook. A process killed
 * with SIGKILL runs no hook: the next test process that starts a server sweeps up what it left.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { connect as tcpConnect } from 'node:net';
import { basename, join } from 'node:path';
import { daemonDirectory, findExecutable, killOnExit, recordServerPid } from './daemons.ts';
import { DeadlineError } from './deadline.ts';

/** One entry of the server's `authorization.users`: a user with a password, or an nkey user. */
export interface NatsUserEntry {
  readonly user?: string;
  readonly password?: string;
  /** Public key (`U…`) of an nkey user. */
  readonly nkey?: string;
  /** Subjects the user may publish and subscribe to (default: all). */
  readonly permissions?: { readonly publish?: readonly string[]; readonly subscribe?: readonly string[] };
}

/** Decentralised auth: the operator's JWT and the account JWTs a memory resolver preloads. */
export interface NatsOperatorConfig {
  readonly operatorJwt: string;
  readonly systemAccount: string;
  /** Account public key → account JWT. */
  readonly accounts: Readonly<Record<string, string>>;
}

export interface NatsServerOptions {
  /**
   * JetStream: on with a private store (the default), off (`false`, e.g. a leaf node server that
   * reaches its hub's JetStream through the hub's domain), or on in a named domain.
   */
  jetstream?: boolean | { readonly domain?: string };
  /** Accept leaf node connections on a free loopback port (`leafUrl`). */
  leafnodes?: boolean;
  /** Join these hubs as a leaf node (their `leafUrl`s, `nats-leaf://host:port`). */
  leafRemotes?: readonly string[];
  /** `server_name`, shown in `/leafz` and the server's log; default: unique per server. */
  serverName?: string;
  /**
   * Extra configuration appended to the generated file. It may override anything generated except
   * the ports and the store directory.
   */
  config?: string;
  /**
   * TLS on the client port (PEM files). With `verify`, clients must present a certificate signed by
   * `caFile`. The websocket listener stays plain.
   */
  tls?: { certFile: string; keyFile: string; caFile?: string; verify?: boolean };
  /** The `authorization` block: a token, or users (passwords, nkeys, permissions). */
  authorization?: { token?: string; users?: readonly NatsUserEntry[] };
  /** Operator mode with a memory resolver (`createNatsOperator()` makes one). */
  operator?: NatsOperatorConfig;
  /** Deadline for the server to start (and to come back in `restart()`); default 10 s. */
  startTimeoutMs?: number;
  /** Deadline for the server to exit on SIGTERM before it is killed; default 5 s. */
  stopTimeoutMs?: number;
  /** Path of the `nats-server` binary; default: found on PATH or in /usr/sbin. */
  binary?: string;
}

/** One leaf node connection as `/leafz` shows it. */
export interface NatsLeafLink {
  /** The account the connection binds (`$G` without accounts). */
  readonly account: string;
  readonly ip: string;
  readonly port: number;
  /** Subscriptions the other side has sent over this connection. */
  readonly subscriptions: number;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>`, stable across `restart()`. */
  readonly url: string;
  /** `http://127.0.0.1:<port>` of the monitoring endpoint (`/varz`, `/leafz`), stable across `restart()`. */
  readonly monitorUrl: string;
  /** `nats-leaf://127.0.0.1:<port>` with `leafnodes: true` (else undefined), stable across `restart()`. */
  readonly leafUrl: string | undefined;
  /** `ws://127.0.0.1:<port>` (plain websocket, `no_tls`), stable across `restart()`. */
  readonly wsUrl: string;
  readonly port: number;
  readonly wsPort: number;
  /** The JetStream store directory, kept across `restart()`. */
  readonly storeDir: string;
  /** The generated configuration file. */
  readonly configFile: string;
  /** Process id of the running server (changes with `restart()`). */
  readonly pid: number;
  /** The leaf node connections the server has right now (`/leafz`), either side of them. */
  leafLinks(): Promise<NatsLeafLink[]>;
  /** Polls `/leafz` until the server has exactly `count` leaf node connections; default 10 s. */
  waitForLeafLinks(count: number, timeoutMs?: number): Promise<void>;
  /** Stops the server and starts it again on the same ports with the same store. */
  restart(): Promise<void>;
  /** Kills the server and removes its configuration, ports file and store. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 10_000;
const DEFAULT_STOP_TIMEOUT_MS = 5_000;
/** After SIGKILL the kernel reaps at once; this only bounds the wait for the exit event. */
const KILL_WAIT_MS = 2_000;
const POLL_MS = 10;
/** A leaf node reconnects once a second (nats-server's default); /leafz is polled a little faster. */
const LEAF_POLL_MS = 50;
const DEFAULT_LEAF_WAIT_MS = 10_000;
/** Kept from the server's output so a failed start can say why. */
const OUTPUT_TAIL_BYTES = 8 * 1024;

const INSTALL_HINT =
  'nats-server is not installed: run `node scripts/ensure-deps.ts` (npm test runs it first), ' +
  'or install the Debian package nats-server';

/** A quoted string in nats-server's configuration syntax (JSON strings are valid there). */
const quote = (value: string): string => JSON.stringify(value);

/** The configuration of the structured options, in nats-server's syntax. */
function renderSecurity(options: NatsServerOptions): string {
  const lines: string[] = [];
  const tls = options.tls;
  if (tls !== undefined) {
    lines.push('tls {', `  cert_file: ${quote(tls.certFile)}`, `  key_file: ${quote(tls.keyFile)}`);
    if (tls.caFile !== undefined) lines.push(`  ca_file: ${quote(tls.caFile)}`);
    if (tls.verify === true) lines.push('  verify: true');
    // The default half second is short for a TLS handshake on a loaded test machine.
    lines.push('  timeout: 5', '}');
  }
  const auth = options.authorization;
  if (auth !== undefined) {
    lines.push('authorization {');
    if (auth.token !== undefined) lines.push(`  token: ${quote(auth.token)}`);
    if (auth.users !== undefined) {
      lines.push('  users: [');
      for (const user of auth.users) {
        const fields: string[] = [];
        if (user.user !== undefined) fields.push(`user: ${quote(user.user)}`);
        if (user.password !== undefined) fields.push(`password: ${quote(user.password)}`);
        if (user.nkey !== undefined) fields.push(`nkey: ${quote(user.nkey)}`);
        const p = user.permissions;
        if (p !== undefined) {
          const list = (subjects: readonly string[]): string => `[${subjects.map(quote).join(', ')}]`;
          const parts: string[] = [];
          if (p.publish !== undefined) parts.push(`publish: ${list(p.publish)}`);
          if (p.subscribe !== undefined) parts.push(`subscribe: ${list(p.subscribe)}`);
          fields.push(`permissions: { ${parts.join(', ')} }`);
        }
        lines.push(`    { ${fields.join(', ')} }`);
      }
      lines.push('  ]');
    }
    lines.push('}');
  }
  const operator = options.operator;
  if (operator !== undefined) {
    lines.push(
      `operator: ${quote(operator.operatorJwt)}`,
      `system_account: ${quote(operator.systemAccount)}`,
    );
    lines.push('resolver: MEMORY', 'resolver_preload: {');
    for (const [account, jwt] of Object.entries(operator.accounts)) lines.push(`  ${account}: ${quote(jwt)}`);
    lines.push('}');
  }
  return lines.join('\n');
}

/** JetStream, the leaf node block and the server's name, in nats-server's syntax. */
function renderTopology(layout: Layout, options: NatsServerOptions, leafPort: number): string {
  const lines = [`server_name: ${quote(options.serverName ?? basename(layout.root))}`];
  const jetstream = options.jetstream ?? true;
  if (jetstream !== false) {
    lines.push(
      'jetstream {',
      `  store_dir: ${quote(layout.storeDir)}`,
      '  max_memory_store: 268435456',
      '  max_file_store: 1073741824',
    );
    if (typeof jetstream === 'object' && jetstream.domain !== undefined) {
      lines.push(`  domain: ${quote(jetstream.domain)}`);
    }
    lines.push('}');
  }
  const remotes = options.leafRemotes ?? [];
  if (options.leafnodes === true || remotes.length > 0) {
    lines.push('leafnodes {');
    if (options.leafnodes === true) {
      // A hub always tells its leaves its own leaf node address, and they reconnect to it as well as
      // to the URL they were given: past a relay that a test has cut (nats-topology.ts). Port 1
      // refuses every connection, so only the given URL can carry a leaf's link.
      lines.push(`  listen: "127.0.0.1:${leafPort}"`, '  advertise: "127.0.0.1:1"');
    }
    if (remotes.length > 0)
      lines.push(`  remotes: [${remotes.map((url) => `{ url: ${quote(url)} }`).join(', ')}]`);
    lines.push('}');
  }
  return lines.join('\n');
}

interface Layout {
  root: string;
  storeDir: string;
  portsDir: string;
  configFile: string;
}

interface Ports {
  client: number;
  ws: number;
  monitor: number;
  leaf: number;
}

function renderConfig(layout: Layout, ports: Ports, topology: string, extra: string): string {
  // -1 asks the server to pick a free port; after the first start the learned ports are written in,
  // so a restart comes back where clients expect it.
  return [
    '# Generated by @cirrus/testing startNatsServer',
    `listen: "127.0.0.1:${ports.client}"`,
    `http: "127.0.0.1:${ports.monitor}"`,
    `ports_file_dir: ${quote(layout.portsDir)}`,
    topology,
    'websocket {',
    `  listen: "127.0.0.1:${ports.ws}"`,
    '  no_tls: true',
    '}',
    extra,
    '',
  ].join('\n');
}

interface PortsFile {
  nats?: string[];
  websocket?: string[];
  monitoring?: string[];
}

function portOf(urls: string[] | undefined, what: string): number {
  const first = urls?.[0];
  if (first === undefined) throw new Error(`the nats-server ports file lists no ${what} listener`);
  return Number(new URL(first).port);
}

// --- cleanup of servers whose test process died without its exit hook (SIGKILL) ---------------------

const ROOT_PREFIX = 'cirrus-nats-';
/** Whether `pid` is the nats-server started from `dir`'s configuration (the pid may have been reused). */
async function isOurServer(dir: string, pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(join(dir, 'nats-server.conf'));
}

// --- the server ------------------------------------------------------------------------------------

class ServerImpl implements NatsServer {
  readonly #binary: string;
  readonly #layout: Layout;
  readonly #options: NatsServerOptions;
  readonly #extra: string;
  readonly #startTimeoutMs: number;
  readonly #stopTimeoutMs: number;
  readonly #untrack: () => void;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';
  #port = 0;
  #wsPort = 0;
  #monitorPort = 0;
  #leafPort = 0;
  #stopped = false;

  constructor(binary: string, layout: Layout, options: NatsServerOptions) {
    this.#binary = binary;
    this.#layout = layout;
    this.#options = options;
    this.#extra = `${renderSecurity(options)}\n${options.config ?? ''}`;
    this.#startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    this.#untrack = killOnExit(() => this.killSync());
  }

  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.#wsPort}`;
  }

  get monitorUrl(): string {
    return `http://127.0.0.1:${this.#monitorPort}`;
  }

  get leafUrl(): string | undefined {
    return this.#options.leafnodes === true ? `nats-leaf://127.0.0.1:${this.#leafPort}` : undefined;
  }

  get port(): number {
    return this.#port;
  }

  get wsPort(): number {
    return this.#wsPort;
  }

  get storeDir(): string {
    return this.#layout.storeDir;
  }

  get configFile(): string {
    return this.#layout.configFile;
  }

  get pid(): number {
    return this.#child?.pid ?? 0;
  }

  async start(): Promise<void> {
    const first = this.#port === 0;
    const wanted: Ports = first
      ? { client: -1, ws: -1, monitor: -1, leaf: -1 }
      : { client: this.#port, ws: this.#wsPort, monitor: this.#monitorPort, leaf: this.#leafPort };
    await writeFile(
      this.#layout.configFile,
      renderConfig(
        this.#layout,
        wanted,
        renderTopology(this.#layout, this.#options, wanted.leaf),
        this.#extra,
      ),
    );
    // A stale ports file from the previous process must not be mistaken for the new one's.
    for (const name of await readdir(this.#layout.portsDir))
      await rm(join(this.#layout.portsDir, name), { force: true });

    this.#output = '';
    const child = spawn(this.#binary, ['-c', this.#layout.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exitStatus: string | undefined;
    this.#exited = new Promise((resolve) => {
      // 'close', not 'exit': it comes after the output pipes drained, so a failure message has the output.
      child.once('close', (code, signal) => {
        exitStatus = signal === null ? `exit code ${code}` : `signal ${signal}`;
        resolve();
      });
      child.once('error', (err) => {
        exitStatus = `spawn error: ${err.message}`;
        resolve();
      });
    });
    // Unref so that a forgotten server does not keep the test process alive; the exit hook kills it.
    child.unref();
    // The pipes are sockets underneath; they too would hold the event loop open.
    (child.stdout as Socket | null)?.unref();
    (child.stderr as Socket | null)?.unref();
    if (child.pid !== undefined) await recordServerPid(this.#layout.root, child.pid);

    const portsFile = join(this.#layout.portsDir, `nats-server_${child.pid}.ports`);
    const until = Date.now() + this.#startTimeoutMs;
    const failure = (why: string): Error =>
      new Error(`nats-server did not start: ${why}\n--- server output (tail) ---\n${this.#output.trim()}`);
    let ports: PortsFile | undefined;
    while (ports === undefined) {
      if (exitStatus !== undefined) throw failure(`it ended (${exitStatus})`);
      try {
        // The server writes the file in one go, but a read can still catch it half-written: retry.
        ports = JSON.parse(await readFile(portsFile, 'utf8')) as PortsFile;
      } catch {
        if (Date.now() >= until) {
          this.#killChild();
          throw new DeadlineError(`${failure(`no ports file after ${this.#startTimeoutMs} ms`).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    }
    const learned: Ports = {
      client: portOf(ports.nats, 'client'),
      ws: portOf(ports.websocket, 'websocket'),
      monitor: portOf(ports.monitoring, 'monitoring'),
      leaf: 0,
    };
    const before = [this.#port, this.#wsPort, this.#monitorPort, this.#leafPort];
    // /varz, which tells the leaf node port, is on the monitoring port just learned.
    this.#monitorPort = learned.monitor;
    if (this.#options.leafnodes === true) learned.leaf = await this.#learnLeafPort(until, failure);
    const after = [learned.client, learned.ws, learned.monitor, learned.leaf];
    if (!first && after.some((port, i) => port !== before[i])) {
      throw failure(`it came back on ports ${after.join('/')} instead of ${before.join('/')}`);
    }
    this.#port = learned.client;
    this.#wsPort = learned.ws;
    this.#leafPort = learned.leaf;
    await this.#waitAccepting(until);
  }

  /** `/varz` of the monitoring endpoint, parsed; undefined while it does not answer. */
  async #varz(): Promise<{ leaf?: { port?: number } } | undefined> {
    try {
      const response = await fetch(`${this.monitorUrl}/varz`, { signal: AbortSignal.timeout(1_000) });
      return response.ok ? ((await response.json()) as { leaf?: { port?: number } }) : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The ports file has no leaf node entry; `/varz` reports the port once the listener is open (-1
   * until then).
   */
  async #learnLeafPort(until: number, failure: (why: string) => Error): Promise<number> {
    for (;;) {
      const port = (await this.#varz())?.leaf?.port ?? -1;
      if (port > 0) return port;
      if (Date.now() >= until) {
        throw new DeadlineError(failure('its leaf node listener did not open in time').message);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async leafLinks(): Promise<NatsLeafLink[]> {
    const response = await fetch(`${this.monitorUrl}/leafz`, { signal: AbortSignal.timeout(2_000) });
    if (!response.ok) throw new Error(`${this.monitorUrl}/leafz answered ${response.status}`);
    const body = (await response.json()) as { leafs?: NatsLeafLink[] | null };
    return (body.leafs ?? []).map(({ account, ip, port, subscriptions }) => ({
      account,
      ip,
      port,
      subscriptions,
    }));
  }

  async waitForLeafLinks(count: number, timeoutMs = DEFAULT_LEAF_WAIT_MS): Promise<void> {
    const until = Date.now() + timeoutMs;
    let seen = -1;
    for (;;) {
      // A server being restarted does not answer for a moment; that is "not yet", not a failure.
      seen = await this.leafLinks().then(
        (links) => links.length,
        () => seen,
      );
      if (seen === count) return;
      if (Date.now() >= until) {
        throw new DeadlineError(
          `nats-server ${this.url} has ${seen} leaf node connection(s), not ${count}, after ${timeoutMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, LEAF_POLL_MS));
    }
  }

  /** The ports file is written as listeners open; a TCP connect proves the client port accepts. */
  async #waitAccepting(until: number): Promise<void> {
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const socket = tcpConnect({ host: '127.0.0.1', port: this.#port });
        socket.once('connect', () => {
          socket.destroy();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (ok) return;
      if (Date.now() >= until) {
        throw new DeadlineError(`nats-server on port ${this.#port} did not accept connections in time`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async #terminate(): Promise<void> {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = (ms: number): Promise<boolean> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        void this.#exited.then(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    child.kill('SIGTERM');
    if (await exited(this.#stopTimeoutMs)) return;
    child.kill('SIGKILL');
    if (!(await exited(KILL_WAIT_MS))) {
      throw new DeadlineError(`nats-server (pid ${child.pid}) did not exit after SIGKILL`);
    }
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error('restart() after stop(): start a new server instead');
    await this.#terminate();
    await this.start();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      await this.#terminate();
    } finally {
      this.#untrack();
      await rm(this.#layout.root, { recursive: true, force: true });
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #killChild(): void {
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  /** For the exit hook: no awaiting is possible there. */
  killSync(): void {
    this.#killChild();
    rmSync(this.#layout.root, { recursive: true, force: true });
  }
}

/**
 * Starts a `nats-server` with JetStream and a websocket listener on free loopback ports. Throws with
 * the server's output when it does not start within the deadline, and with an install hint when the
 * binary is missing.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = findExecutable(
    'nats-server',
    options.binary,
    ['/usr/sbin', '/usr/local/sbin', '/sbin'],
    INSTALL_HINT,
  );
  const root = await daemonDirectory(ROOT_PREFIX, isOurServer);
  const layout: Layout = {
    root,
    storeDir: join(root, 'store'),
    portsDir: join(root, 'ports'),
    configFile: join(root, 'nats-server.conf'),
  };
  await mkdir(layout.storeDir);
  await mkdir(layout.portsDir);
  const server = new ServerImpl(binary, layout, options);
  try {
    await server.start();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
