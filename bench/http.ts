/**
 * Part A: HTTP "hello" served six ways under the same load (autocannon, same connections, same
 * duration), each server in its own process:
 *
 *   (a) cirrus  `cirrus up` with examples/hello/app.yaml: the built-in HTTP server, a pool of instance
 *               worker threads
 *   (b) plain   a Node `http` server replying with the bytes (a) sends, no WebAssembly at all
 *   (c) jco     `jco serve` of the same component
 *   (d) direct  a Node `http` server calling the same export in-process, no worker (servers/direct.ts)
 *   (e) quickjs (a) with the same hello built with the QuickJS engine
 *   (f) wat     (a) with a hello that has no JavaScript engine (wat-hello.ts): the host's own cost
 *
 * Every server is started first, then warmed up, then measured in interleaved rounds (a b c d, b c d a,
 * …) so load from elsewhere on the machine spreads over all of them. Reported: medians over rounds of
 * req/s, p50 and p99 latency, and the CPU the server's process group used.
 */
import type { Buffer } from 'node:buffer';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { buildWatHello } from './wat-hello.ts';
import {
  ChildServer,
  fmt,
  freePort,
  get,
  HarnessError,
  HELLO_APP,
  HELLO_GREETING,
  log,
  makeTempDir,
  median,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  ROOT,
  Samples,
  stopChildren,
  table,
  waitUntilReady,
} from './lib.ts';
import type { Sample, ServerKey, Settings } from './lib.ts';
import type { SampleFile } from './servers/plain.ts';

const CIRRUS_BIN = join(ROOT, 'node_modules', '.bin', 'cirrus');
const JCO_BIN = join(ROOT, 'node_modules', '.bin', 'jco');

export interface Target {
  key: ServerKey;
  label: string;
  url: string;
  server: ChildServer;
}

export interface Round {
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU over the round, in cores (1.0 = one core busy all the time). */
  serverCores: number | undefined;
  serverCpuUsPerRequest: number | undefined;
  /** CPU of this process (the load generator), in cores. */
  clientCores: number;
  failures: number;
}

const LABELS: Record<ServerKey, string> = {
  cirrus: '(a) Cirrus, cirrus up',
  plain: '(b) Node http, fixed reply',
  jco: '(c) jco serve',
  direct: '(d) Node http + direct call',
  quickjs: '(e) Cirrus, QuickJS hello',
  wat: '(f) Cirrus, WAT hello',
};

// ── the manifest ────────────────────────────────────────────────────────────────────────────────

type Node = Record<string, unknown>;

function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function child(node: unknown, key: string, where: string): Node {
  const value = isNode(node) ? node[key] : undefined;
  if (!isNode(value)) throw new HarnessError(`${HELLO_APP}: expected a mapping at ${where}.${key}`);
  return value;
}

function list(node: unknown, key: string, where: string): Node[] {
  const value = isNode(node) ? node[key] : undefined;
  if (!Array.isArray(value)) throw new HarnessError(`${HELLO_APP}: expected a list at ${where}.${key}`);
  return value.filter(isNode);
}

/**
 * examples/hello/app.yaml with the image made absolute, the listen address set to `port` and the
 * spreadscaler set to `instances`. Fails loudly if the example's shape changed.
 */
export async function helloManifest(wasm: string, port: number, instances: number): Promise<string> {
  const app = parseYaml(await readFile(HELLO_APP, 'utf8')) as unknown;
  const components = list(child(app, 'spec', ''), 'components', 'spec');
  let image = 0;
  let scaler = 0;
  let address = 0;
  for (const component of components) {
    const properties = child(component, 'properties', 'component');
    if (component['type'] === 'component') {
      properties['image'] = pathToFileURL(wasm).href;
      image++;
    }
    for (const trait of list(component, 'traits', 'component')) {
      const traitProperties = child(trait, 'properties', 'trait');
      if (trait['type'] === 'spreadscaler') {
        traitProperties['instances'] = instances;
        scaler++;
      }
      if (trait['type'] !== 'link') continue;
      const source = isNode(traitProperties['source']) ? traitProperties['source'] : {};
      for (const config of Array.isArray(source['config']) ? source['config'].filter(isNode) : []) {
        const props = child(config, 'properties', 'link config');
        if ('address' in props) {
          props['address'] = `127.0.0.1:${port}`;
          address++;
        }
      }
    }
  }
  if (image !== 1 || scaler !== 1 || address !== 1) {
    throw new HarnessError(
      `${HELLO_APP} no longer has one component image, one spreadscaler and one listen address ` +
        `(found ${image}, ${scaler}, ${address}); update bench/http.ts`,
    );
  }
  return stringifyYaml(app);
}

