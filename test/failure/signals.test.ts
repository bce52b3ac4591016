/**
 * A signal at any moment ends `cirrus up` cleanly. The host runs three apps (hello and counter over
 * HTTP, and the greeter provider as a process of its own); for every phase of its start and stop, a
 * fresh host gets SIGTERM (or SIGINT) the moment its log shows that phase, and must exit, leaving no
 * process behind: no provider process, nothing in its process group. A second signal during the
 * stop exits at once. Before, SIGTERM while the second app's component was still starting left a
 * host that logged `host stopped`, then `component started`, and ran forever.
 *
 * Measured (test diagnostics): how long each host took to exit after its signal.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { freePort, tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { HELLO_WASM, killAll, launchCirrusUp, processesRunning, ROOT } from './support.ts';
import type { CirrusProcess, Exit, LogRecord } from './support.ts';

const COUNTER_WASM = join(ROOT, 'examples/counter/build/counter.wasm');
const GREETER = join(ROOT, 'examples/greeter-provider/src/main.ts');
/** From the signal to the exit: stopping drains HTTP for up to httpDrainTimeoutMs (10 s by default). */
const EXIT_DEADLINE_MS = 15_000;

type Phase = (record: LogRecord, seen: readonly LogRecord[]) => boolean;

/** The record that is the n-th with this message: records may arrive, and be checked, in batches. */
const nth =
  (msg: string, n = 1): Phase =>
  (record, seen) =>
    record.msg === msg && seen.slice(0, seen.indexOf(record) + 1).filter((r) => r.msg === msg).length === n;

/** Each phase of a start, as the log shows it; the signal goes out the moment the line appears. */
const START_PHASES: readonly [string, Phase][] = [
  ['the host started', nth('host started')],
  ['the local endpoint opened', nth('local lattice endpoint')],
  ['the application manager took the lease (the dashboard starting)', nth('application manager active')],
  ['the dashboard started', nth('dashboard')],
  ['the first provider started', nth('provider started')],
  ['the first component started', nth('component started')],
  ['the first route was added (the second app starting)', nth('http route added')],
  ["the second app's providers started (its component starting)", nth('provider started', 3)],
  ['the second component started', nth('component started', 2)],
  ['the provider process was spawned', nth('provider process started')],
  ['the provider process serves', nth('serving')],
];

async function writeApps(dir: string): Promise<string[]> {
  const [hello, counter] = await Promise.all([
    readFile(join(ROOT, 'examples/hello/app.yaml'), 'utf8'),
    readFile(join(ROOT, 'examples/counter/app.yaml'), 'utf8'),
  ]);
  const [helloPort, counterPort] = [await freePort(), await freePort()];
  const files: [string, string][] = [
    [
      'hello.yaml',
      hello.replace('./build/hello.wasm', HELLO_WASM).replace('127.0.0.1:8000', `127.0.0.1:${helloPort}`),
    ],
    [
      'counter.yaml',
      counter
        .replace('./build/counter.wasm', COUNTER_WASM)
        .replace('127.0.0.1:8001', `127.0.0.1:${counterPort}`),
    ],
    [
      'greeting.yaml',
      [
        'apiVersion: core.oam.dev/v1beta1',
        'kind: Application',
        'metadata:',
        '  name: greeting',
        'spec:',
        '  components:',
        '    - name: greeter',
        '      type: capability',
        '      properties:',
        `        image: ${pathToFileURL(GREETER).href}`,
        '',
      ].join('\n'),
    ],
  ];
  return Promise.all(
    files.map(async ([name, text]) => {
      const file = join(dir, name);
      await writeFile(file, text);
      return file;
    }),
  );
}

