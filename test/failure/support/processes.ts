/**
 * `cirrus up` and `cirrus` as real processes for the failure suite. Every `cirrus up` runs as the
 * leader of its own process group, and the whole group (the host and the provider processes it
 * spawned) is killed by `stop()`, by `killAll()`, and when the test process exits, so a failing test
 * leaves no process behind. Every wait has a deadline.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeadlineError, freePort, killOnExit, waitFor, withDeadline } from '@cirrus/testing';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CIRRUS_BIN = join(ROOT, 'packages/cli/bin/cirrus.js');
export const HELLO_WASM = join(ROOT, 'examples/hello/build/hello.wasm');
const HELLO_MANIFEST = join(ROOT, 'examples/hello/app.yaml');

/** What `cirrus up` prints once its apps are deployed (or at once when there are none). */
const READY_LINE = 'Press Ctrl+C to stop.';
const DEFAULT_READY_MS = 60_000;
const DEFAULT_STOP_GRACE_MS = 15_000;
/** After SIGKILL the kernel reaps at once; this only bounds the wait for the exit event. */
const KILL_WAIT_MS = 5_000;
/** Log lines quoted in a failure message. */
const TAIL_LINES = 30;

// --- processes started here, killed however the test process ends ---------------------------------

/** Process groups started here, each with the undoing of its kill-on-exit registration. */
const groups = new Map<number, () => void>();

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

/** Kills every process group started by this module that is still registered. Synchronous. */
export function killAll(): void {
  for (const pid of groups.keys()) untrack(pid, true);
}

/** Kills the group of `pid` however the test process ends, until it is untracked. */
function track(pid: number): void {
  groups.set(
    pid,
    killOnExit(() => killGroup(pid)),
  );
}

function untrack(pid: number, kill: boolean): void {
  if (kill) killGroup(pid);
  groups.get(pid)?.();
  groups.delete(pid);
}

// --- cirrus up -------------------------------------------------------------------------------------

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One line of a `--log-format json` host log. */
export interface LogRecord {
  time: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface CirrusUpOptions {
  /** Arguments after `up`; add `--log-format json` to read the log as records. */
  args: readonly string[];
  /** Private directory of this process: `cache/` and `state/` (the local endpoint file) go there. */
  dir: string;
  /** The transpile cache; default `<dir>/cache`. Hosts of one test may share one to start faster. */
  cacheDir?: string;
  /** Added to the environment, e.g. `CIRRUS_LIMIT_*` overrides. */
  env?: Readonly<Record<string, string>>;
  /** Deadline for the ready banner; default 60 s. */
  readyTimeoutMs?: number;
  /** Names the process in failure messages. */
  label?: string;
}

export interface CirrusProcess {
  readonly pid: number;
  readonly label: string;
  /** Its `CIRRUS_STATE_DIR`, where the local endpoint file is written. */
  readonly stateDir: string;
  /** Lines printed on stdout (the banner). */
  readonly stdout: readonly string[];
  /** Lines of the host log (stderr), in order. */
  readonly log: readonly string[];
  /** How it ended, once it has. */
  readonly exit: Exit | undefined;
  readonly exited: Promise<Exit>;
  /** The log lines from line `fromLine` on that are JSON records (all of them with `--log-format json`). */
  records(fromLine?: number): LogRecord[];
  /** The host id, from its `host started` log line (needs `--log-format json`). */
  hostId(): string;
  /** The first record from log line `fromLine` on that matches, failing after `ms`. */
  waitForRecord(
    predicate: (r: LogRecord) => boolean,
    ms: number,
    what: string,
    fromLine?: number,
  ): Promise<LogRecord>;
  /** The last lines of its log and output, for failure messages. */
  tail(): string;
  /** Sends `signal` to the host process alone (not to its provider processes). */
  signal(signal: NodeJS.Signals): void;
  /**
   * SIGTERM to the host, and SIGKILL to its whole process group when it has not exited after
   * `graceMs` (default 15 s). Resolves with how the host ended; the group is killed either way.
   */
  stop(graceMs?: number): Promise<Exit>;
}

class CirrusUp implements CirrusProcess {
  readonly pid: number;
  readonly label: string;
  readonly stateDir: string;
  readonly stdout: string[] = [];
  readonly log: string[] = [];
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  readonly #child: ChildProcess;
  #parsed = 0;
  /** Parsed records with the index of their log line. */
  readonly #records: { line: number; record: LogRecord }[] = [];

