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
import { createComponentRuntime } from '@cirrus/runtime';
import type { ComponentPool, HttpRequestHead, HttpResponseSink } from '@cirrus/runtime';
import { BufferedResponse, loadDirect } from './direct.ts';
import type { DirectComponent } from './direct.ts';
import {
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
} from './lib.ts';
import type { Settings } from './lib.ts';

const HEAD: HttpRequestHead = {
  method: 'GET',
  pathWithQuery: '/',
  scheme: 'http',
  authority: 'bench',
  headers: [],
};

/** Receives a response from the pool, as the runtime's tests collect one. */
class Collector implements HttpResponseSink {
  status: number | undefined;
  bytes = 0;

  head(status: number): void {
    this.status = status;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.bytes += chunk.byteLength;
  }

  end(chunks: Uint8Array[]): void {
    for (const c of chunks) this.bytes += c.byteLength;
  }
}

type Call = () => Promise<void>;

function poolCall(pool: ComponentPool): Call {
  return async () => {
    const sink = new Collector();
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
  } finally {
    await runtime.close();
    await removeTempDir(dir);
  }
}
