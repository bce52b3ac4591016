/**
 * `cirrus dev` as a developer runs it, on a copy of examples/hello: it serves the project, swaps in
 * each edit under a continuous load of requests without failing one, keeps the previous version
 * serving through a syntax error (which it reports at its file, line and column), and stops cleanly
 * on a signal, leaving no process and no copy of a build behind. Built with QuickJS, the fast engine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessByStdio } from 'node:child_process';
import { cp, readdir, readFile, rename, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { groupAlive, killGroup, ownDirs } from './support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HELLO = join(ROOT, 'examples/hello');
const CIRRUS = join(ROOT, 'packages/cli/bin/cirrus.js');
/** The first build, and a host starting and loading the component. */
const READY_MS = 90_000;
/** A rebuild and swap, with the slack of a busy machine (the assertion on the time is tighter). */
const SWAP_MS = 60_000;
const REQUEST_MS = 10_000;
/** The host lets requests in flight finish, then the process exits. */
const STOP_MS = 15_000;
/** A helper such as esbuild's service lingers a moment after the process that started it. */
const EXIT_GRACE_MS = 5_000;

const SOURCE = 'src/component.ts';
const GREETING_LINE = '`${greeting()}!\\n` +';

type Dev = ChildProcessByStdio<null, Readable, Readable>;

/** The requests sent one after another until stopped, and every response that was not a 200. */
interface Load {
  sent: number;
  failures: string[];
  /** The first line of the latest answer. */
  latest: string;
  /** Each first line that differed from the one before, and when it came. */
  turns: { text: string; at: number }[];
  stop(): Promise<void>;
}

function load(url: string): Load {
  let running = true;
  const state: Load = {
    sent: 0,
    failures: [],
    latest: '',
    turns: [],
    stop: async () => {
      running = false;
      await loop;
    },
  };
  const loop = (async () => {
    while (running) {
      state.sent += 1;
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_MS) });
        const text = await response.text();
        if (response.status !== 200) {
          state.failures.push(`${response.status}: ${text}`);
          continue;
        }
        const first = text.split('\n')[0] ?? '';
        if (first !== state.latest) state.turns.push({ text: first, at: performance.now() });
        state.latest = first;
      } catch (err) {
        state.failures.push(String(err));
      }
    }
  })();
  return state;
}

