/** What /proc says about a process: open descriptors, threads, RSS, children and zombies. */
import { readdir, readFile } from 'node:fs/promises';

/** Open file descriptors of `pid` (entries of /proc/<pid>/fd). */
export async function openFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** Threads of `pid` (entries of /proc/<pid>/task): the main thread, libuv's pool, V8's, workers'. */
export async function threadCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/task`)).length;
}

/** Resident set size of `pid` in bytes (VmRSS of /proc/<pid>/status). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match === null) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) * 1024;
}

export interface ResourceSample {
  fds: number;
  threads: number;
  rssBytes: number;
}

export async function sampleResources(pid: number): Promise<ResourceSample> {
  const [fds, threads, rss] = await Promise.all([openFds(pid), threadCount(pid), rssBytes(pid)]);
  return { fds, threads, rssBytes: rss };
}

const SAMPLE_INTERVAL_MS = 50;

/**
 * A sample taken once the fd and thread counts of `pid` have not changed for `stableMs` (a worker
 * thread or a socket being closed in the background is then done), or the last one at `timeoutMs`.
 */
export async function settledResources(
  pid: number,
  options: { stableMs?: number; timeoutMs?: number } = {},
): Promise<ResourceSample> {
  const stableMs = options.stableMs ?? 500;
  const until = performance.now() + (options.timeoutMs ?? 10_000);
  let last = await sampleResources(pid);
  let since = performance.now();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS));
    const sample = await sampleResources(pid);
    const now = performance.now();
    if (sample.fds !== last.fds || sample.threads !== last.threads) since = now;
    last = sample;
    if (now - since >= stableMs || now >= until) return last;
  }
}

/**
 * The first sample of `pid` whose fd and thread counts equal `expected`'s, or the last one at
 * `timeoutMs`: compare it with `expected` in the assertion, which then names the figures.
 */
export async function resourcesReturnTo(
  pid: number,
  expected: Pick<ResourceSample, 'fds' | 'threads'>,
  timeoutMs = 10_000,
): Promise<ResourceSample> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const sample = await sampleResources(pid);
    if (sample.fds === expected.fds && sample.threads === expected.threads) return sample;
    if (performance.now() >= until) return sample;
    await new Promise((resolve) => setTimeout(resolve, SAMPLE_INTERVAL_MS));
  }
}

export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** The state letter of /proc/<pid>/stat: R, S, D, Z (zombie), … */
  state: string;
  /** The command line, arguments joined by spaces. */
  command: string;
}

async function readProcess(pid: number): Promise<ProcessEntry | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return {
      pid,
      ppid: Number(fields[1]),
      state: fields[0] ?? '?',
      command: cmdline
        .split('\0')
        .filter((part) => part !== '')
        .join(' '),
    };
  } catch {
    return undefined; // it exited while we looked
  }
}

/** Every process of this machine that /proc shows us. */
export async function listProcesses(): Promise<ProcessEntry[]> {
  const pids = (await readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const entries = await Promise.all(pids.map(readProcess));
  return entries.filter((entry) => entry !== undefined);
}

/** The direct children of `pid`, zombies included (state Z: exited, not yet reaped by `pid`). */
export async function childProcesses(pid: number): Promise<ProcessEntry[]> {
  return (await listProcesses()).filter((p) => p.ppid === pid);
}

/** Processes whose command line contains `text` (e.g. a fixture's path), wherever they were reparented. */
export async function processesRunning(text: string): Promise<ProcessEntry[]> {
  return (await listProcesses()).filter((p) => p.command.includes(text));
}
