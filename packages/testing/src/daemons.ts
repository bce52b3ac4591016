/**
 * What every test-kit server (nats-server, redis-server) needs around its process: finding the
 * binary, a private temp directory that records who owns it, killing servers when the test process
 * exits, and removing what a test process killed with SIGKILL left behind.
 */
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

const OWNER_FILE = 'owner.pid';
const SERVER_PID_FILE = 'server.pid';

/** The binary: `explicit`, or `name` on PATH or in `extraDirs`; the error carries `installHint`. */
export function findExecutable(
  name: string,
  explicit: string | undefined,
  extraDirs: readonly string[],
  installHint: string,
): string {
  const candidates =
    explicit !== undefined
      ? [explicit]
      : [...(process.env['PATH'] ?? '').split(delimiter), ...extraDirs]
          .filter((dir) => dir !== '')
          .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(explicit === undefined ? installHint : `${explicit} is not an executable (${installHint})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readPid(path: string): Promise<number | undefined> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

const swept = new Set<string>();

/**
 * Once per process and prefix: removes directories whose owning test process is gone, first killing
 * their server when `isOurServer` confirms the recorded pid still is that server (pids get reused).
 */
async function sweepAbandoned(
  prefix: string,
  isOurServer: (dir: string, pid: number) => Promise<boolean>,
): Promise<void> {
  if (swept.has(prefix)) return;
  swept.add(prefix);
  const names = await readdir(tmpdir()).catch(() => [] as string[]);
  for (const name of names.filter((n) => n.startsWith(prefix))) {
    const dir = join(tmpdir(), name);
    const owner = await readPid(join(dir, OWNER_FILE));
    if (owner === undefined || isAlive(owner)) continue;
    const server = await readPid(join(dir, SERVER_PID_FILE));
    if (server !== undefined && (await isOurServer(dir, server))) {
      try {
        process.kill(server, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** A fresh private directory under the temp dir, after sweeping what dead test processes left. */
export async function daemonDirectory(
  prefix: string,
  isOurServer: (dir: string, pid: number) => Promise<boolean>,
): Promise<string> {
  await sweepAbandoned(prefix, isOurServer);
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await writeFile(join(dir, OWNER_FILE), String(process.pid));
  return dir;
}

/** Records the server's pid in its directory, for the sweep of a later test process. */
export function recordServerPid(dir: string, pid: number): Promise<void> {
  return writeFile(join(dir, SERVER_PID_FILE), String(pid));
}

const killers = new Set<() => void>();
let hooked = false;

/** Runs `kill` (synchronously) if the process exits while it is registered; returns the unregister. */
export function killOnExit(kill: () => void): () => void {
  if (!hooked) {
    hooked = true;
    const killAll = (): void => {
      for (const k of killers) k();
      killers.clear();
    };
    process.once('exit', killAll);
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      // A process with its own handler decides when to exit, and 'exit' still cleans up. Without one,
      // Node would die of the signal without 'exit' hooks: clean up, then die of the same signal so
      // the parent sees the usual status.
      if (process.listenerCount(signal) > 0) continue;
      process.once(signal, () => {
        killAll();
        process.kill(process.pid, signal);
      });
    }
  }
  killers.add(kill);
  return () => killers.delete(kill);
}
