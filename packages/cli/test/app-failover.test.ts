/**
 * Four `cirrus up` processes, two per zone, on a real nats-server run an application: a component
 * spread 2:1 over the two zones, a daemon provider, a link and its config. The host holding the manager's lease, with a
 * replica, is killed with SIGKILL; another host takes the lease over and the application is
 * deployed again within three heartbeat intervals. An undeploy then leaves nothing on any host.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { shopManifest, startNatsServer, tempDir, waitFor } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CIRRUS = join(ROOT, 'packages/cli/bin/cirrus.js');
const HELLO = pathToFileURL(join(ROOT, 'examples/hello/build/hello.wasm')).href;
const LATTICE = 'failover';
const HEARTBEAT_S = 2;

const MANIFEST = shopManifest(HELLO);

interface Proc {
  name: string;
  child: ChildProcess;
  log: string[];
  exited: Promise<void>;
}

describe('applications survive the loss of the managing host', { timeout: 180_000 }, () => {
  let nats: NatsServer;
  let dir: TempDir;
  let client: NatsLatticeConnection;
  const procs: Proc[] = [];

  before(async () => {
    nats = await startNatsServer();
    dir = await tempDir();
    client = await connectNats({ servers: nats.url, name: 'test' });
  });

  after(async () => {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
    await client.close();
    await nats.stop();
    await dir.remove();
  });

  const start = async (name: string, zone: string): Promise<Proc> => {
    const child = spawn(
      process.execPath,
      [
        CIRRUS,
        'up',
        '--nats',
        nats.url,
        '--lattice',
        LATTICE,
        '--name',
        name,
        '--label',
        `zone=${zone}`,
        '--heartbeat-interval',
        String(HEARTBEAT_S),
        '--log-format',
        'json',
      ],
      {
        env: {
          ...process.env,
          CIRRUS_CACHE_DIR: join(dir.path, 'cache'),
          CIRRUS_STATE_DIR: join(dir.path, name),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const log: string[] = [];
    child.stderr?.on('data', (chunk: Buffer) => log.push(...chunk.toString().split('\n').filter(Boolean)));
    const out: string[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const proc = { name, child, log, exited };
    procs.push(proc);
    await waitFor(() => (out.join('').includes('is up on lattice') ? true : undefined), 60_000, `${name} up`);
    return proc;
  };

  const api = async (op: string, body?: string): Promise<Record<string, unknown> | undefined> => {
    try {
      const data = body === undefined ? undefined : new TextEncoder().encode(body);
      return (await client.request(`wadm.api.${LATTICE}.${op}`, data, { timeoutMs: 5_000 })).json();
    } catch {
      // No manager answers while the lease changes hands.
      return undefined;
    }
  };

  const statusType = async (): Promise<string | undefined> =>
    ((await api('model.status.shop'))?.['status'] as { status: { type: string } } | undefined)?.status.type;

  /** Component instances and providers per host friendly name (every running host answers). */
  const placement = async (): Promise<Record<string, { api: number; kv: boolean }>> => {
    const out: Record<string, { api: number; kv: boolean }> = {};
    for await (const reply of client.requestMany(`wasmbus.ctl.v1.${LATTICE}.host.ping`, undefined, {
      maxWaitMs: 2_000,
      maxMessages: procs.length,
    })) {
      const { id, friendly_name: name } = reply.json<{ response: { id: string; friendly_name: string } }>()
        .response;
      const inventory = (
        await client.request(`wasmbus.ctl.v1.${LATTICE}.host.get.${id}`, undefined, { timeoutMs: 5_000 })
      ).json<{
        response: { components: { id: string; max_instances: number }[]; providers: { id: string }[] };
      }>().response;
      out[name] = {
        api: inventory.components.find((c) => c.id === 'shop-api')?.max_instances ?? 0,
        kv: inventory.providers.some((p) => p.id === 'shop-kv'),
      };
    }
    return out;
  };

  it('places the replicas where the weights say, and reports deployed', async () => {
    await start('east-1', 'east');
    await start('east-2', 'east');
    await start('west-1', 'west');
    await start('west-2', 'west');
    assert.equal((await api('model.put', MANIFEST))?.['result'], 'created');
    assert.equal((await api('model.deploy.shop'))?.['result'], 'acknowledged');
    await waitFor(async () => ((await statusType()) === 'deployed' ? true : undefined), 90_000, 'deployed');
    // A pass ends its ping once the hosts the manager knows have answered, so a host it has not heard
    // from yet may join a pass later: the first placement can put both east replicas on one host and
    // the next moves one over, and the daemon provider reaches a late host later. What must hold is
    // where everything settles.
    const settled = (p: Record<string, { api: number; kv: boolean }>): boolean =>
      p['east-1']?.api === 1 &&
      p['east-2']?.api === 1 &&
      (p['west-1']?.api ?? 0) + (p['west-2']?.api ?? 0) === 1 &&
      ['east-1', 'east-2', 'west-1', 'west-2'].every((name) => p[name]?.kv === true);
    let placed = await placement();
    placed = await waitFor(
      async () => (settled((placed = await placement())) ? placed : undefined),
      30_000,
      'the replicas and the provider to settle',
    ).catch(() => placed);
    assert.deepEqual(
      [placed['east-1'], placed['east-2']],
      [
        { api: 1, kv: true },
        { api: 1, kv: true },
      ],
    );
    assert.equal((placed['west-1']?.api ?? 0) + (placed['west-2']?.api ?? 0), 1);
    assert.ok(placed['west-1']?.kv === true && placed['west-2']?.kv === true);
  });

  it('SIGKILL of the managing host: deployed again within three heartbeat intervals', async (t) => {
    const isActive = (p: Proc): boolean => {
      const last = p.log.findLast(
        (l) => l.includes('application manager active') || l.includes('standing by'),
      );
      return last?.includes('application manager active') === true;
    };
    const holder = procs.find(isActive);
    assert.ok(holder !== undefined, 'one host holds the lease');
    const killedAt = performance.now();
    holder.child.kill('SIGKILL');
    await holder.exited;
    procs.splice(procs.indexOf(holder), 1);
    const zoneOf = (name: string): string => name.split('-')[0] as string;
    await waitFor(
      async () => {
        const placed = await placement();
        const names = Object.keys(placed);
        const inZone = (zone: string): number =>
          names.filter((n) => zoneOf(n) === zone).reduce((sum, n) => sum + (placed[n]?.api ?? 0), 0);
        const settled =
          names.length === 3 &&
          inZone('east') === 2 &&
          inZone('west') === 1 &&
          names.every((n) => placed[n]?.kv === true) &&
          (await statusType()) === 'deployed';
        return settled ? true : undefined;
      },
      60_000,
      'deployed again on the three hosts left',
    );
    const took = performance.now() - killedAt;
    t.diagnostic(`deployed again ${Math.round(took)} ms after the kill (heartbeat ${HEARTBEAT_S} s)`);
    assert.ok(took < 3 * HEARTBEAT_S * 1000, `deployed again ${Math.round(took)} ms after the kill`);
    assert.equal(procs.filter(isActive).length, 1, 'one host took the lease over');
  });

  it('undeploy leaves nothing the application created on any host', async () => {
    assert.equal((await api('model.undeploy.shop'))?.['result'], 'acknowledged');
    const links = async (): Promise<unknown[]> =>
      (await client.request(`wasmbus.ctl.v1.${LATTICE}.link.get`, undefined, { timeoutMs: 5_000 })).json<{
        response: unknown[];
      }>().response;
    const config = async (): Promise<Record<string, string>> =>
      (
        await client.request(`wasmbus.ctl.v1.${LATTICE}.config.get.shop-bucket`, undefined, {
          timeoutMs: 5_000,
        })
      ).json<{ response?: Record<string, string> }>().response ?? {};
    // Workloads, links and config go in passes of their own: what must hold is that all of them go.
    await waitFor(
      async () => {
        const placed = await placement();
        if (!Object.values(placed).every((p) => p.api === 0 && !p.kv)) return undefined;
        return (await links()).length === 0 && Object.keys(await config()).length === 0 ? true : undefined;
      },
      60_000,
      'nothing left',
    );
    assert.deepEqual(await links(), []);
    assert.deepEqual(await config(), {});
  });
});
