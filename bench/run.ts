/**
 * `npm run bench`: the benchmark suite. Prints medians and ratios against baselines measured in the
 * same run; it never passes or fails on the numbers. Exits non-zero only when the harness itself
 * fails (a server does not start, the component is missing, a call errors).
 *
 *   node bench/run.ts [http|invoke|control|links|overload|remote|apps|memory|start|scaleout|telemetry|browser]… [--duration S] [--rounds N] [--connections N] [--instances N] …
 *
 * See bench/README.md for what each part measures and how to read the output.
 */
import { availableParallelism, cpus, loadavg } from 'node:os';
import { runHttp } from './http.ts';
import { runControl } from './control.ts';
import { runInvoke } from './invoke.ts';
import { runLinks } from './links.ts';
import { runOverload } from './overload.ts';
import { runRemote } from './remote.ts';
import { runApps } from './apps.ts';
import { runMemory } from './memory.ts';
import { runStart } from './start.ts';
import { runScaleOut } from './scaleout.ts';
import { runTelemetry } from './telemetry.ts';
import { runBrowser } from './browser.ts';
import { cleanup, HarnessError, installCleanupHandlers, log, parseSettings, USAGE } from './lib.ts';
import type { Part, Settings } from './lib.ts';

const PARTS: Record<Part, (settings: Settings) => Promise<void>> = {
  http: runHttp,
  invoke: runInvoke,
  control: runControl,
  links: runLinks,
  overload: runOverload,
  remote: runRemote,
  apps: runApps,
  memory: runMemory,
  start: runStart,
  scaleout: runScaleOut,
  telemetry: runTelemetry,
  browser: runBrowser,
};

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const settings = parseSettings(argv);
  installCleanupHandlers();
  const load = loadavg().map((l) => l.toFixed(2));
  log(
    `# Cirrus benchmarks: Node ${process.version}, ${availableParallelism()} cores ` +
      `(${cpus()[0]?.model.trim() ?? 'unknown CPU'}), load average ${load.join(' ')}`,
  );
  for (const part of settings.parts) await PARTS[part](settings);
  return 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  if (err instanceof HarnessError) process.stderr.write(`\nerror: ${err.message}\n`);
  else process.stderr.write(`\nerror: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
