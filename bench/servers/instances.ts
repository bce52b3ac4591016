/**
 * Part P5's subject: one process running a Cirrus runtime that grows one component, hello, to more
 * and more idle warm instances, and prints its RSS after each step as a JSON line.
 *
 *   node bench/servers/instances.ts --wasm FILE --cache DIR --counts 1,16,64 [--per-worker N] [--workers N]
 *
 * `--per-worker 1` puts every instance on a thread of its own (the design before shared workers);
 * `--workers 1 --per-worker 64` all of them on one thread (what an instance costs without threads).
 */
import { parseArgs } from 'node:util';
import { resolveLimits } from '@cirrus/protocol';
import { createComponentRuntime } from '@cirrus/runtime';
import type { ComponentPool, HttpResponseSink } from '@cirrus/runtime';

const { values } = parseArgs({
  options: {
    wasm: { type: 'string' },
    cache: { type: 'string' },
    counts: { type: 'string' },
    'per-worker': { type: 'string' },
    workers: { type: 'string' },
  },
});
if (values.wasm === undefined || values.cache === undefined || values.counts === undefined) {
  process.stderr.write('usage: node bench/servers/instances.ts --wasm FILE --cache DIR --counts 1,16,64\n');
  process.exit(2);
}

const SETTLE_MS = 1500;
const discard: HttpResponseSink = {
  head: () => undefined,
  write: async () => undefined,
  end: () => undefined,
};
const request = {
  method: 'GET',
  pathWithQuery: '/',
  scheme: 'http' as const,
  authority: 'bench',
  headers: [],
};

const limits = resolveLimits({
  ...(values['per-worker'] === undefined ? {} : { workerInstancesMax: Number(values['per-worker']) }),
  ...(values.workers === undefined ? {} : { runtimeWorkers: Number(values.workers) }),
});
const runtime = createComponentRuntime({ cacheDir: values.cache, limits });
const hello = await runtime.load(values.wasm, { allowFileLoad: true });
const rss = async (): Promise<number> => {
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  return process.memoryUsage().rss;
};
process.stdout.write(`${JSON.stringify({ instances: 0, rss: await rss() })}\n`);
const pool: ComponentPool = runtime.createPool(hello, {
  componentId: 'hello',
  maxInstances: Math.max(...values.counts.split(',').map(Number)),
});
await pool.warm();
for (const count of values.counts.split(',').map(Number)) {
  // Calls at once until the pool runs `count` instances (no more: its maximum), each warm as a
  // serving instance is.
  pool.setMaxInstances(count);
  while (pool.stats.instances < count) {
    await Promise.all(Array.from({ length: count }, () => pool.handleHttp(request, null, discard)));
  }
  process.stdout.write(
    `${JSON.stringify({ instances: count, rss: await rss(), threads: runtime.workerStats })}\n`,
  );
}
await runtime.close();
