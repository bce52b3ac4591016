import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import type { CommandContext } from '../src/index.ts';

export interface Harness {
  context: CommandContext;
  out: string[];
  err: string[];
  signals: EventEmitter;
}

/** A command context that keeps what a command prints and logs, and turns exit() into a throw. */
export function harness(env: Record<string, string>): Harness {
  const out: string[] = [];
  const err: string[] = [];
  const signals = new EventEmitter();
  const context: CommandContext = {
    print: (line) => out.push(line),
    log: (line) => err.push(line),
    env,
    signals: signals as unknown as CommandContext['signals'],
    exit: (code) => {
      throw new Error(`exit(${code}) called`);
    },
  };
  return { context, out, err, signals };
}

/** Cache and state directories of their own, so tests never touch the user's. */
export function ownDirs(dir: string): Record<string, string> {
  return { CIRRUS_CACHE_DIR: join(dir, 'cache'), CIRRUS_STATE_DIR: join(dir, 'state') };
}

/** Whether any process of the group `pid` leads is still running. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills every process of the group `pid` leads; nothing when it is gone already. */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
