/**
 * Shared benchmark plumbing: settings, the component path, free ports, child servers that are always
 * killed (normal end, failure, SIGINT/SIGTERM), temporary directories that are always removed, and
 * the statistics and table printing every part uses.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { HttpResponseSink } from '@cirrus/runtime';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const HELLO_WASM = join(ROOT, 'examples', 'hello', 'build', 'hello.wasm');
export const HELLO_APP = join(ROOT, 'examples', 'hello', 'app.yaml');
export const COUNTER_WASM = join(ROOT, 'examples', 'counter', 'build', 'counter.wasm');
/** The same hello built with the QuickJS engine (`npm run build:examples` builds both). */
export const HELLO_QUICKJS_WASM = join(ROOT, 'examples', 'hello', 'build', 'hello-quickjs.wasm');
/** The greeting the demo manifest configures; the in-process servers pass the same one. */
export const HELLO_GREETING = 'Hello from Cirrus';

/** A problem with the harness itself (not a slow result): the run exits non-zero. */
export class HarnessError extends Error {}

export function requireHelloWasm(engine: 'starlingmonkey' | 'quickjs' = 'starlingmonkey'): string {
  const wasm = engine === 'quickjs' ? HELLO_QUICKJS_WASM : HELLO_WASM;
  if (!existsSync(wasm)) {
    throw new HarnessError(
      `${wasm} is missing: build the demo components first with \`npm run build:examples\``,
    );
  }
  return wasm;
}

// ── settings ────────────────────────────────────────────────────────────────────────────────────

export type Part =
  | 'http'
  | 'invoke'
  | 'control'
  | 'links'
  | 'overload'
  | 'remote'
  | 'apps'
  | 'memory'
  | 'start'
  | 'scaleout'
  | 'telemetry'
  | 'browser';
export const PARTS: readonly Part[] = [
  'http',
  'invoke',
  'control',
  'links',
  'overload',
  'remote',
  'apps',
  'memory',
  'start',
  'scaleout',
  'telemetry',
  'browser',
];
export const SERVER_KEYS = ['cirrus', 'plain', 'jco', 'direct', 'quickjs', 'wat'] as const;
export type ServerKey = (typeof SERVER_KEYS)[number];

export interface Settings {
  parts: Part[];
  /** HTTP: concurrent connections of the load generator. */
  connections: number;
  /** HTTP: seconds per measured round. */
  duration: number;
  /** HTTP: seconds of load before the measured rounds (per server). */
  warmup: number;
  /** Measured rounds (both parts); medians are taken over them. */
  rounds: number;
  /** Cirrus instances (spreadscaler) for HTTP, pool size and pipelined callers for `invoke`. */
  instances: number;
  /** invoke: calls per measured round. */
  calls: number;
  /** HTTP: which servers to run. */
  servers: ServerKey[];
  /** Seconds a server may take to answer its first 200. */
  startTimeout: number;
}

export const USAGE = `usage: node bench/run.ts [http|invoke|control|links|overload|remote|apps|memory|start|scaleout|telemetry|browser]… [options]

  --connections N    HTTP connections of the load generator  (BENCH_CONNECTIONS, default 10)
  --duration S       seconds per measured HTTP round         (BENCH_DURATION, default 10)
  --warmup S         seconds of HTTP warm-up per server      (BENCH_WARMUP, default 3)
  --rounds N         measured rounds, medians are reported   (BENCH_ROUNDS, default 3)
  --instances N      Cirrus instances / pool size / callers  (BENCH_INSTANCES, default 4)
  --calls N          calls per invoke / control round        (BENCH_CALLS, default 5000;
                     links and remote rounds make a fifth as many)
  --servers LIST     HTTP servers, from ${SERVER_KEYS.join(',')}  (BENCH_SERVERS, default all)
  --start-timeout S  seconds a server may take to come up    (BENCH_START_TIMEOUT, default 60)
`;

function positiveNumber(name: string, raw: string | undefined, fallback: number, integer: boolean): number {
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new HarnessError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return value;
}

