/**
 * `cirrus new`: each kind of project, created outside the repository, builds and passes its own test
 * with nothing installed, its node_modules a link to this checkout's as the generated README says. A
 * bad name and a directory in use are refused with their codes, and nothing is written.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { groupAlive, harness, killGroup, ownDirs } from './support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MODULES = join(ROOT, 'node_modules');
const CIRRUS = join(ROOT, 'packages/cli/bin/cirrus.js');
/** componentize-js takes 5-40 s, depending on the machine and what else runs. */
const BUILD_MS = 90_000;
const TYPECHECK_MS = 30_000;
/** The component's own test allows 60 s for its host to come up, and 15 s for it to stop. */
const PROJECT_TEST_MS = 90_000;
const EXIT_GRACE_MS = 5_000;
/** A Node start and the CLI's modules loading. */
const CLI_MS = 30_000;

interface Run {
  code: number | null;
  output: string;
}

/** Process groups of the commands still running, for `after` to end should a test be cut short. */
const running = new Set<number>();

/**
 * Runs `command` in `project` through a shell, as npm runs a script, with the project's
 * node_modules/.bin first on PATH. It gets a process group of its own, so that everything it starts
 * can be checked to be gone when it exits, and killed at the deadline.
 */
function sh(project: string, command: string, env: Record<string, string>, ms: number): Promise<Run> {
  const inherited = { ...process.env };
  // The runner's marker for its own workers: a `node --test` that inherits it reports in their format.
  delete inherited['NODE_TEST_CONTEXT'];
  const child = spawn('/bin/sh', ['-c', command], {
    cwd: project,
    env: {
      ...inherited,
      ...env,
      PATH: `${join(project, 'node_modules', '.bin')}${delimiter}${process.env['PATH'] ?? ''}`,
    },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid as number;
  running.add(pid);
  let output = '';
  const collect = (chunk: Buffer): void => void (output += chunk.toString());
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return new Promise<Run>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(pid);
      reject(new Error(`${command} did not finish in ${ms} ms:\n${output}`));
    }, ms);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      void settled(pid).then((left) => {
        if (left) reject(new Error(`${command} exited and left processes running (killed):\n${output}`));
        else resolve({ code, output });
      });
    });
  });
}

/**
 * Whether processes of the group outlived its leader by more than a moment (then they are killed).
 * A helper such as esbuild's service lingers a moment after the process that started it, until reaped.
 */
