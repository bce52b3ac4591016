/**
 * A provider program in a crash loop: `cirrus start provider` starts test/failure/fixtures/
 * crash-loop-provider.ts on a `cirrus up` host (embedded lattice; the provider reaches it through
 * the local endpoint), and every process of it exits right after answering its first health check.
 * Small restart limits (CIRRUS_LIMIT_PROVIDER_RESTART_*: 100 ms doubling up to 1.6 s) let the loop
 * run through its whole backoff within a window of 25 s.
 *
 * Guarantees: the pauses the host announces follow the schedule exactly (100, 200, 400, 800, then
 * 1600 ms every time) and each restart waits at least its pause; the number of restarts matches the
 * schedule; the host stays healthy throughout (every HTTP request to its component succeeds, every
 * `host.ping` is answered, `cirrus get hosts` works); its log grows by a bounded number of lines per
 * restart; at no time do two provider processes run or a zombie linger; once the provider is
 * stopped, no process of it remains and the host's fds and threads are back where they started.
 *
 * Measured (test diagnostics): restarts and their pauses, the lifetime of a provider process,
 * restart lateness, log lines and bytes per restart, ping times, the HTTP requests served.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { HostInfo } from '@cirrus/protocol';
import { tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import {
  childProcesses,
  controlOverLocalEndpoint,
  describeLoad,
  killAll,
  processesRunning,
  resourcesReturnTo,
  runCirrus,
  settledResources,
  startHelloHost,
  startHttpLoad,
} from '../support.ts';
import type { ControlSession, HttpLoad, LogRecord, ServingHost } from '../support.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/crash-loop-provider.ts', import.meta.url));
const PROVIDER_ID = 'crashloop';
const MIN_DELAY_MS = 100;
const MAX_DELAY_MS = 1600;
const LIMITS = {
  CIRRUS_LIMIT_PROVIDER_RESTART_MIN_DELAY_MS: String(MIN_DELAY_MS),
  CIRRUS_LIMIT_PROVIDER_RESTART_MAX_DELAY_MS: String(MAX_DELAY_MS),
  // No process lives this long, so the backoff never starts over.
  CIRRUS_LIMIT_PROVIDER_RESTART_RESET_MS: '600000',
};
const WINDOW_MS = 25_000;
const PROBE_EVERY_MS = 1000;
/** A restart may start this much later than its pause on a busy 2-core machine (a spawn, a timer). */
const LATENESS_MS = 1000;
/**
 * Per restart the host logs the spawn, the restart and the exit; the provider writes its `serving`
 * line and one line before it exits. Eight leaves room for a health-check warning, and catches a
 * log that grows with every restart (a repeated dump, a line per earlier attempt).
 */
const MAX_LINES_PER_RESTART = 8;
const MAX_BYTES_PER_RESTART = 4096;
const isHello = (body: string): boolean => body.startsWith('Hello from Cirrus!');

const SCHEDULING = new Set(['provider process exited; restarting it', 'provider process failed to restart']);

/** The pause before restart `n` (0-based) that the limits prescribe. */
const expectedPause = (n: number): number => Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** n);

const at = (record: LogRecord): number => Date.parse(record.time);