export function parseSettings(argv: string[], env: NodeJS.ProcessEnv = process.env): Settings {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new HarnessError(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
  }
  const { values, positionals } = parsed;
  const flag = (name: keyof typeof values, envName: string): string | undefined => {
    const value = values[name];
    return typeof value === 'string' ? value : env[envName];
  };
  const parts: Part[] = [];
  for (const p of positionals) {
    if (!PARTS.includes(p as Part)) throw new HarnessError(`unknown part "${p}"\n\n${USAGE}`);
    if (!parts.includes(p as Part)) parts.push(p as Part);
  }
  const serverList = flag('servers', 'BENCH_SERVERS');
  const servers =
    serverList === undefined || serverList === ''
      ? [...SERVER_KEYS]
      : serverList.split(',').map((s) => {
          const key = s.trim();
          if (!SERVER_KEYS.includes(key as ServerKey)) {
            throw new HarnessError(`unknown server "${key}" (known: ${SERVER_KEYS.join(', ')})`);
          }
          return key as ServerKey;
        });
  return {
    parts: parts.length === 0 ? [...PARTS] : parts,
    connections: positiveNumber('--connections', flag('connections', 'BENCH_CONNECTIONS'), 10, true),
    duration: positiveNumber('--duration', flag('duration', 'BENCH_DURATION'), 10, false),
    warmup: positiveNumber('--warmup', flag('warmup', 'BENCH_WARMUP'), 3, false),
    rounds: positiveNumber('--rounds', flag('rounds', 'BENCH_ROUNDS'), 3, true),
    instances: positiveNumber('--instances', flag('instances', 'BENCH_INSTANCES'), 4, true),
    calls: positiveNumber('--calls', flag('calls', 'BENCH_CALLS'), 5000, true),
    servers,
    startTimeout: positiveNumber('--start-timeout', flag('start-timeout', 'BENCH_START_TIMEOUT'), 60, false),
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      connections: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      instances: { type: 'string' },
      calls: { type: 'string' },
      servers: { type: 'string' },
      'start-timeout': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

// ── statistics and printing ─────────────────────────────────────────────────────────────────────

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Fixed decimals, with thousands separators for large numbers; `–` for a missing value. */
export function fmt(value: number | undefined, decimals = 0): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

export function ratio(numerator: number, denominator: number): string {
  if (!Number.isFinite(numerator) || !Number.isFinite(denominator) || denominator === 0) return '–';
  return `${(numerator / denominator).toFixed(2)}×`;
}

/** A plain-text table: the first column left-aligned, the others right-aligned. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function log(message: string): void {
  process.stdout.write(`${message}\n`);
}

export function progress(message: string): void {
  process.stderr.write(`  · ${message}\n`);
}

// ── cleanup ─────────────────────────────────────────────────────────────────────────────────────

const children = new Set<ChildServer>();
const tempDirs = new Set<string>();

/** Last resort when the process exits without running `cleanup()`: synchronous, so it works in 'exit'. */
function cleanupSync(): void {
  for (const child of children) child.killNow();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

let interrupted = false;

/** Installs the exit and signal handlers; call once at startup. */
export function installCleanupHandlers(): void {
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      process.stderr.write(`\n${signal}: stopping servers…\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
}

/** Stops every child server still running (whether it came up or not). */
export async function stopChildren(): Promise<void> {
  await Promise.allSettled([...children].map((c) => c.stop()));
}

/** Stops every child server and removes every temporary directory. */
export async function cleanup(): Promise<void> {
  await stopChildren();
  await Promise.allSettled([...tempDirs].map((d) => removeTempDir(d)));
}

export async function makeTempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cirrus-bench-'));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

// ── ports and readiness ─────────────────────────────────────────────────────────────────────────

export { freePort, Samples } from '@cirrus/testing';

export interface Sample {
  status: number;
  /** Raw headers as `[name, value, …]`. */
  headers: string[];
  body: Buffer;
}

/** One GET, with a timeout; the connection is not kept alive. */
export function get(url: string, timeoutMs = 2000): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.rawHeaders, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `url` until it answers 200; fails at the deadline or as soon as the server exits. */
export async function waitUntilReady(url: string, server: ChildServer, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (server.exitCode !== undefined) {
      throw new HarnessError(
        `${server.name} exited (${server.exitCode}) before answering ${url}\n${server.outputTail()}`,
      );
    }
    try {
      const sample = await get(url, Math.max(100, Math.min(2000, deadline - Date.now())));
      if (sample.status === 200) return;
      last = `status ${sample.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new HarnessError(
    `${server.name} did not answer 200 on ${url} within ${timeoutMs / 1000} s (last: ${last})\n${server.outputTail()}`,
  );
}

// ── child servers ───────────────────────────────────────────────────────────────────────────────

const OUTPUT_LINES = 40;

/**
 * A server in its own process group, so stopping it also stops whatever it started (`jco serve`
 * runs the component in a grandchild). Output is kept (last lines) for error messages.
 */
export class ChildServer {
  readonly name: string;
  readonly #child: ChildProcess;
  readonly #output: string[] = [];
  #outputLines = 0;
  readonly #exited: Promise<void>;
  #exitCode: number | string | undefined;

  private constructor(name: string, child: ChildProcess) {
    this.name = name;
    this.#child = child;
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.#outputLines++;
        this.#output.push(line);
        if (this.#output.length > OUTPUT_LINES) this.#output.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#exitCode = code ?? signal ?? 'unknown';
        children.delete(this);
        resolve();
      });
    });
  }

  /**
   * Starts `node <args>` (the same Node as this process) in a new process group. The child gets
   * this process's environment plus `env`, or only `env` when `inheritEnv` is false.
   */
  static startNode(
    name: string,
    args: string[],
    options: { env?: NodeJS.ProcessEnv; inheritEnv?: boolean } = {},
  ): ChildServer {
    const { env = {}, inheritEnv = true } = options;
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: inheritEnv ? { ...process.env, ...env } : env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ChildServer(name, child);
    children.add(server);
    child.once('error', (err) => server.#output.push(`spawn failed: ${err.message}`));
    return server;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get exitCode(): number | string | undefined {
    return this.#exitCode;
  }

  /** Lines printed so far (stdout and stderr), e.g. to measure log volume. */
  get outputLines(): number {
    return this.#outputLines;
  }

  outputTail(): string {
    return this.#output.length === 0
      ? `  (${this.name} printed nothing)`
      : this.#output.map((l) => `  ${this.name} | ${l}`).join('\n');
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is already gone
    }
  }

  /** SIGTERM to the group, SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.#exitCode !== undefined) {
      this.#signal('SIGKILL'); // stragglers the leader left behind
      return;
    }
    this.#signal('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)));
    const late = await Promise.race([this.#exited.then(() => false), timedOut]);
    clearTimeout(timer);
    this.#signal('SIGKILL');
    if (late) await this.#exited;
  }

  /** Waits for the process to exit by itself; stops it and fails the run after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
    const late = await Promise.race([this.#exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      await this.stop();
      throw new HarnessError(
        `${this.name} did not finish within ${timeoutMs / 1000} s\n${this.outputTail()}`,
      );
    }
  }

  /** Synchronous kill for the 'exit' handler. */
  killNow(): void {
    this.#signal('SIGKILL');
  }

  /**
   * CPU seconds (user + system) used so far by every live process in the server's group, from
   * /proc; undefined where /proc is not available.
   */
  cpuSeconds(): number | undefined {
    const pgid = this.#child.pid;
    if (pgid === undefined || !existsSync('/proc/self/stat')) return undefined;
    let ticks = 0;
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue; // exited meanwhile
      }
      // Fields after the parenthesised command name: state ppid pgrp … utime(14) stime(15).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== pgid) continue;
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return ticks / CLOCK_TICKS;
  }
}

/** USER_HZ: 100 on every Linux build Node supports. */
const CLOCK_TICKS = 100;

/** Receives a component's HTTP response in memory, keeping only its status and size. */
export class ResponseCollector implements HttpResponseSink {
  status: number | undefined;
  bytes = 0;

  head(status: number): void {
    this.status = status;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.bytes += chunk.byteLength;
  }

  end(chunks: Uint8Array[]): void {
    for (const c of chunks) this.bytes += c.byteLength;
  }
}