// ── servers ─────────────────────────────────────────────────────────────────────────────────────

export async function startCirrus(
  dir: string,
  wasm: string,
  settings: Settings,
  key: 'cirrus' | 'quickjs' | 'wat' = 'cirrus',
): Promise<Target> {
  const port = await freePort();
  const manifest = join(dir, `${key}.yaml`);
  await writeFile(manifest, await helloManifest(wasm, port, settings.instances));
  const server = ChildServer.startNode(key, [
    CIRRUS_BIN,
    'up',
    '--app',
    manifest,
    '--cache-dir',
    join(dir, `${key}-cache`),
  ]);
  return ready(key, server, port, settings);
}

async function startJco(dir: string, wasm: string, settings: Settings): Promise<Target> {
  const port = await freePort();
  // jco passes its whole environment to the component; give it only what Cirrus gives (the greeting).
  const env: NodeJS.ProcessEnv = { GREETING: HELLO_GREETING };
  if (process.env['PATH'] !== undefined) env['PATH'] = process.env['PATH'];
  if (process.env['HOME'] !== undefined) env['HOME'] = process.env['HOME'];
  const server = ChildServer.startNode(
    'jco',
    [JCO_BIN, 'serve', wasm, '--port', String(port), '--host', '127.0.0.1', '--jco-dir', join(dir, 'jco')],
    { env, inheritEnv: false },
  );
  return ready('jco', server, port, settings);
}

async function startDirect(dir: string, wasm: string, settings: Settings): Promise<Target> {
  const port = await freePort();
  const server = ChildServer.startNode('direct', [
    join(ROOT, 'bench', 'servers', 'direct.ts'),
    '--port',
    String(port),
    '--wasm',
    wasm,
    '--out',
    join(dir, 'direct'),
    '--greeting',
    HELLO_GREETING,
  ]);
  return ready('direct', server, port, settings);
}

/** Headers Node's http server adds by itself; the plain server must not send them twice. */
const AUTOMATIC_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);

async function startPlain(dir: string, sample: Sample, settings: Settings): Promise<Target> {
  const port = await freePort();
  const headers: string[] = [];
  for (let i = 0; i + 1 < sample.headers.length; i += 2) {
    const name = sample.headers[i] as string;
    if (!AUTOMATIC_HEADERS.has(name.toLowerCase())) headers.push(name, sample.headers[i + 1] as string);
  }
  const file = join(dir, 'sample.json');
  const content: SampleFile = { status: sample.status, headers, body: sample.body.toString('base64') };
  await writeFile(file, JSON.stringify(content));
  const server = ChildServer.startNode('plain', [
    join(ROOT, 'bench', 'servers', 'plain.ts'),
    '--port',
    String(port),
    '--sample',
    file,
  ]);
  return ready('plain', server, port, settings);
}

async function ready(key: ServerKey, server: ChildServer, port: number, settings: Settings): Promise<Target> {
  const url = `http://127.0.0.1:${port}/`;
  const started = performance.now();
  try {
    await waitUntilReady(url, server, settings.startTimeout * 1000);
  } catch (err) {
    await server.stop();
    throw err;
  }
  progress(`${key} answers on ${url} (${fmt((performance.now() - started) / 1000, 1)} s to start)`);
  return { key, label: LABELS[key], url, server };
}

// ── load ────────────────────────────────────────────────────────────────────────────────────────

