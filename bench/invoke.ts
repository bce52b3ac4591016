/**
 * Part B: what one invocation costs through the runtime compared with a bare jco call, in-process,
 * with no HTTP in the way.
 *
 *   (1) pool, sequential   `createComponentRuntime().createPool().handleHttp()`, one call after another:
 *                          the full per-call path (pool acquire, message to the instance worker, reply)
 *   (2) direct call        the same export called on this thread (see direct.ts)
 *   (3) pool, k callers    k = instances callers, each issuing calls back to back: the throughput a
 *                          pool sustains when the worker hop overlaps with other calls
 *
 * Rounds are interleaved ((1) (2) (3), (1) (2) (3), …); medians over rounds are reported.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { createComponentRuntime, HostResource } from '@cirrus/runtime';
import type { ComponentPool, HttpRequestHead, ImportHandler } from '@cirrus/runtime';
import { BufferedResponse, loadDirect } from './direct.ts';
import type { DirectComponent } from './direct.ts';
import {
  COUNTER_WASM,
  fmt,
  HarnessError,
  HELLO_GREETING,
  log,
  makeTempDir,
  median,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  table,
  ResponseCollector,
} from './lib.ts';
import type { Settings } from './lib.ts';

const HEAD: HttpRequestHead = {
  method: 'GET',
  pathWithQuery: '/',
  scheme: 'http',
  authority: 'bench',
  headers: [],
};

type Call = () => Promise<void>;

/**
 * The counter's key-value imports answered by a map on the host thread: what a request costs when
 * its guest makes linked import calls (open, increment, and the bucket's drop), without a provider's
 * own work.
 */
function inMemoryKeyValue(): { handler: ImportHandler; calls: () => number } {
  const counts = new Map<string, bigint>();
  let calls = 0;
  const handler: ImportHandler = async (call) => {
    calls++;
    if (call.fn === 'open') return { tag: 'ok', val: new HostResource('wasi:keyvalue/store', 'bucket', {}) };
    if (call.fn === 'increment') {
      const key = call.args[1] as string;
      const next = (counts.get(key) ?? 0n) + (call.args[2] as bigint);
      counts.set(key, next);
      return { tag: 'ok', val: next };
    }
    throw new HarnessError(`the counter made an unexpected call: ${call.interface}#${call.fn}`);
  };
  return { handler, calls: () => calls };
}

function poolCall(pool: ComponentPool): Call {
  return async () => {
    const sink = new ResponseCollector();
    await pool.handleHttp(HEAD, null, sink);
    if (sink.status !== 200 || sink.bytes === 0) {
      throw new HarnessError(`the pool answered status ${sink.status} with ${sink.bytes} bytes`);
    }
  };
}

function directCall(component: DirectComponent): Call {
  return async () => {
    const out = new BufferedResponse();
    await component.handle(HEAD, out);
    if (out.status !== 200 || out.bytes === 0) {
      throw new HarnessError(`the direct call answered status ${out.status} with ${out.bytes} bytes`);
    }
  };
}

interface Measured {
  /** Wall-clock µs per call (for concurrent callers: elapsed time / calls). */
  wallUs: number;
  /** CPU µs per call, all threads of this process (host thread and instance workers). */
  cpuUs: number;
}

/** `calls` calls spread over `callers` concurrent loops. */
async function measure(call: Call, calls: number, callers: number): Promise<Measured> {
  let issued = 0;
  const loop = async (): Promise<void> => {
    while (issued < calls) {
      issued++;
      await call();
    }
  };
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: callers }, loop));
  const wallUs = ((performance.now() - started) * 1000) / calls;
  const used = process.cpuUsage(cpu);
  return { wallUs, cpuUs: (used.user + used.system) / calls };
}

interface Mode {
  label: string;
  call: Call;
  callers: number;
  results: Measured[];
}