describe('signals at every phase of start and stop', () => {
  let dir: TempDir;
  let apps: string[];
  let cacheDir: string;
  let run = 0;

  before(async () => {
    dir = await tempDir();
    apps = await writeApps(dir.path);
    cacheDir = join(dir.path, 'cache');
  });

  after(async () => {
    killAll();
    await dir.remove();
  });

  function launch(): CirrusProcess {
    run++;
    return launchCirrusUp({
      dir: join(dir.path, `run-${run}`),
      // Shared, so that each run starts from a warm transpile cache and reaches every phase quickly.
      cacheDir,
      // A dashboard of its own on any free port: the default one may be another run's.
      args: ['--log-format', 'json', '--dashboard', '127.0.0.1:0', ...apps.flatMap((app) => ['--app', app])],
      label: `host ${run}`,
    });
  }

  async function signalAt(host: CirrusProcess, phase: Phase, what: string, signal: NodeJS.Signals) {
    await host
      .waitForRecord((record) => phase(record, host.records()), 60_000, what)
      .catch((err: unknown) => {
        throw new Error(`${String(err)}\n${host.tail()}`, { cause: err });
      });
    host.signal(signal);
    return performance.now();
  }

  async function exitsCleanly(host: CirrusProcess, signalledAt: number, t: { diagnostic(m: string): void }) {
    let exit: Exit;
    try {
      exit = await withDeadline(host.exited, EXIT_DEADLINE_MS, `${host.label} to exit`);
    } catch (err) {
      throw new Error(`${String(err)}\n${host.tail()}`, { cause: err });
    }
    t.diagnostic(`${host.label} exited ${Math.round(performance.now() - signalledAt)} ms after its signal`);
    assert.deepEqual(exit, { code: 0, signal: null }, host.tail());
    const said = host.records().map((r) => r.msg);
    const stoppedAt = said.lastIndexOf('host stopped');
    assert.ok(stoppedAt !== -1, `the host logged its stop\n${host.tail()}`);
    assert.deepEqual(
      said.slice(stoppedAt + 1).filter((msg) => /started|serving|route added/.test(msg)),
      [],
      'nothing starts after the host stopped',
    );
    assert.deepEqual(await processesRunning(GREETER), [], 'no provider process is left');
  }

  it('ends at once on a signal before its log says anything', async (t) => {
    const host = launch();
    const signalledAt = performance.now();
    host.signal('SIGTERM');
    const exit = await withDeadline(host.exited, EXIT_DEADLINE_MS, 'the host to exit');
    t.diagnostic(`exited ${Math.round(performance.now() - signalledAt)} ms after its signal`);
    // Before its handlers are installed, Node's default for SIGTERM ends the process.
    assert.ok(exit.signal === 'SIGTERM' || exit.code === 0, JSON.stringify(exit));
  });

  for (const [what, phase] of START_PHASES) {
    it(`stops cleanly on SIGTERM when ${what}`, async (t) => {
      const host = launch();
      try {
        const at = await signalAt(host, phase, what, 'SIGTERM');
        await exitsCleanly(host, at, t);
      } finally {
        await host.stop(0);
      }
    });
  }

  it('stops cleanly on SIGINT once ready, with every workload stopped', async (t) => {
    const host = launch();
    try {
      const at = await signalAt(host, () => host.stdout.includes('Press Ctrl+C to stop.'), 'ready', 'SIGINT');
      await exitsCleanly(host, at, t);
      const said = host.records().map((r) => r.msg);
      assert.equal(said.filter((m) => m === 'component stopped').length, 2);
      assert.equal(said.filter((m) => m === 'provider stopped').length, 4);
    } finally {
      await host.stop(0);
    }
  });

  it('exits at once with code 1 on a second signal while stopping, and its provider process follows', async (t) => {
    const host = launch();
    try {
      // Two different signals back to back: the second reaches the host while the first's stop has
      // only begun, however fast the stop is (two pending SIGTERMs would merge into one).
      const at = await signalAt(
        host,
        () => host.stdout.includes('Press Ctrl+C to stop.'),
        'ready',
        'SIGTERM',
      );
      host.signal('SIGINT');
      const exit = await withDeadline(host.exited, 5000, 'the host to exit on the second signal');
      t.diagnostic(`exited ${Math.round(performance.now() - at)} ms after the second signal`);
      assert.deepEqual(exit, { code: 1, signal: null }, host.tail());
      // The provider process loses its host's stdin pipe with the host, and stops itself.
      const left = await withDeadline(
        (async () => {
          for (;;) {
            const running = await processesRunning(GREETER);
            if (running.length === 0) return running;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        })(),
        5000,
        'the provider process to exit',
      );
      assert.deepEqual(left, []);
    } finally {
      await host.stop(0);
    }
  });
});
