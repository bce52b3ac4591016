/**
 * Part P4: cold start, from `scaleComponent` 0 → 1 to the first response, in-process (requests reach
 * the component as the HTTP server provider hands them over, see host-driver.ts), one at a time:
 *   (1) new host, empty cache      a host started for the purpose, its cache directory empty: the
 *                                  component is transpiled, compiled and instantiated
 *   (2) new host, warm cache       the same with the cache (1) filled: read back, compiled, instantiated
 *   (3) running host, 1 → 0 → 1    a host that ran the component and scaled it to zero: its compiled
 *                                  modules, and a worker thread with its bindings, are still there
 */
import { join } from 'node:path';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import { BUILTIN_PROVIDERS } from '@cirrus/providers';
import { driver, hostCall } from './host-driver.ts';
import { fmt, log, makeTempDir, median, progress, removeTempDir, requireHelloWasm, table } from './lib.ts';
import type { Settings } from './lib.ts';

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

export async function runStart(settings: Settings): Promise<void> {
  const hello = requireHelloWasm();
  const dir = await makeTempDir();
  const modes = [
    { label: '(1) new host, empty cache', ms: [] as number[] },
    { label: '(2) new host, warm cache', ms: [] as number[] },
    { label: '(3) running host, 1 → 0 → 1', ms: [] as number[] },
  ];
  try {
    log(`\n## P4. Cold start, scale 0 → 1 to the first response: ${settings.rounds} rounds\n`);
    for (let round = 1; round <= settings.rounds; round++) {
      const cacheDir = join(dir, `cache-${round}`);
      for (const [at, mode] of modes.slice(0, 2).entries()) {
        const host = await startHost(cacheDir);
        try {
          mode.ms.push(await scaleUpAndCall(host, hello));
          if (at === 1) {
            await host.scaleComponent({ componentRef: hello, componentId: 'hello', count: 0 });
            (modes[2] as (typeof modes)[number]).ms.push(await scaleUpAndCall(host, hello));
          }
        } finally {
          await host.stop();
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
    log(
      `\n  P4  hello (StarlingMonkey) with a warm cache: ${fmt(median((modes[1] as (typeof modes)[number]).ms), 0)} ms on a new host, ${fmt(median((modes[2] as (typeof modes)[number]).ms), 0)} ms on a running one (target ≤ 150 ms)`,
    );
  } finally {
    await removeTempDir(dir);
  }
}