export async function runInvoke(settings: Settings): Promise<void> {
  const wasm = requireHelloWasm();
  const dir = await makeTempDir();
  const runtime = createComponentRuntime({ cacheDir: join(dir, 'cache') });
  try {
    const k = settings.instances;
    log(
      `\n## B. Per-call cost in-process: ${settings.rounds} rounds × ${settings.calls} calls, ` +
        `pool of ${k} instances\n`,
    );
    const prepared = await runtime.load(wasm, { allowFileLoad: true });
    const pool = runtime.createPool(prepared, {
      componentId: 'hello',
      maxInstances: k,
      environment: { GREETING: HELLO_GREETING },
    });
    await pool.warm();
    const direct = await loadDirect(wasm, join(dir, 'direct'), [['GREETING', HELLO_GREETING]]);

    const modes: Mode[] = [
      { label: '(1) runtime pool, sequential', call: poolCall(pool), callers: 1, results: [] },
      { label: '(2) direct export call', call: directCall(direct), callers: 1, results: [] },
      { label: `(3) runtime pool, ${k} concurrent callers`, call: poolCall(pool), callers: k, results: [] },
    ];
    const keyValue = inMemoryKeyValue();
    let counterPool: ComponentPool | undefined;
    if (existsSync(COUNTER_WASM)) {
      const counter = await runtime.load(COUNTER_WASM, { allowFileLoad: true });
      counterPool = runtime.createPool(counter, {
        componentId: 'counter',
        maxInstances: 1,
        imports: keyValue.handler,
      });
      await counterPool.warm();
      modes.push({
        label: '(4) counter, sequential (linked imports)',
        call: poolCall(counterPool),
        callers: 1,
        results: [],
      });
    } else {
      progress(`${COUNTER_WASM} is missing (npm run build:examples): skipping the linked-import mode`);
    }

    const warmCalls = Math.min(settings.calls, 2000);
    progress(`warming up: ${warmCalls} calls per mode`);
    // The concurrent warm-up also starts the instances beyond the first.
    for (const mode of modes) await measure(mode.call, warmCalls, mode.callers);
    if (pool.stats.instances < k) progress(`note: only ${pool.stats.instances} of ${k} instances started`);

    for (let r = 0; r < settings.rounds; r++) {
      for (const mode of modes) {
        const measured = await measure(mode.call, settings.calls, mode.callers);
        mode.results.push(measured);
        progress(
          `round ${r + 1}/${settings.rounds} ${mode.label}: ${fmt(measured.wallUs, 1)} µs/call, ` +
            `${fmt(measured.cpuUs, 1)} µs CPU/call`,
        );
      }
    }
    await pool.close();
    await counterPool?.close();

    const wall = (m: Mode): number => median(m.results.map((x) => x.wallUs));
    const cpu = (m: Mode): number => median(m.results.map((x) => x.cpuUs));
    const [sequential, bare, concurrent] = modes.map(wall) as [number, number, number];
    const [sequentialCpu, bareCpu, concurrentCpu] = modes.map(cpu) as [number, number, number];
    log(
      '\nMedians over rounds (µs/call = wall time / calls, so for (3) the inverse of throughput; ' +
        'CPU counts every thread of this process):\n',
    );
    log(
      table(
        ['mode', 'µs/call', 'calls/s', 'CPU µs/call', 'µs/call per round'],
        modes.map((m) => [
          m.label,
          fmt(wall(m), 1),
          fmt(1e6 / wall(m)),
          fmt(cpu(m), 1),
          m.results.map((x) => fmt(x.wallUs, 1)).join(' / '),
        ]),
      ),
    );
    log('');
    log(`  (1) / (2)  runtime call vs bare call, wall:  ${ratio(sequential, bare)}`);
    log(`  (1) − (2)  wall time the runtime adds:       ${fmt(sequential - bare, 1)} µs per call`);
    log(`  (1) / (2)  runtime call vs bare call, CPU:   ${ratio(sequentialCpu, bareCpu)}`);
    log(
      `  (3) / (2)  pool with ${k} callers vs bare call: ${ratio(concurrent, bare)} wall, ` +
        `${ratio(concurrentCpu, bareCpu)} CPU  (wall below 1× = the hop is hidden)`,
    );
    const counterMode = modes[3];
    if (counterMode !== undefined) {
      const totalCalls = warmCalls + settings.rounds * settings.calls;
      const importsPerCall = keyValue.calls() / totalCalls;
      log(
        `  (4) − (1)  a counter request vs a hello request: ${fmt(wall(counterMode) - sequential, 1)} µs wall, ` +
          `${fmt(importsPerCall, 1)} linked import calls each (different guests: an upper bound on their cost)`,
      );
    }
  } finally {
    await runtime.close();
    await removeTempDir(dir);
  }
}
