/**
 * Part P5: what an idle warm instance costs in memory.
 *
 * A child process runs a Cirrus runtime and grows the hello component to more and more idle warm
 * instances (each has served requests), printing its RSS at 0, 1, 16 and 64 instances:
 *   (1) shared workers      the default: instances share about one worker thread per core
 *   (2) a thread each       workerInstancesMax 1, the design before shared workers
 *   (3) QuickJS             (1) with the same hello built with the QuickJS engine
 *   (4) QuickJS, one thread (3) with every instance on one thread: the instances' own cost
 *   (5), (6) WAT            (3) and (4) with a hello that has no JavaScript engine (wat-hello.ts)
 * The cost per additional instance is the RSS growth divided by the instances added.
 */
import { join } from 'node:path';
import {
  ChildServer,
  fmt,
  HarnessError,
  log,
  makeTempDir,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  ROOT,
  table,
} from './lib.ts';
import type { Settings } from './lib.ts';
import { buildWatHello } from './wat-hello.ts';
import { median } from './lib.ts';

const COUNTS = [1, 16, 64];
const MiB = 1024 * 1024;

interface Reading {
  instances: number;
  rss: number;
}

async function measure(
  wasm: string,
  cache: string,
  threads: { perWorker?: number; workers?: number },
  counts: readonly number[],
  timeoutMs: number,
): Promise<Reading[]> {
  const args = [
    join(ROOT, 'bench', 'servers', 'instances.ts'),
    '--wasm',
    wasm,
    '--cache',
    cache,
    '--counts',
    counts.join(','),
  ];
  if (threads.perWorker !== undefined) args.push('--per-worker', String(threads.perWorker));
  if (threads.workers !== undefined) args.push('--workers', String(threads.workers));
  const child = ChildServer.startNode('instances', args);
  const readings: Reading[] = [];
  const until = Date.now() + timeoutMs;
  try {
    while (readings.length < counts.length + 1) {
      if (Date.now() > until)
        throw new HarnessError(`instances did not finish in ${timeoutMs} ms\n${child.outputTail()}`);
      if (child.exitCode !== undefined && readings.length < counts.length + 1) {
        readings.splice(0, readings.length, ...parse(child.outputTail()));
        if (readings.length < counts.length + 1)
          throw new HarnessError(`instances exited early\n${child.outputTail()}`);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      readings.splice(0, readings.length, ...parse(child.outputTail()));
    }
  } finally {
    await child.stop();
  }
  return readings;
}

function parse(tail: string): Reading[] {
  const out: Reading[] = [];
  for (const line of tail.split('\n')) {
    const json = line.slice(line.indexOf('|') + 1).trim();
    if (!json.startsWith('{')) continue;
    out.push(JSON.parse(json) as Reading);
  }
  return out;
}

export async function runMemory(settings: Settings): Promise<void> {
  const wasm = requireHelloWasm();
  const quickjs = requireHelloWasm('quickjs');
  const dir = await makeTempDir();
  const wat = await buildWatHello(dir);
  try {
    log(
      `\n## P5. Memory per idle warm instance: ${settings.rounds} rounds, ${COUNTS.join(' / ')} instances\n`,
    );
    const modes = [
      { label: '(1) shared workers (default)', wasm, threads: {}, rounds: [] as Reading[][] },
      { label: '(2) a worker thread each', wasm, threads: { perWorker: 1 }, rounds: [] as Reading[][] },
      { label: '(3) QuickJS hello, shared', wasm: quickjs, threads: {}, rounds: [] as Reading[][] },
      {
        label: '(4) QuickJS hello, one thread',
        wasm: quickjs,
        threads: { workers: 1, perWorker: 64 },
        rounds: [] as Reading[][],
      },
      { label: '(5) WAT hello, shared', wasm: wat, threads: {}, rounds: [] as Reading[][] },
      {
        label: '(6) WAT hello, one thread',
        wasm: wat,
        threads: { workers: 1, perWorker: 64 },
        rounds: [] as Reading[][],
      },
    ];
    // The first run transpiles hello into the cache: its memory would count against whichever ran first.
    for (const component of [wasm, quickjs, wat]) {
      await measure(component, join(dir, 'cache'), {}, [1], settings.startTimeout * 1000);
    }
    for (let round = 1; round <= settings.rounds; round++) {
      for (const mode of modes) {
        const readings = await measure(
          mode.wasm,
          join(dir, 'cache'),
          mode.threads,
          COUNTS,
          settings.startTimeout * 1000 * 4,
        );
        mode.rounds.push(readings);
        progress(
          `round ${round}/${settings.rounds} ${mode.label}: ${readings.map((r) => fmt(r.rss / MiB, 0)).join(' / ')} MiB`,
        );
      }
    }
    const at = (mode: (typeof modes)[number], instances: number): number =>
      median(mode.rounds.map((r) => (r.find((x) => x.instances === instances)?.rss ?? NaN) / MiB));
    const perInstance = (mode: (typeof modes)[number], from: number, to: number): number =>
      median(
        mode.rounds.map((r) => {
          const a = r.find((x) => x.instances === from)?.rss ?? NaN;
          const b = r.find((x) => x.instances === to)?.rss ?? NaN;
          return (b - a) / MiB / (to - from);
        }),
      );
    log('\nRSS of the process in MiB (medians over rounds), and MiB per additional instance:\n');
    log(
      table(
        ['mode', '0', '1', '16', '64', 'per instance 1→16', 'per instance 16→64'],
        modes.map((m) => [
          m.label,
          fmt(at(m, 0), 0),
          fmt(at(m, 1), 0),
          fmt(at(m, 16), 0),
          fmt(at(m, 64), 0),
          fmt(perInstance(m, 1, 16), 1),
          fmt(perInstance(m, 16, 64), 1),
        ]),
      ),
    );
    const [shared, own, small, alone, bare, bareAlone] = modes as [
      (typeof modes)[number],
      (typeof modes)[number],
      (typeof modes)[number],
      (typeof modes)[number],
      (typeof modes)[number],
      (typeof modes)[number],
    ];
    log(
      `\n  P5  per additional instance at 16: ${fmt(perInstance(shared, 1, 16), 1)} MiB shared against ` +
        `${fmt(perInstance(own, 1, 16), 1)} MiB with a thread each (${ratio(perInstance(shared, 1, 16), perInstance(own, 1, 16))}; target ≤ 8 MiB)`,
    );
    log(
      `      QuickJS hello, shared: ${fmt(perInstance(small, 1, 16), 1)} MiB per additional instance at 16, ` +
        `${fmt(perInstance(small, 16, 64), 1)} MiB from 16 to 64 (target ≤ 1 MiB); on one thread ` +
        `${fmt(perInstance(alone, 1, 16), 1)} and ${fmt(perInstance(alone, 16, 64), 1)} MiB`,
    );
    log(
      `      WAT hello: ${fmt(perInstance(bare, 1, 16), 1)} and ${fmt(perInstance(bare, 16, 64), 1)} MiB shared, ` +
        `${fmt(perInstance(bareAlone, 1, 16), 1)} and ${fmt(perInstance(bareAlone, 16, 64), 1)} MiB on one thread (target ≤ 1 MiB)`,
    );
  } finally {
    await removeTempDir(dir);
  }
}