describe('cirrus dev', () => {
  let dir: TempDir;
  const links: string[] = [];
  const groups = new Set<number>();

  /** A copy of examples/hello's sources (no build), with this checkout's node_modules linked in. */
  async function project(name: string, withApp: boolean): Promise<string> {
    const target = join(dir.path, name);
    for (const entry of ['package.json', 'tsconfig.json', 'src', 'wit', ...(withApp ? ['app.yaml'] : [])]) {
      await cp(join(HELLO, entry), join(target, entry), { recursive: true });
    }
    const link = join(target, 'node_modules');
    await symlink(join(ROOT, 'node_modules'), link, 'dir');
    links.push(link);
    return target;
  }

  interface Running {
    child: Dev;
    /** All it printed so far, stdout and stderr. */
    output: () => string;
    exited: Promise<number | null>;
    /** `waitFor`, failing at once should the process exit, and with what it printed. */
    until: <T>(check: () => T | undefined | false, ms: number, what: string) => Promise<T>;
  }

  /** `cirrus dev` in a process group of its own. */
  function start(args: string[]): Running {
    const inherited = { ...process.env };
    delete inherited['NODE_TEST_CONTEXT'];
    const child = spawn(
      process.execPath,
      [CIRRUS, 'dev', ...args, '--engine', 'quickjs', '--no-dashboard', '--no-local-endpoint'],
      { env: { ...inherited, ...ownDirs(dir.path) }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    groups.add(child.pid as number);
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const until = <T>(check: () => T | undefined | false, ms: number, what: string): Promise<T> =>
      waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`cirrus dev exited with ${child.exitCode}:\n${text}`);
          return check();
        },
        ms,
        what,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\n${text}`);
      });
    return { child, output: () => text, exited, until };
  }

  /** Stops it with `signal`: exit code 0, and nothing of its group left running. */
  async function stop(child: Dev, exited: Promise<number | null>, signal: NodeJS.Signals): Promise<void> {
    const pid = child.pid as number;
    child.kill(signal);
    assert.equal(await withDeadline(exited, STOP_MS, 'cirrus dev to exit'), 0);
    await waitFor(() => !groupAlive(pid), EXIT_GRACE_MS, 'the processes cirrus dev started to exit');
    groups.delete(pid);
  }

  before(async () => {
    dir = await tempDir('cirrus-dev-');
  });

  after(async () => {
    for (const pid of groups) killGroup(pid);
    // Removed first, so that removing the projects can never reach into the checkout.
    await Promise.all(links.map((link) => unlink(link)));
    await dir.remove();
  });

  it('swaps in every edit under load without failing a request, and survives a syntax error', async (t) => {
    const dirPath = await project('hello', true);
    const port = await freePort();
    const manifest = join(dirPath, 'app.yaml');
    await writeFile(
      manifest,
      (await readFile(manifest, 'utf8')).replace('127.0.0.1:8000', `127.0.0.1:${port}`),
    );
    const source = join(dirPath, SOURCE);
    const original = await readFile(source, 'utf8');
    assert.ok(original.includes(GREETING_LINE), `${SOURCE} no longer has ${GREETING_LINE}: change this test`);

    const { child, output, exited, until } = start([dirPath]);
    await until(() => output().includes('for changes.'), READY_MS, 'cirrus dev to serve');
    assert.match(output(), new RegExp(`Serving http://127\\.0\\.0\\.1:${port}/`));
    const traffic = load(`http://127.0.0.1:${port}/`);
    t.after(() => traffic.stop());
    await until(() => traffic.latest === 'Hello from Cirrus!', REQUEST_MS, 'the first answer');

    /**
     * Writes `text` (in place, or as the editors that save by renaming a new file over the old one),
     * and checks that its answer comes within the build time plus 2 s.
     */
    const edit = async (text: string, greeting: string, atomically: boolean): Promise<void> => {
      const from = output().length;
      const edited = performance.now();
      if (atomically) {
        await writeFile(`${source}.tmp`, text);
        await rename(`${source}.tmp`, source);
      } else {
        await writeFile(source, text);
      }
      const turn = await until(
        () => traffic.turns.find((seen) => seen.text === greeting),
        SWAP_MS,
        `"${greeting}"`,
      );
      const swapped = turn.at - edited;
      const built = /built in ([0-9.]+) s/.exec(output().slice(from));
      assert.ok(built !== null, output());
      const updated = /updated hello-greeter in ([0-9]+) ms/.exec(output().slice(from));
      assert.ok(updated !== null, output());
      t.diagnostic(
        `${greeting}: built in ${built[1]} s, swapped in ${updated[1]} ms, served after ${Math.round(swapped)} ms`,
      );
      assert.ok(swapped <= Number(built[1]) * 1000 + 2000, `served ${Math.round(swapped)} ms after the edit`);
    };

    await edit(
      original.replace(GREETING_LINE, '`${greeting()}, edited!\\n` +'),
      'Hello from Cirrus, edited!',
      false,
    );

    // A syntax error: reported where it is, and the edited version serves on.
    const broken = original.replace('let served = 0;', 'let served = = 0;');
    const lines = broken.split('\n');
    const line = lines.findIndex((l) => l.includes('let served = = 0;'));
    assert.ok(line >= 0);
    // The second "=", counted from 1.
    const column = (lines[line] as string).indexOf('= = 0;') + 3;
    const from = output().length;
    await writeFile(source, broken);
    await until(
      () => output().slice(from).includes('still serving the previous version'),
      SWAP_MS,
      'the build error',
    );
    assert.match(
      output().slice(from),
      new RegExp(`error\\[BUILD_FAILED\\]: src/component\\.ts:${line + 1}:${column}: Unexpected "="`),
    );
    const sentBefore = traffic.sent;
    await until(() => traffic.sent >= sentBefore + 20, REQUEST_MS, 'requests after the build error');
    assert.equal(traffic.latest, 'Hello from Cirrus, edited!');

    await edit(
      original.replace(GREETING_LINE, '`${greeting()}, fixed!\\n` +'),
      'Hello from Cirrus, fixed!',
      true,
    );

    await traffic.stop();
    t.diagnostic(`${traffic.sent} requests, ${traffic.failures.length} failed`);
    assert.deepEqual(traffic.failures, [], 'no request failed');
    assert.deepEqual(
      traffic.turns.map((seen) => seen.text),
      ['Hello from Cirrus!', 'Hello from Cirrus, edited!', 'Hello from Cirrus, fixed!'],
      'each version served from its swap on, never an older one again',
    );
    assert.ok(traffic.sent > 100, `only ${traffic.sent} requests`);

    await stop(child, exited, 'SIGTERM');
    assert.deepEqual(
      (await readdir(join(dirPath, 'build'))).filter((name) => name.startsWith('dev-')),
      [],
      'the copies of the builds are removed',
    );
  });

  it('without app.yaml, serves the component over HTTP on --port', async () => {
    const dirPath = await project('plain', false);
    const port = await freePort();
    const { child, output, exited, until } = start([dirPath, '--port', String(port)]);
    await until(() => output().includes('for changes.'), READY_MS, 'cirrus dev to serve');
    assert.match(output(), new RegExp(`Serving http://127\\.0\\.0\\.1:${port}/`));
    const response = await fetch(`http://127.0.0.1:${port}/generated`, {
      signal: AbortSignal.timeout(REQUEST_MS),
    });
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^Hello from Cirrus!\nmethod: GET\npath: \/generated\n/);
    await stop(child, exited, 'SIGINT');
  });
});
