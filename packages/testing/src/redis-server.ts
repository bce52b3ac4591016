/**
 * A real `redis-server` for tests: loopback only, nothing persisted (`--save '' --appendonly no`), its
 * working directory a private temporary one. Redis cannot pick its own port and report it, so a free
 * port is chosen first and the start is retried on another one when something else took it in between.
 * `restart()` brings the server back on the same port (empty: nothing is saved), the way a Redis
 * outage looks to a client; `stop()` kills it and removes its directory.
 *
 * A test process that ends with servers still running (a failed `before`, a forgotten `stop()`, the
 * runner's SIGTERM) kills them on exit. One killed with SIGKILL cannot: the next process that starts a
 * server finds the directories whose owner is gone and kills their servers.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { readlink, rm } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { daemonDirectory, findExecutable, killOnExit, recordServerPid } from './daemons.ts';
import { DeadlineError } from './deadline.ts';
import { freePort } from './net.ts';

export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--requirepass', 's3cret']`. */
  args?: readonly string[];
  /** Deadline for the server to accept connections (per start and restart); default 10 s. */
  startTimeoutMs?: number;
  /** Deadline for the server to exit on SIGTERM before it is killed; default 5 s. */
  stopTimeoutMs?: number;
  /** Path of the binary; default: `redis-server` on PATH or in /usr/bin, /usr/sbin. */
  binary?: string;
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>`, stable across `restart()`. */
  readonly url: string;
  readonly port: number;
  /** Process id of the running server (changes with `restart()`; 0 while stopped). */
  readonly pid: number;
  /** The server's working directory, removed by `stop()`. */
  readonly dir: string;
  /** Stops the server and starts it again, empty, on the same port. */
  restart(): Promise<void>;
  /** Kills the server and removes its directory. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
/** SIGKILL cannot be ignored; this bounds only the wait for the exit to be reported. */
const KILL_WAIT_MS = 2_000;
const PORT_ATTEMPTS = 5;
const POLL_MS = 10;
const OUTPUT_TAIL = 8 * 1024;
const DIR_PREFIX = 'cirrus-redis-';

const INSTALL_HINT =
  'redis-server is not installed: run `node scripts/ensure-deps.ts` (npm test runs it first), ' +
  'or install the Debian package redis-server';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** True once the port answers PING (any reply: with --requirepass it is -NOAUTH, still a live server). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (chunk: Buffer) => done(chunk.length > 0));
  });
}

/** Redis runs in its --dir: a reused pid that is not our server has another working directory. */
async function isOurServer(dir: string, pid: number): Promise<boolean> {
  return (await readlink(`/proc/${pid}/cwd`).catch(() => '')) === dir;
}

// --- one server ----------------------------------------------------------------------------------------

class Server implements RedisServer {
  readonly dir: string;
  readonly #binary: string;
  readonly #args: readonly string[];
  readonly #startTimeoutMs: number;
  readonly #stopTimeoutMs: number;
  readonly #untrack: () => void;
  #port = 0;
  #child: ChildProcess | undefined;
  #exit: Promise<string> = Promise.resolve('not started');
  #output = '';
  #stopped = false;

  constructor(binary: string, dir: string, options: RedisServerOptions) {
    this.#binary = binary;
    this.dir = dir;
    this.#args = options.args ?? [];
    this.#startTimeoutMs = options.startTimeoutMs ?? START_TIMEOUT_MS;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? STOP_TIMEOUT_MS;
    this.#untrack = killOnExit(() => this.killNow());
  }

  get url(): string {
    return `redis://127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get pid(): number {
    const child = this.#child;
    return child === undefined || child.exitCode !== null || child.signalCode !== null ? 0 : (child.pid ?? 0);
  }

  /** First start: on a fresh free port, again on another one when the port was taken meanwhile. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      this.#port = await freePort();
      const outcome = await this.#launch();
      if (outcome === 'ready') return;
      if (!/address already in use/i.test(this.#output) || attempt === PORT_ATTEMPTS)
        throw this.#failure(outcome);
    }
  }

  #failure(why: string): Error {
    return new Error(
      `redis-server did not start: ${why}\n--- server output (tail) ---\n${this.#output.trim()}`,
    );
  }

  /** Spawns on `#port`; resolves 'ready', or why the process ended before it was. */
  async #launch(): Promise<string> {
    this.#output = '';
    const args = [
      '--port',
      String(this.#port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      this.dir,
      '--daemonize',
      'no',
      '--logfile',
      '',
      ...this.#args,
    ];
    const child = spawn(this.#binary, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let ended: string | undefined;
    this.#exit = new Promise((resolve) => {
      // 'close' comes after the pipes drained, so a failure can quote the server's last words.
      child.once('close', (code, signal) =>
        resolve((ended = signal === null ? `exit code ${code}` : `signal ${signal}`)),
      );
      child.once('error', (err) => resolve((ended = `spawn error: ${err.message}`)));
    });
    // A forgotten server must not keep the test process alive; the exit hook kills it.
    child.unref();
    (child.stdout as Socket | null)?.unref();
    (child.stderr as Socket | null)?.unref();
    if (child.pid !== undefined) await recordServerPid(this.dir, child.pid);

    const until = Date.now() + this.#startTimeoutMs;
    for (;;) {
      if (ended !== undefined) return `it ended (${ended})`;
      // The log line is ours alone: a PING answer alone could come from another process on the port.
      if (/ready to accept connections/i.test(this.#output) && (await answersPing(this.#port)))
        return 'ready';
      if (Date.now() >= until) {
        await this.#terminate('SIGKILL');
        throw new DeadlineError(
          this.#failure(`no answer on port ${this.#port} after ${this.#startTimeoutMs} ms`).message,
        );
      }
      await sleep(POLL_MS);
    }
  }

  /** Signals the server and waits for its exit; SIGTERM escalates to SIGKILL at the stop deadline. */
  async #terminate(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    if (this.pid === 0) return;
    const child = this.#child as ChildProcess;
    const exited = (ms: number): Promise<boolean> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), ms);
        void this.#exit.then(() => {
          clearTimeout(timer);
          resolve(true);
        });
      });
    child.kill(signal);
    if (signal === 'SIGTERM' && (await exited(this.#stopTimeoutMs))) return;
    child.kill('SIGKILL');
    if (!(await exited(KILL_WAIT_MS)))
      throw new DeadlineError(`redis-server (pid ${child.pid}) outlived SIGKILL`);
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error('restart() after stop(): start a new server instead');
    await this.#terminate();
    const outcome = await this.#launch();
    if (outcome !== 'ready') throw this.#failure(`${outcome} when restarting on port ${this.#port}`);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    try {
      await this.#terminate();
    } finally {
      this.#untrack();
      await rm(this.dir, { recursive: true, force: true });
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** For the exit hook, where nothing can be awaited. */
  killNow(): void {
    if (this.pid !== 0) this.#child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts a `redis-server` on a free loopback port. Throws with the server's output when it does not
 * answer within the deadline, and with an install hint when the binary is missing.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = findExecutable(
    'redis-server',
    options.binary,
    ['/usr/bin', '/usr/sbin', '/usr/local/bin'],
    INSTALL_HINT,
  );
  const dir = await daemonDirectory(DIR_PREFIX, isOurServer);
  const server = new Server(binary, dir, options);
  try {
    await server.start();
  } catch (err) {
    await server.stop();
    throw err;
  }
  return server;
}