  constructor(child: ChildProcess, pid: number, label: string, stateDir: string) {
    this.#child = child;
    this.pid = pid;
    this.label = label;
    this.stateDir = stateDir;
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': the output pipes are read to the end by then.
      child.once('close', (code, signal) => {
        this.exit = { code, signal };
        untrack(pid, false);
        resolve(this.exit);
      });
    });
    lines(child.stdout, (line) => this.stdout.push(line));
    lines(child.stderr, (line) => this.log.push(line));
  }

  records(fromLine = 0): LogRecord[] {
    for (; this.#parsed < this.log.length; this.#parsed++) {
      const line = this.log[this.#parsed] as string;
      if (!line.startsWith('{')) continue;
      try {
        this.#records.push({ line: this.#parsed, record: JSON.parse(line) as LogRecord });
      } catch {
        // a line that only looks like JSON
      }
    }
    return this.#records.filter((r) => r.line >= fromLine).map((r) => r.record);
  }

  hostId(): string {
    const started = this.records().find((r) => r.msg === 'host started');
    if (typeof started?.['id'] !== 'string') throw new Error(`${this.label} logged no host id yet`);
    return started['id'];
  }

  waitForRecord(
    predicate: (r: LogRecord) => boolean,
    ms: number,
    what: string,
    fromLine = 0,
  ): Promise<LogRecord> {
    return waitFor(() => this.records(fromLine).find(predicate), ms, `${this.label}: ${what}`, 20);
  }

  tail(): string {
    const exit = this.exit === undefined ? 'running' : `exited: ${JSON.stringify(this.exit)}`;
    return [
      `--- ${this.label} (pid ${this.pid}, ${exit}) stdout ---`,
      ...this.stdout.slice(-TAIL_LINES),
      `--- ${this.label} log (last ${TAIL_LINES} lines) ---`,
      ...this.log.slice(-TAIL_LINES),
    ].join('\n');
  }

  signal(signal: NodeJS.Signals): void {
    if (this.exit === undefined) this.#child.kill(signal);
  }

  async stop(graceMs = DEFAULT_STOP_GRACE_MS): Promise<Exit> {
    if (this.exit === undefined) {
      this.#child.kill('SIGTERM');
      await withDeadline(this.exited, graceMs, `${this.label} to exit on SIGTERM`).catch(() => undefined);
    }
    // Whatever the host left running in its group (a provider it failed to stop) goes too.
    untrack(this.pid, true);
    return withDeadline(this.exited, KILL_WAIT_MS, `${this.label} to exit after SIGKILL`);
  }
}

/** Calls `onLine` for each line of a child's output stream. */
function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  if (stream === null) return;
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) onLine(part);
  });
  stream.on('end', () => {
    if (rest !== '') onLine(rest);
  });
}

/** The environment of a `cirrus` process: its own cache and state directories, never the user's. */
function cirrusEnv(dir: string, cacheDir: string | undefined, extra: Readonly<Record<string, string>>) {
  return {
    ...process.env,
    CIRRUS_CACHE_DIR: cacheDir ?? join(dir, 'cache'),
    CIRRUS_STATE_DIR: join(dir, 'state'),
    ...extra,
  };
}

