/**
 * Part P4: cold start, from `scaleComponent` 0 → 1 to the first response, in-process (requests reach
 * the component as the HTTP server provider hands them over, see host-driver.ts), one at a time, for
 * hello built with each engine, and a hello without one (wat-hello.ts). Each measurement runs in a
 * process of its own (servers/scale-up.ts says why):
 *   (1) new host, empty cache      a host started for the purpose, its cache directory empty: the
 *                                  component is transpiled, compiled and instantiated
 *   (2) new host, warm cache       the same with the cache (1) filled: read back, compiled, instantiated
 *   (3) running host, warm cache   a host that has served another component and run idle for a
 *                                  second, and never ran this one: its spare worker thread has started
 *   (4) running host, 1 → 0 → 1    (3) after it ran the component and scaled it to zero: its compiled
 *                                  modules, and a worker thread with its bindings, are still there
 */
import { join } from 'node:path';
import {
  ChildServer,
  fmt,
  HarnessError,
  log,
  makeTempDir,
  median,
  progress,
  removeTempDir,
  requireHelloWasm,
  ROOT,
  table,
} from './lib.ts';
import type { Settings } from './lib.ts';
import { buildWatHello } from './wat-hello.ts';

const ENGINES = ['starlingmonkey', 'quickjs', 'wat'] as const;
type Engine = (typeof ENGINES)[number];
/** The component (3) runs first: another engine's hello, so that the measured one is new to the host. */
const WARM_UP: Record<Engine, Engine> = { starlingmonkey: 'wat', quickjs: 'wat', wat: 'quickjs' };
/** How long (3)'s host runs idle before the scale: enough for its spare thread to start. */
const RUNNING_MS = 1000;

interface Scaled {
  first: number;
  again?: number;
}

async function scaleUp(
  wasm: string,
  cacheDir: string,
  running: { warmUp: string } | undefined,
  timeoutMs: number,
): Promise<Scaled> {
  const args = [join(ROOT, 'bench', 'servers', 'scale-up.ts'), '--wasm', wasm, '--cache', cacheDir];
  if (running !== undefined) {
    args.push('--warm-up', running.warmUp, '--running-ms', String(RUNNING_MS), '--again');
  }
  const child = ChildServer.startNode('scale-up', args);
  await child.waitExit(timeoutMs);
  const result: Partial<Scaled> = {};
  for (const line of child.outputTail().split('\n')) {
    const json = line.slice(line.indexOf('|') + 1).trim();
    if (json.startsWith('{')) Object.assign(result, JSON.parse(json) as Partial<Scaled>);
  }
  if (child.exitCode !== 0 || result.first === undefined) {
    throw new HarnessError(`scale-up failed (exit ${String(child.exitCode)})\n${child.outputTail()}`);
  }
  return { first: result.first, ...(result.again === undefined ? {} : { again: result.again }) };
}

export async function runStart(settings: Settings): Promise<void> {
  const dir = await makeTempDir();
  const wasms: Record<Engine, string> = {
    starlingmonkey: requireHelloWasm('starlingmonkey'),
    quickjs: requireHelloWasm('quickjs'),
    wat: await buildWatHello(dir),
  };
  const modes = ENGINES.flatMap((engine) => [
    { engine, label: `(1) ${engine}: new host, empty cache`, ms: [] as number[] },
    { engine, label: `(2) ${engine}: new host, warm cache`, ms: [] as number[] },
    { engine, label: `(3) ${engine}: running host, warm cache`, ms: [] as number[] },
    { engine, label: `(4) ${engine}: running host, 1 → 0 → 1`, ms: [] as number[] },
  ]);
  type Mode = (typeof modes)[number];
  const timeoutMs = settings.startTimeout * 1000;
  try {
    log(`\n## P4. Cold start, scale 0 → 1 to the first response: ${settings.rounds} rounds\n`);
    for (let round = 1; round <= settings.rounds; round++) {
      for (const [e, engine] of ENGINES.entries()) {
        const [empty, warm, running, again] = modes.slice(4 * e, 4 * e + 4) as [Mode, Mode, Mode, Mode];
        const cacheDir = join(dir, `cache-${engine}-${round}`);
        empty.ms.push((await scaleUp(wasms[engine], cacheDir, undefined, timeoutMs)).first);
        warm.ms.push((await scaleUp(wasms[engine], cacheDir, undefined, timeoutMs)).first);
        const ran = await scaleUp(wasms[engine], cacheDir, { warmUp: wasms[WARM_UP[engine]] }, timeoutMs);
        running.ms.push(ran.first);
        if (ran.again !== undefined) again.ms.push(ran.again);
      }
      progress(
        `round ${round}/${settings.rounds}: ${modes.map((m) => `${fmt(m.ms.at(-1), 0)} ms`).join(' / ')}`,
      );
    }
    log('\nms from the scale request to the first response, median (min–max) over rounds:\n');
    log(
      table(
        ['mode', 'ms', 'min–max'],
        modes.map((m) => [
          m.label,
          fmt(median(m.ms), 0),
          `${fmt(Math.min(...m.ms), 0)}–${fmt(Math.max(...m.ms), 0)}`,
        ]),
      ),
    );
    const at = (i: number): string => fmt(median((modes[i] as Mode).ms), 0);
    log(
      `\n  P4  warm cache, scale-up on a running host: StarlingMonkey ${at(2)} ms (target ≤ 150), ` +
        `QuickJS ${at(6)} ms, WAT ${at(10)} ms (target ≤ 50); on a new host ${at(1)} / ${at(5)} / ${at(9)} ms`,
    );
  } finally {
    await removeTempDir(dir);
  }
}