/** One round of load on `target`, with the CPU its process group used. */
export async function load(
  target: { key: string; url: string; server: ChildServer },
  seconds: number,
  connections: number,
): Promise<Round> {
  const cpuBefore = target.server.cpuSeconds();
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  const latencies = new Samples();
  const run = autocannon({ url: target.url, connections, duration: seconds });
  run.on('response', (_client, _status, _bytes, ms) => latencies.add(ms));
  const result = await run;
  const wall = (performance.now() - started) / 1000;
  const clientUsage = process.cpuUsage(clientBefore);
  const cpuAfter = target.server.cpuSeconds();
  const serverCpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
  const total = result.requests.total;
  const [p50, p99] = latencies.percentiles(50, 99) as [number, number];
  if (target.server.exitCode !== undefined) {
    throw new HarnessError(`${target.key} exited during the run\n${target.server.outputTail()}`);
  }
  return {
    rps: total / result.duration,
    p50,
    p99,
    serverCores: serverCpu === undefined ? undefined : serverCpu / wall,
    serverCpuUsPerRequest: serverCpu === undefined || total === 0 ? undefined : (serverCpu * 1e6) / total,
    clientCores: (clientUsage.user + clientUsage.system) / 1e6 / wall,
    failures: result.errors + result.timeouts + result.non2xx,
  };
}

function firstLine(body: Buffer): string {
  return body.toString('utf8').split('\n')[0] ?? '';
}

// ── the benchmark ───────────────────────────────────────────────────────────────────────────────

export async function runHttp(settings: Settings): Promise<void> {
  const wasm = requireHelloWasm();
  const dir = await makeTempDir();
  const targets: Target[] = [];
  try {
    log(
      `\n## A. HTTP hello: ${settings.connections} connections, ${settings.warmup} s warm-up, ` +
        `${settings.rounds} × ${settings.duration} s rounds, Cirrus with ${settings.instances} instances\n`,
    );
    const wanted = new Set(settings.servers);
    // All start together (jco takes longest); Cirrus also runs when only (b) is wanted, which copies its reply.
    const starting: Promise<Target>[] = [];
    if (wanted.has('cirrus') || wanted.has('plain')) starting.push(startCirrus(dir, wasm, settings));
    if (wanted.has('jco')) starting.push(startJco(dir, wasm, settings));
    if (wanted.has('direct')) starting.push(startDirect(dir, wasm, settings));
    if (wanted.has('quickjs')) {
      starting.push(startCirrus(dir, requireHelloWasm('quickjs'), settings, 'quickjs'));
    }
    if (wanted.has('wat')) starting.push(startCirrus(dir, await buildWatHello(dir), settings, 'wat'));
    const settled = await Promise.allSettled(starting);
    for (const s of settled) if (s.status === 'fulfilled') targets.push(s.value);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;

    const cirrusTarget = targets.find((t) => t.key === 'cirrus');
    if (cirrusTarget !== undefined && wanted.has('plain')) {
      const sample = await get(cirrusTarget.url);
      if (sample.status !== 200) throw new HarnessError(`Cirrus answered ${sample.status} to the sample`);
      targets.push(await startPlain(dir, sample, settings));
    }
    if (cirrusTarget !== undefined && !wanted.has('cirrus')) {
      await cirrusTarget.server.stop();
      targets.splice(targets.indexOf(cirrusTarget), 1);
    }
    targets.sort((x, y) => settings.servers.indexOf(x.key) - settings.servers.indexOf(y.key));

    for (const target of targets) {
      const answer = await get(target.url);
      progress(
        `${target.key}: ${answer.status} ${JSON.stringify(firstLine(answer.body))}, ${answer.body.length} bytes`,
      );
      if (answer.status !== 200) throw new HarnessError(`${target.key} answered ${answer.status}`);
    }

    for (const target of targets) {
      progress(`warming up ${target.key} for ${settings.warmup} s`);
      await load(target, settings.warmup, settings.connections);
    }

    const rounds = new Map<ServerKey, Round[]>(targets.map((t) => [t.key, []]));
    for (let r = 0; r < settings.rounds; r++) {
      for (let i = 0; i < targets.length; i++) {
        const target = targets[(i + r) % targets.length] as Target;
        const round = await load(target, settings.duration, settings.connections);
        rounds.get(target.key)?.push(round);
        progress(
          `round ${r + 1}/${settings.rounds} ${target.key}: ${fmt(round.rps)} req/s, ` +
            `p50 ${fmt(round.p50, 2)} ms, p99 ${fmt(round.p99, 2)} ms` +
            (round.failures > 0 ? `, ${round.failures} failed` : ''),
        );
      }
    }
    report(targets, rounds);
  } finally {
    // Every server this part started, including any that failed to come up, before their files go.
    await stopChildren();
    await removeTempDir(dir);
  }
}

