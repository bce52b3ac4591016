/**
 * What observability costs: hello over HTTP on `cirrus up`, three ways in one run, under the same
 * load (autocannon, interleaved rounds, medians):
 *
 *   off      no exporter (invocations are still counted: that recording is always on)
 *   metrics  Prometheus at --metrics, and OTLP metrics pushed every second
 *   traces   every request traced (OTEL_TRACES_SAMPLER=always_on) and exported over OTLP
 *
 * for the StarlingMonkey hello and for the WAT hello (no JavaScript engine: the host's own cost, where
 * an overhead shows most). The OTLP collector is a sink in this process that reads and drops each
 * export, so what is measured is the host's side: its CPU per request and its throughput.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildWatHello } from './wat-hello.ts';
import { helloManifest, load, summarise } from './http.ts';
import type { Round, Summary } from './http.ts';
import {
  ChildServer,
  fmt,
  freePort,
  log,
  makeTempDir,
  progress,
  ratio,
  removeTempDir,
  requireHelloWasm,
  ROOT,
  stopChildren,
  table,
  waitUntilReady,
} from './lib.ts';
import type { Settings } from './lib.ts';

const CIRRUS_BIN = join(ROOT, 'node_modules', '.bin', 'cirrus');
const MODES = ['off', 'metrics', 'traces'] as const;
type Mode = (typeof MODES)[number];

interface Variant {
  key: string;
  engine: 'hello' | 'wat';
  mode: Mode;
  url: string;
  server: ChildServer;
}

/** An OTLP/HTTP endpoint that accepts and drops every export. */
async function startSink(): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': req.headers['content-type'] ?? 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function modeSettings(mode: Mode, sink: string): { args: string[]; env: NodeJS.ProcessEnv } {
  switch (mode) {
    case 'off':
      return { args: [], env: {} };
    case 'metrics':
      return {
        args: ['--metrics', '127.0.0.1:0', '--otlp-endpoint', sink],
        env: { OTEL_TRACES_EXPORTER: 'none', OTEL_METRIC_EXPORT_INTERVAL: '1000' },
      };
    case 'traces':
      return {
        args: ['--otlp-endpoint', sink],
        env: { OTEL_METRICS_EXPORTER: 'none', OTEL_TRACES_SAMPLER: 'always_on' },
      };
  }
}

async function startVariant(
  dir: string,
  engine: Variant['engine'],
  wasm: string,
  mode: Mode,
  sink: string,
  settings: Settings,
): Promise<Variant> {
  const key = `${engine}-${mode}`;
  const port = await freePort();
  const manifest = join(dir, `${key}.yaml`);
  await writeFile(manifest, await helloManifest(wasm, port, settings.instances));
  const { args, env } = modeSettings(mode, sink);
  const server = ChildServer.startNode(
    key,
    [CIRRUS_BIN, 'up', '--app', manifest, '--cache-dir', join(dir, 'cache'), '--no-dashboard', ...args],
    { env: { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: '' } },
  );
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitUntilReady(url, server, settings.startTimeout * 1000);
  } catch (err) {
    await server.stop();
    throw err;
  }
  progress(`${key} answers on ${url}`);
  return { key, engine, mode, url, server };
}

export async function runTelemetry(settings: Settings): Promise<void> {
  const dir = await makeTempDir();
  const sink = await startSink();
  try {
    log(
      `\n## Observability cost: hello over HTTP, ${settings.connections} connections, ` +
        `${settings.rounds} × ${settings.duration} s rounds, ${settings.instances} instances\n`,
    );
    const engines: [Variant['engine'], string][] = [
      ['hello', requireHelloWasm()],
      ['wat', await buildWatHello(dir)],
    ];
    const variants: Variant[] = [];
    // One at a time: a shared cache, and starts that do not compete for the CPU.
    for (const [engine, wasm] of engines) {
      for (const mode of MODES)
        variants.push(await startVariant(dir, engine, wasm, mode, sink.url, settings));
    }
    for (const variant of variants) {
      progress(`warming up ${variant.key} for ${settings.warmup} s`);
      await load(variant, settings.warmup, settings.connections);
    }
    const rounds = new Map<string, Round[]>(variants.map((v) => [v.key, []]));
    for (let r = 0; r < settings.rounds; r++) {
      for (let i = 0; i < variants.length; i++) {
        const variant = variants[(i + r) % variants.length] as Variant;
        const round = await load(variant, settings.duration, settings.connections);
        rounds.get(variant.key)?.push(round);
        progress(
          `round ${r + 1}/${settings.rounds} ${variant.key}: ${fmt(round.rps)} req/s, ` +
            `${fmt(round.serverCpuUsPerRequest)} µs CPU/req` +
            (round.failures > 0 ? `, ${round.failures} failed` : ''),
        );
      }
    }
    const summaries = new Map<string, Summary>(
      variants.map((v) => [v.key, summarise(rounds.get(v.key) ?? [])]),
    );
    log('\nMedians over rounds (server CPU in µs per request, of the whole process group):\n');
    log(
      table(
        ['engine', 'mode', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'failed', 'req/s per round'],
        variants.map((v) => {
          const s = summaries.get(v.key) as Summary;
          return [
            v.engine,
            v.mode,
            fmt(s.rps),
            fmt(s.p50, 2),
            fmt(s.p99, 2),
            fmt(s.serverCpuUsPerRequest),
            String(s.failures),
            s.all.map((x) => fmt(x)).join(' / '),
          ];
        }),
      ),
    );
    log('\nAgainst off, in the same run (req/s ratio; CPU per request ratio in brackets):');
    for (const [engine] of engines) {
      const off = summaries.get(`${engine}-off`) as Summary;
      for (const mode of MODES.filter((m) => m !== 'off')) {
        const s = summaries.get(`${engine}-${mode}`) as Summary;
        const cpu =
          s.serverCpuUsPerRequest !== undefined && off.serverCpuUsPerRequest !== undefined
            ? `   [CPU/req ${ratio(s.serverCpuUsPerRequest, off.serverCpuUsPerRequest)}]`
            : '';
        log(`  ${`${engine} ${mode} / ${engine} off`.padEnd(26)} ${ratio(s.rps, off.rps)}${cpu}`);
      }
    }
    log(`\n  ${sink.requests()} OTLP exports received by the sink.`);
  } finally {
    await stopChildren();
    await sink.close();
    await removeTempDir(dir);
  }
}