async function settled(pid: number): Promise<boolean> {
  const until = Date.now() + EXIT_GRACE_MS;
  while (groupAlive(pid) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
  const left = groupAlive(pid);
  killGroup(pid);
  running.delete(pid);
  return left;
}

async function filesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

async function cirrus(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const h = harness({});
  const code = await main(argv, h.context);
  return { code, out: h.out.join('\n'), err: h.err.join('\n') };
}

/** Every @cirrus dependency is written with the version of that package in this checkout. */
async function assertCirrusVersions(project: string): Promise<void> {
  const manifest = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as Record<
    string,
    Record<string, string> | undefined
  >;
  const deps = { ...manifest['dependencies'], ...manifest['devDependencies'] };
  const cirrusDeps = Object.keys(deps).filter((name) => name.startsWith('@cirrus/'));
  assert.ok(cirrusDeps.length > 0);
  for (const name of cirrusDeps) {
    const own = JSON.parse(await readFile(join(MODULES, name, 'package.json'), 'utf8')) as {
      version: string;
    };
    assert.equal(deps[name], own.version, name);
  }
}

async function assertNoPlaceholders(project: string, files: readonly string[]): Promise<void> {
  for (const file of files) {
    assert.doesNotMatch(await readFile(join(project, file), 'utf8'), /__[A-Z_]+__/, file);
  }
}

async function timed(t: TestContext, what: string, run: () => Promise<Run>): Promise<Run> {
  const started = performance.now();
  const result = await run();
  t.diagnostic(`${what}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.equal(result.code, 0, `${what} failed:\n${result.output}`);
  return result;
}

describe('cirrus new', () => {
  let dir: TempDir;
  let env: Record<string, string>;
  const links: string[] = [];

  /** Links the checkout's node_modules into `project`, as the generated README says to. */
  async function linkModules(project: string): Promise<void> {
    const link = join(project, 'node_modules');
    await symlink(MODULES, link, 'dir');
    links.push(link);
  }

  before(async () => {
    dir = await tempDir('cirrus-new-');
    env = ownDirs(dir.path);
  });

  after(async () => {
    for (const pid of running) killGroup(pid);
    // Removed first, so that removing the projects can never reach into the checkout.
    await Promise.all(links.map((link) => unlink(link)));
    await dir.remove();
  });

  it('creates a component project that builds, type-checks and passes its own test', async (t) => {
    const project = join(dir.path, 'hello-there');
    const created = await cirrus('new', 'component', 'hello-there', '--dir', project);
    assert.equal(created.code, 0, created.err);
    assert.match(created.out, /^created component hello-there in .*hello-there\/ \(8 files\)/);
    assert.ok(created.out.includes(`ln -s ${MODULES} node_modules`), created.out);
    const files = await filesIn(project);
    assert.deepEqual(files, [
      '.gitignore',
      'README.md',
      'app.yaml',
      'package.json',
      'src/component.ts',
      'test/component.test.ts',
      'tsconfig.json',
      'wit/world.wit',
    ]);
    await assertNoPlaceholders(project, files);
    await assertCirrusVersions(project);
    const { scripts } = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    assert.equal(scripts['build'], 'cirrus build .');

    await linkModules(project);
    const build = await timed(t, 'the build script', () =>
      sh(project, scripts['build'] ?? '', env, BUILD_MS),
    );
    assert.match(build.output, /wrote build\/hello-there\.wasm/);
    await timed(t, 'tsc -p .', () => sh(project, 'tsc -p .', env, TYPECHECK_MS));
    const test = await timed(t, 'the test script', () =>
      sh(project, scripts['test'] ?? '', env, PROJECT_TEST_MS),
    );
    assert.match(test.output, /pass 1\b/);
    assert.match(test.output, /fail 0\b/);
  });

  it('creates a provider project, in an empty directory, that passes its own test', async (t) => {
    const project = join(dir.path, 'provider');
    await mkdir(project);
    const created = await cirrus('new', 'provider', 'greet-er', '--dir', project);
    assert.equal(created.code, 0, created.err);
    const files = await filesIn(project);
    assert.deepEqual(files, [
      '.gitignore',
      'README.md',
      'package.json',
      'src/provider.ts',
      'test/provider.test.ts',
      'wit/greet.wit',
    ]);
    await assertNoPlaceholders(project, files);
    await assertCirrusVersions(project);
    const { scripts } = JSON.parse(await readFile(join(project, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };

    await linkModules(project);
    const test = await timed(t, 'the test script', () =>
      sh(project, scripts['test'] ?? '', env, PROJECT_TEST_MS),
    );
    assert.match(test.output, /pass 1\b/);
    assert.match(test.output, /fail 0\b/);
  });

  it('creates NAME/ in the current directory when given no --dir', async () => {
    const run = await sh(dir.path, `"${process.execPath}" "${CIRRUS}" new provider plain`, env, CLI_MS);
    assert.equal(run.code, 0, run.output);
    assert.match(run.output, /^created provider plain in plain\/ \(6 files\)/);
    assert.ok((await stat(join(dir.path, 'plain', 'src', 'provider.ts'))).isFile());
  });

  it('refuses a name that is not a lowercase id or is a WIT keyword, with USAGE_ERROR, writing nothing', async () => {
    const target = join(dir.path, 'refused');
    for (const name of [
      'Hello',
      '9lives',
      'my_app',
      'my.app',
      'a--b',
      'app-2',
      'app-',
      'world',
      'a'.repeat(65),
    ]) {
      const run = await cirrus('new', 'component', name, '--dir', target);
      assert.equal(run.code, 2, name);
      assert.match(run.err, /^error\[USAGE_ERROR\]: .* (is not a valid project name|is a WIT keyword)/, name);
      assert.match(run.err, /\n {2}hint: /, name);
    }
    await assert.rejects(stat(target), { code: 'ENOENT' });
    assert.equal((await cirrus('new', 'widget', 'x')).code, 2);
  });

  it('refuses a directory that holds files, or a file, with DIRECTORY_NOT_EMPTY, leaving it as it was', async () => {
    const busy = join(dir.path, 'busy');
    await mkdir(busy);
    await writeFile(join(busy, 'notes.txt'), 'mine');
    const run = await cirrus('new', 'provider', 'busy', '--dir', busy);
    assert.equal(run.code, 1);
    assert.match(run.err, /^error\[DIRECTORY_NOT_EMPTY\]: .*busy is not empty\n {2}hint: /);
    assert.deepEqual(await readdir(busy), ['notes.txt']);

    const file = join(dir.path, 'a-file');
    await writeFile(file, 'mine');
    const onFile = await cirrus('new', 'component', 'a-file', '--dir', file);
    assert.equal(onFile.code, 1);
    assert.match(onFile.err, /^error\[DIRECTORY_NOT_EMPTY\]: .*a-file exists and is not a directory/);
    assert.equal(await readFile(file, 'utf8'), 'mine');
  });
});