export interface Summary {
  rps: number;
  p50: number;
  p99: number;
  serverCores: number | undefined;
  serverCpuUsPerRequest: number | undefined;
  clientCores: number;
  failures: number;
  all: number[];
}

export function summarise(rounds: readonly Round[]): Summary {
  const defined = (values: (number | undefined)[]): number | undefined => {
    const known = values.filter((v): v is number => v !== undefined);
    return known.length === 0 ? undefined : median(known);
  };
  return {
    rps: median(rounds.map((r) => r.rps)),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    serverCores: defined(rounds.map((r) => r.serverCores)),
    serverCpuUsPerRequest: defined(rounds.map((r) => r.serverCpuUsPerRequest)),
    clientCores: median(rounds.map((r) => r.clientCores)),
    failures: rounds.reduce((n, r) => n + r.failures, 0),
    all: rounds.map((r) => r.rps),
  };
}

function report(targets: readonly Target[], rounds: ReadonlyMap<ServerKey, Round[]>): void {
  const summaries = new Map<ServerKey, Summary>();
  for (const t of targets) summaries.set(t.key, summarise(rounds.get(t.key) ?? []));
  const rows = targets.map((t) => {
    const s = summaries.get(t.key) as Summary;
    return [
      t.label,
      fmt(s.rps),
      fmt(s.p50, 2),
      fmt(s.p99, 2),
      fmt(s.serverCores, 2),
      fmt(s.serverCpuUsPerRequest),
      fmt(s.clientCores, 2),
      String(s.failures),
      s.all.map((v) => fmt(v)).join(' / '),
    ];
  });
  log('\nMedians over rounds (CPU in cores: 1.00 = one core busy; client = this process, autocannon):\n');
  log(
    table(
      [
        'server',
        'req/s',
        'p50 ms',
        'p99 ms',
        'server CPU',
        'CPU µs/req',
        'client CPU',
        'failed',
        'req/s per round',
      ],
      rows,
    ),
  );
  const cirrus = summaries.get('cirrus');
  if (cirrus !== undefined && targets.length > 1) {
    log(
      '\nCirrus req/s relative to each baseline (1.00× = as fast; CPU µs/req in brackets: lower is leaner):',
    );
    for (const t of targets) {
      if (t.key === 'cirrus') continue;
      const s = summaries.get(t.key) as Summary;
      const cpu =
        cirrus.serverCpuUsPerRequest !== undefined && s.serverCpuUsPerRequest !== undefined
          ? `   [CPU/req ${ratio(cirrus.serverCpuUsPerRequest, s.serverCpuUsPerRequest)}]`
          : '';
      log(`  Cirrus / ${t.label.padEnd(30)} ${ratio(cirrus.rps, s.rps)}${cpu}`);
    }
  }
  const quickjs = summaries.get('quickjs');
  const plain = summaries.get('plain');
  if (quickjs !== undefined && plain !== undefined) {
    log(`\n  P1  QuickJS hello / plain Node: ${ratio(quickjs.rps, plain.rps)} req/s (target ≥ 0.25×)`);
  }
  const wat = summaries.get('wat');
  if (wat !== undefined && plain !== undefined) {
    log(`      WAT hello / plain Node:     ${ratio(wat.rps, plain.rps)} req/s: the host without an engine`);
  }
  const failures = [...summaries.values()].reduce((n, s) => n + s.failures, 0);
  if (failures > 0) {
    log(`\nwarning: ${failures} requests failed (errors, timeouts or non-2xx); those runs are suspect.`);
  }
}
