/**
 * Part P4's subject: one process, one host, one scale-up of hello from zero to its first response,
 * printed as a JSON line `{"first": ms}` (and `{"again": ms}` for a second scale-up after a scale to
 * zero, with `--again`). A process of its own per measurement: V8 keeps compiled WebAssembly per
 * process, keyed by the module's bytes, so a second host in the same process would find the
 * component compiled, and its functions too, which a host that never ran it does not.
 *
 *   node bench/servers/scale-up.ts --wasm FILE --cache DIR [--warm-up FILE] [--running-ms N] [--again]
 *
 * `--warm-up FILE` first runs another component through the same steps, so that the host's own code
 * is as warm as in a host that has served before; `--running-ms` then lets the host run idle (its
 * spare worker thread starts) before the scale.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { createHost } from '@cirrus/host';
import type { Host } from '@cirrus/host';
import { createMemoryLattice } from '@cirrus/lattice';
import { BUILTIN_PROVIDERS } from '@cirrus/providers';
import { driver, hostCall } from '../host-driver.ts';

const { values } = parseArgs({
  options: {
    wasm: { type: 'string' },
    cache: { type: 'string' },
    'warm-up': { type: 'string' },
    'running-ms': { type: 'string' },
    again: { type: 'boolean' },
  },
});
if (values.wasm === undefined || values.cache === undefined) {
  process.stderr.write(
    'usage: node bench/servers/scale-up.ts --wasm FILE --cache DIR [--warm-up FILE] [--running-ms N] [--again]\n',
  );
  process.exit(2);
}

const benchDriver = driver();
const host = await createHost({
  lattice: createMemoryLattice().connect(),
  friendlyName: 'bench-start',
  cacheDir: values.cache,
  allowFileLoad: true,
  heartbeatIntervalMs: 0,
  builtinProviders: { ...BUILTIN_PROVIDERS, 'bench-driver': benchDriver.provider },
});

/** ms from the scale request to the first response. */
async function scaleUpAndCall(target: Host, ref: string, componentId: string): Promise<number> {
  const started = performance.now();
  await target.scaleComponent({ componentRef: ref, componentId, count: 1 });
  await hostCall(benchDriver.calls(), componentId)();
  return performance.now() - started;
}

try {
  await host.startProvider({ providerRef: 'wasmcloud+builtin://bench-driver', providerId: 'driver' });
  if (values['warm-up'] !== undefined) {
    await scaleUpAndCall(host, values['warm-up'], 'warm-up');
    await host.scaleComponent({ componentRef: values['warm-up'], componentId: 'warm-up', count: 0 });
  }
  await sleep(Number(values['running-ms'] ?? 0));
  process.stdout.write(`${JSON.stringify({ first: await scaleUpAndCall(host, values.wasm, 'hello') })}\n`);
  if (values.again === true) {
    await host.scaleComponent({ componentRef: values.wasm, componentId: 'hello', count: 0 });
    process.stdout.write(`${JSON.stringify({ again: await scaleUpAndCall(host, values.wasm, 'hello') })}\n`);
  }
} finally {
  await host.stop();
}
