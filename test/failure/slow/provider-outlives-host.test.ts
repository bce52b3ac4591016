/**
 * A host killed with SIGKILL cannot stop its provider processes: nothing tells them that their host
 * is gone. On the embedded lattice they lose their lattice with the host (its local endpoint) and
 * can never serve again; on NATS they keep serving, supervised by nobody, and a host started in the
 * dead one's place would start a second copy beside them.
 *
 * The host keeps each provider's stdin open after writing HostData, and @cirrus/provider-sdk stops
 * the provider when its stdin ends, which happens however the host dies: the provider process of a
 * host killed with SIGKILL exits within 5 s, on either lattice.
 *
 * Measured (test diagnostics): how long the provider process outlived its host.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { killAll, listProcesses, ROOT, runCirrus, startCirrusUp } from '../support.ts';
import type { CirrusProcess } from '../support.ts';

const GREETER = join(ROOT, 'examples/greeter-provider/src/main.ts');
const ORPHAN_DEADLINE_MS = 5000;

describe('a provider process whose host is killed with SIGKILL', () => {
  let dir: TempDir;
  let nats: NatsServer;
  const hosts: CirrusProcess[] = [];

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
  });

  after(async () => {
    // Each host's process group holds its provider processes, orphaned or not.
    await Promise.all(hosts.map((host) => host.stop()));
    killAll();
    await nats?.stop();
    await dir?.remove();
  });

  for (const lattice of ['embedded', 'nats'] as const) {
    it(`exits within ${ORPHAN_DEADLINE_MS / 1000} s on the ${lattice} lattice`, async (t) => {
      const natsArgs = lattice === 'nats' ? ['--nats', nats.url, '--lattice', 'orphans'] : [];
      const hostDir = join(dir.path, lattice);
      const host = await startCirrusUp({
        dir: hostDir,
        args: ['--log-format', 'json', ...natsArgs],
        label: lattice,
      });
      hosts.push(host);
      const started = await runCirrus(
        ['start', 'provider', host.hostId(), pathToFileURL(GREETER).href, 'greeter', ...natsArgs],
        { dir: hostDir },
      );
      assert.equal(started.code, 0, started.stderr);
      const spawned = await host.waitForRecord(
        (r) => r.msg === 'provider process started' && r['provider'] === 'greeter',
        30_000,
        'the provider process',
      );
      await host.waitForRecord((r) => r.msg === 'provider started', 30_000, 'the provider to be up');
      const pid = spawned['pid'] as number;
      // The pid alone could be reused by then; the command line says it is still our provider.
      const running = async (): Promise<boolean> =>
        (await listProcesses()).some((p) => p.pid === pid && p.command.includes(GREETER) && p.state !== 'Z');
      assert.ok(await running(), 'the provider process runs');

      host.signal('SIGKILL');
      await withDeadline(host.exited, 5000, 'the host to die');
      const killed = performance.now();
      const outlived = await waitFor(
        async () => !(await running()),
        ORPHAN_DEADLINE_MS,
        'the provider process to exit',
        100,
      )
        .then(() => `${Math.round(performance.now() - killed)} ms`)
        .catch(() => `more than ${ORPHAN_DEADLINE_MS} ms`);
      t.diagnostic(`the provider process outlived its host by ${outlived}`);
      assert.equal(await running(), false, `provider process ${pid} still runs after its host was killed`);
    });
  }
});