/** Spawns `cirrus up` without waiting for anything, for tests of what happens while it starts. */
export function launchCirrusUp(options: CirrusUpOptions): CirrusProcess {
  const label = options.label ?? 'cirrus up';
  const child = spawn(process.execPath, [CIRRUS_BIN, 'up', ...options.args], {
    env: cirrusEnv(options.dir, options.cacheDir, options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that the host and its provider processes can be killed as one.
    detached: true,
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${label} could not be spawned`);
  track(pid);
  return new CirrusUp(child, pid, label, join(options.dir, 'state'));
}

/**
 * Starts `cirrus up` and waits for its ready banner. Rejects with the process's output when it exits
 * first or misses the deadline (and kills it then).
 */
export async function startCirrusUp(options: CirrusUpOptions): Promise<CirrusProcess> {
  const label = options.label ?? 'cirrus up';
  const host = launchCirrusUp(options);
  const readyMs = options.readyTimeoutMs ?? DEFAULT_READY_MS;
  try {
    await waitFor(
      () => {
        if (host.stdout.includes(READY_LINE)) return true;
        if (host.exit !== undefined) throw new Error(`${label} exited before it was ready\n${host.tail()}`);
        return false;
      },
      readyMs,
      `${label} to print its ready banner`,
      20,
    );
  } catch (err) {
    await host.stop(0);
    if (err instanceof DeadlineError) throw new DeadlineError(`${err.message}\n${host.tail()}`);
    throw err;
  }
  return host;
}

/**
 * The demo app (examples/hello/app.yaml) under its own app name (so several hosts of one lattice do
 * not share its link and config), listening on `port`, written into `dir`. The app name is plain
 * (`[a-z0-9]+`) so the ids are predictable: `<app>-greeter` and `<app>-httpserver`.
 */
export async function writeHelloApp(
  dir: string,
  options: { appName: string; port: number; instances?: number; pin?: boolean },
): Promise<string> {
  if (!/^[a-z0-9]+$/.test(options.appName)) throw new Error(`app name ${options.appName} is not [a-z0-9]+`);
  let text = await readFile(HELLO_MANIFEST, 'utf8');
  const edits: [string, string][] = [
    ['metadata:\n  name: hello\n', `metadata:\n  name: ${options.appName}\n`],
    ['./build/hello.wasm', HELLO_WASM],
    ['127.0.0.1:8000', `127.0.0.1:${options.port}`],
    ['instances: 4', `instances: ${options.instances ?? 4}`],
  ];
  if (options.pin === true) {
    // On a lattice of several hosts, the app runs on the host labelled pin=<app name> only.
    const spread = `spread:\n              - name: own\n                requirements: { pin: ${options.appName} }`;
    edits.push(
      [`instances: ${options.instances ?? 4}`, `instances: ${options.instances ?? 4}\n            ${spread}`],
      [
        '      traits:\n        - type: link',
        `      traits:\n        - type: spreadscaler\n          properties:\n            instances: 1\n            ${spread}\n        - type: link`,
      ],
    );
  }
  for (const [from, to] of edits) {
    if (!text.includes(from))
      throw new Error(`examples/hello/app.yaml no longer contains ${JSON.stringify(from)}`);
    text = text.replace(from, to);
  }
  await mkdir(dir, { recursive: true });
  const file = join(dir, `${options.appName}-${options.port}.yaml`);
  await writeFile(file, text);
  return file;
}

export interface ServingHost {
  host: CirrusProcess;
  /** The port the hello app listens on. */
  port: number;
  /** `http://127.0.0.1:<port>/`. */
  url: string;
}

/**
 * `cirrus up --app` with the hello app on a free port. A free port can be taken by another test
 * process before the host binds it; the start is then retried on another port.
 */
export async function startHelloHost(
  options: Omit<CirrusUpOptions, 'args'> & {
    args?: readonly string[];
    appName: string;
    instances?: number;
    /** Place the app on this host only, by a label and spread requirements: on a lattice of several. */
    pin?: boolean;
  },
): Promise<ServingHost> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const app = await writeHelloApp(options.dir, {
      appName: options.appName,
      port,
      instances: options.instances,
      pin: options.pin,
    });
    const pinned = options.pin === true ? ['--label', `pin=${options.appName}`] : [];
    try {
      const host = await startCirrusUp({
        ...options,
        args: ['--app', app, ...pinned, ...(options.args ?? [])],
      });
      return { host, port, url: `http://127.0.0.1:${port}/` };
    } catch (err) {
      if (attempt < 3 && String(err).includes('ADDRESS_IN_USE')) continue;
      throw err;
    }
  }
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a `cirrus` command to completion (killed after `timeoutMs`, default 30 s). `dir` gives it the
 * same state directory as a `cirrus up` started with that `dir`, so it finds that host's local endpoint.
 */
export async function runCirrus(
  args: readonly string[],
  options: { dir: string; env?: Readonly<Record<string, string>>; timeoutMs?: number },
): Promise<CommandResult> {
  const child = spawn(process.execPath, [CIRRUS_BIN, ...args], {
    env: cirrusEnv(options.dir, undefined, options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const timeoutMs = options.timeoutMs ?? 30_000;
  try {
    const code = await withDeadline(closed, timeoutMs, `cirrus ${args.join(' ')}`);
    return { code, stdout, stderr };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
