/**
 * Part P4: cold start, from `scaleComponent` 0 → 1 to the first response, in-process (requests reach
 * the component as the HTTP server provider hands them over, see host-driver.ts), one at a time, for
 * hello built with each engine, and a hello without one (wat-hello.ts):
 *   (1) new host, empty cache      a host started for the purpose, its cache directory empty: the
 *                                  component is transpiled, compiled and instantiated
 *   (2) new host, warm cache       the same with the cache (1) filled: read back, compiled, instantiated
 *   (3) running host, warm cache   a host up for a second, which has never run the component: its
 *                                  spare worker thread has started (runtimeSpareWorkers)
 *   (4) running host, 1 → 0 → 1    (3) after it ran the component and scaled it to zero: its compiled
 *                                  modules, and a worker thread with its bindings, are still there
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import { BUILTIN_PROVIDERS } from '@cirrus/providers';
import { driver, hostCall } from './host-driver.ts';
import { fmt, log, makeTempDir, median, progress, removeTempDir, requireHelloWasm, table } from './lib.ts';
import type { Settings } from './lib.ts';
import { buildWatHello } from './wat-hello.ts';

const benchDriver = driver();

async function startHost(cacheDir: string): Promise<Host> {
  const host = await createHost({
    lattice: createMemoryLattice().connect(),
    friendlyName: 'bench-start',
    cacheDir,
    allowFileLoad: true,
    heartbeatIntervalMs: 0,
    builtinProviders: { ...BUILTIN_PROVIDERS, 'bench-driver': benchDriver.provider },
  });
  await host.startProvider({ providerRef: 'wasmcloud+builtin://bench-driver', providerId: 'driver' });
  return host;
}

/** ms from the scale request to the first response. */
async function scaleUpAndCall(host: Host, ref: string): Promise<number> {
  const started = performance.now();
  await host.scaleComponent({ componentRef: ref, componentId: 'hello', count: 1 });
  await hostCall(benchDriver.calls(), 'hello')();
  return performance.now() - started;
}

const ENGINES = ['starlingmonkey', 'quickjs', 'wat'] as const;
/** How long (3)'s host runs before the scale: enough for its spare thread to start. */
const RUNNING_MS = 1000;

export async function runStart(settings: Settings): Promise<void> {
  const dir = await makeTempDir();
  const wat = await buildWatHello(dir);
  const modes = ENGINES.flatMap((engine) => [
    { engine, label: `(1) ${engine}: new host, empty cache`, ms: [] as number[] },
    { engine, label: `(2) ${engine}: new host, warm cache`, ms: [] as number[] },
    { engine, label: `(3) ${engine}: running host, warm cache`, ms: [] as number[] },
    { engine, label: `(4) ${engine}: running host, 1 → 0 → 1`, ms: [] as number[] },
  ]);
  type Mode = (typeof modes)[number];
  try {
    log(`\n## P4. Cold start, scale 0 → 1 to the first response: ${settings.rounds} rounds\n`);
    for (let round = 1; round <= settings.rounds; round++) {
      for (const [e, engine] of ENGINES.entries()) {
        const wasm = engine === 'wat' ? wat : requireHelloWasm(engine);
        const [empty, warm, running, again] = modes.slice(4 * e, 4 * e + 4) as [Mode, Mode, Mode, Mode];
        const cacheDir = join(dir, `cache-${engine}-${round}`);
        for (const mode of [empty, warm, running]) {
          const host = await startHost(cacheDir);
          try {
            if (mode === running) await sleep(RUNNING_MS);
            mode.ms.push(await scaleUpAndCall(host, wasm));
            if (mode === running) {
              await host.scaleComponent({ componentRef: wasm, componentId: 'hello', count: 0 });
              again.ms.push(await scaleUpAndCall(host, wasm));
            }
          } finally {
            await host.stop();
          }
        }
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
