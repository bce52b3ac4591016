/**
 * Installs the system programs the tests start for real (a NATS server, a Redis server, openssl
 * for test certificates, Chromium for the dashboard's browser tests) when they are missing. Every
 * machine of the project is a fresh Debian, so the project's own files must install what its tests
 * need: `npm test` runs this first, and it can be run alone:
 *
 *   node scripts/ensure-deps.ts           install what is missing
 *   node scripts/ensure-deps.ts --check   only report; exit 1 when something is missing
 *
 * A program counts as present when its binary is on PATH, whoever installed it, so a developer who
 * put a newer nats-server on PATH keeps it.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

interface SystemDependency {
  /** The Debian package that provides it. */
  readonly debianPackage: string;
  /** The program the tests run; its presence on PATH is what counts. */
  readonly binary: string;
  /** Who needs it, printed when it is installed or missing. */
  readonly neededBy: string;
}

const DEPENDENCIES: readonly SystemDependency[] = [
  {
    debianPackage: 'nats-server',
    binary: 'nats-server',
    neededBy: 'NATS lattice tests (@cirrus/testing startNatsServer)',
  },
  {
    debianPackage: 'redis-server',
    binary: 'redis-server',
    neededBy: 'Redis key-value backend tests (@cirrus/testing startRedisServer)',
  },
  {
    debianPackage: 'openssl',
    binary: 'openssl',
    neededBy: 'TLS tests of authenticated NATS (@cirrus/testing generateTlsFiles)',
  },
  {
    debianPackage: 'chromium',
    binary: 'chromium',
    neededBy: 'dashboard browser tests (test/integration/dashboard-browser.test.ts, via playwright-core)',
  },
];

function say(line: string): void {
  process.stdout.write(`ensure-deps: ${line}\n`);
}

function fail(line: string): never {
  process.stderr.write(`ensure-deps: ${line}\n`);
  process.exit(1);
}

function onPath(binary: string): string | undefined {
  // /usr/sbin is where some Debian packages put servers, and it is not on every user's PATH.
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** Runs a command with inherited output; returns its exit code (127 when it could not start). */
function run(command: string, args: readonly string[]): number {
  say(`$ ${[command, ...args].join(' ')}`);
  const result = spawnSync(command, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error !== undefined) return 127;
  return result.status ?? 1;
}

const checkOnly = process.argv.includes('--check');
const unknown = process.argv.slice(2).filter((a) => a !== '--check');
if (unknown.length > 0) fail(`unknown argument ${unknown.join(' ')} (usage: ensure-deps.ts [--check])`);

const missing = DEPENDENCIES.filter((dep) => {
  const found = onPath(dep.binary);
  if (found !== undefined) say(`${dep.binary}: found at ${found}`);
  return found === undefined;
});

if (missing.length === 0) process.exit(0);

const packages = missing.map((dep) => dep.debianPackage);
for (const dep of missing) say(`${dep.binary}: missing (needed by ${dep.neededBy})`);
const manual = `install the Debian package(s) ${packages.join(', ')} (or put the programs on PATH) and run again`;

if (checkOnly) fail(`missing: ${packages.join(', ')}; ${manual}`);
if (process.platform !== 'linux' || onPath('apt-get') === undefined) {
  fail(`cannot install automatically: apt-get is not available here; ${manual}`);
}

// Root runs apt-get directly; anyone else needs sudo. Without a terminal sudo cannot ask for a
// password, so it must not hang waiting for one: -n makes it fail at once instead.
let command = 'apt-get';
let baseArgs: string[] = [];
if (process.getuid?.() !== 0) {
  if (onPath('sudo') === undefined) fail(`not running as root and sudo is not available; ${manual}`);
  command = 'sudo';
  baseArgs = process.stdin.isTTY ? ['apt-get'] : ['-n', 'apt-get'];
}

say(`installing ${packages.join(', ')} with apt-get`);
// A fresh machine has empty package lists: update once before installing.
if (run(command, [...baseArgs, 'update']) !== 0) fail(`apt-get update failed; ${manual}`);
if (run(command, [...baseArgs, 'install', '-y', '--no-install-recommends', ...packages]) !== 0) {
  fail(`apt-get install failed; ${manual}`);
}

const stillMissing = missing.filter((dep) => onPath(dep.binary) === undefined);
if (stillMissing.length > 0) {
  fail(
    `installed ${packages.join(', ')} but ${stillMissing.map((d) => d.binary).join(', ')} is still not on PATH`,
  );
}
say(`installed ${packages.join(', ')}`);