describe('a provider program in a crash loop', () => {
  let dir: TempDir;
  let web: ServingHost;
  let control: ControlSession | undefined;
  let load: HttpLoad | undefined;

  before(async () => {
    dir = await tempDir();
    web = await startHelloHost({
      dir: dir.path,
      appName: 'web',
      label: 'web',
      instances: 2,
      env: LIMITS,
      args: ['--log-format', 'json'],
    });
    control = await controlOverLocalEndpoint(web.host, { scatterMs: 500, timeoutMs: 10_000 });
  });

  after(async () => {
    await load?.stop();
    await control?.close();
    await web?.host.stop();
    killAll();
    await dir?.remove();
  });

  it('restarts it on the backoff schedule, capped, while the host stays healthy, its log bounded and no process left over', async (t) => {
    const { client } = control as ControlSession;
    const host = web.host;
    const hostId = host.hostId();
    const baseline = await settledResources(host.pid);

    load = startHttpLoad(web.url, { concurrency: 1, pauseMs: 20, checkBody: isHello });
    const logFrom = host.log.length;
    const started = await runCirrus(['start', 'provider', hostId, pathToFileURL(FIXTURE).href, PROVIDER_ID], {
      dir: dir.path,
    });
    assert.equal(started.code, 0, started.stderr);
    const up = await host.waitForRecord(
      (r) => r.msg === 'provider started' && r['provider'] === PROVIDER_ID,
      30_000,
      'the provider to come up the first time',
      logFrom,
    );

    // The window: probe the host's health and its children while the provider crashes and restarts.
    const windowEnd = at(up) + WINDOW_MS;
    const pingMs: number[] = [];
    const zombiesSeen = new Map<number, number>();
    let mostProviders = 0;
    const cliHosts = runCirrus(['get', 'hosts', '--output', 'json', '--timeout', '1000'], { dir: dir.path });
    // Awaited after the window; a failure in the window must not leave its rejection unhandled.
    cliHosts.catch(() => undefined);
    while (Date.now() < windowEnd) {
      const pingStarted = performance.now();
      const hosts = await withDeadline(client.pingHosts(), 5000, 'host.ping during the crash loop');
      pingMs.push(Math.round(performance.now() - pingStarted));
      assert.deepEqual(
        hosts.map((h) => h.id),
        [hostId],
        'the host answers host.ping',
      );
      const children = await childProcesses(host.pid);
      const providers = children.filter((p) => p.command.includes(FIXTURE) && p.state !== 'Z');
      mostProviders = Math.max(mostProviders, providers.length);
      // Between a child's exit and its parent's reaping it is a zombie for a moment; one that is
      // still a zombie a probe later was never reaped.
      for (const [pid, seenAt] of zombiesSeen) {
        if (children.some((p) => p.pid === pid && p.state === 'Z')) {
          assert.fail(
            `child ${pid} of the host is still a zombie ${Date.now() - seenAt} ms after it was seen`,
          );
        }
        zombiesSeen.delete(pid);
      }
      for (const zombie of children.filter((p) => p.state === 'Z')) zombiesSeen.set(zombie.pid, Date.now());
      assert.equal(host.exit, undefined, 'the host is running');
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
    }
    const listed = await cliHosts;
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(
      (JSON.parse(listed.stdout) as HostInfo[]).map((h) => h.id),
      [hostId],
      'cirrus get hosts lists the host during the crash loop',
    );

    await client.stopProvider({ hostId, providerId: PROVIDER_ID });
    const stopped = await host.waitForRecord(
      (r) => r.msg === 'provider stopped' && r['provider'] === PROVIDER_ID,
      10_000,
      'the provider to be stopped',
      logFrom,
    );
    const logTo = host.log.length;
    const report = await load.stop();
    load = undefined;

    // --- what was left behind ---
    const leftovers = await processesRunning(FIXTURE);
    assert.deepEqual(leftovers, [], 'no process of the provider remains');
    assert.deepEqual(
      (await childProcesses(host.pid)).filter((p) => p.state === 'Z'),
      [],
      'no zombie child of the host',
    );
    assert.ok(mostProviders <= 1, `at most one provider process at a time (saw ${mostProviders})`);
    const settled = await resourcesReturnTo(host.pid, baseline);
    assert.deepEqual(
      [settled.fds, settled.threads],
      [baseline.fds, baseline.threads],
      'the host has the fds and threads it had before the provider started',
    );

    // --- the restart schedule, from the host's log ---
    const records = host
      .records(logFrom)
      .filter((r) => r['provider'] === PROVIDER_ID && at(r) <= at(stopped));
    const scheduled = records.filter((r) => SCHEDULING.has(r.msg));
    const spawns = records.filter((r) => r.msg === 'provider process started');
    const pauses = scheduled.map((r) => r['restart_in_ms']);
    t.diagnostic(
      `${scheduled.length} restarts scheduled in ${at(stopped) - at(up)} ms; pauses: ${pauses.join(', ')}`,
    );
    assert.deepEqual(
      pauses,
      scheduled.map((_, n) => expectedPause(n)),
      'the pause doubles from the minimum and stays at the maximum',
    );
    assert.ok(
      pauses.filter((p) => p === MAX_DELAY_MS).length >= 3,
      'the loop ran long enough to reach the cap',
    );

    // Each pause is kept: the next process is spawned no earlier than announced, and not much later.
    const lateness: number[] = [];
    for (const [n, record] of scheduled.entries()) {
      const next = spawns.find((s) => at(s) >= at(record));
      if (next === undefined) continue; // stopped during this pause
      const late = at(next) - at(record) - expectedPause(n);
      lateness.push(late);
      // Log times have millisecond resolution: a pause kept exactly may look 1 ms short.
      assert.ok(
        late >= -1,
        `restart ${n + 1} came ${-late} ms before its ${expectedPause(n)} ms pause ended`,
      );
      assert.ok(late <= LATENESS_MS, `restart ${n + 1} came ${late} ms after its pause ended`);
    }
    t.diagnostic(
      `restart lateness: max ${Math.max(...lateness)} ms, total ${lateness.reduce((a, b) => a + b, 0)} ms`,
    );

    // How long a process lives, spawn to exit; with the pauses it predicts the number of restarts.
    const lifetimes = scheduled.map((record) => {
      const spawn = spawns.filter((s) => at(s) <= at(record)).at(-1);
      return spawn === undefined ? 0 : at(record) - at(spawn);
    });
    const typicalLife = [...lifetimes].sort((a, b) => a - b)[Math.floor(lifetimes.length / 2)] ?? 0;
    let predicted = 0;
    for (let elapsed = typicalLife; elapsed <= at(stopped) - at(up); predicted++) {
      elapsed += expectedPause(predicted) + typicalLife;
    }
    t.diagnostic(
      `process lifetime: median ${typicalLife} ms, max ${Math.max(...lifetimes)} ms; restarts predicted ${predicted}, seen ${scheduled.length}`,
    );
    assert.ok(
      Math.abs(scheduled.length - predicted) <= 2,
      `restarts seen (${scheduled.length}) match the schedule's prediction (${predicted})`,
    );

    // --- the host's log stays proportionate ---
    const lines = host.log.slice(logFrom, logTo);
    const bytes = lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0);
    const perRestart = lines.length / scheduled.length;
    t.diagnostic(
      `host log: ${lines.length} lines, ${bytes} bytes over ${scheduled.length} restarts (${perRestart.toFixed(1)} lines, ${Math.round(bytes / scheduled.length)} bytes each)`,
    );
    assert.ok(perRestart <= MAX_LINES_PER_RESTART, `${perRestart.toFixed(1)} log lines per restart`);
    assert.ok(
      bytes / scheduled.length <= MAX_BYTES_PER_RESTART,
      `${bytes / scheduled.length} log bytes per restart`,
    );

    // --- the host stayed healthy ---
    t.diagnostic(`host.ping: ${pingMs.length} answered, slowest ${Math.max(...pingMs)} ms`);
    t.diagnostic(`HTTP during the loop: ${describeLoad(report)}`);
    assert.equal(report.failed, 0, `failed requests: ${report.firstFailure}`);
    assert.ok(report.ok > 0);
  });
});
