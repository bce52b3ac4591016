/**
 * One active application manager per lattice: the lease in `cirrus_app_manager`, taken by one host,
 * handed over when that host stops, and taken over when its holder goes silent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import { resolveLimits, silentLogger } from '@cirrus/protocol';
import { waitFor } from '@cirrus/testing';
import { LEASE_BUCKET, startApplicationService } from '../src/index.ts';
import type { ApplicationService } from '../src/index.ts';

const LIMITS = resolveLimits({ appResyncIntervalMs: 60_000, appBackoffMs: 100, appBackoffMaxMs: 1_000 });

describe('application service lease', () => {
  it('one of three is active; a stopping holder hands over at once, a silent one within the lease', async () => {
    const lattice = createMemoryLattice();
    const connections = [lattice.connect(), lattice.connect(), lattice.connect()];
    const leaseMs = 400;
    const services: ApplicationService[] = [];
    for (const [i, connection] of connections.entries()) {
      services.push(
        await startApplicationService({
          connection,
          lattice: 'default',
          holderId: `host-${i}`,
          leaseMs,
          limits: LIMITS,
          logger: silentLogger,
        }),
      );
    }
    try {
      const activeCount = (): number => services.filter((s) => s.active).length;
      await waitFor(() => (activeCount() === 1 ? true : undefined), 5_000, 'one active manager');
      // Sampled for a while: never two at once.
      for (let i = 0; i < 20; i += 1) {
        assert.ok(activeCount() <= 1);
        await new Promise((r) => setTimeout(r, 20));
      }
      const first = services.findIndex((s) => s.active);
      const handedAt = performance.now();
      await services[first]?.stop();
      await waitFor(() => (activeCount() === 1 ? true : undefined), 5_000, 'a new active manager');
      const handover = performance.now() - handedAt;
      assert.ok(handover < leaseMs, `handed over in ${Math.round(handover)} ms`);

      // A holder that goes silent without handing over: its lease is rewritten by nobody.
      const second = services.findIndex((s) => s.active);
      const kv = await connections[0]?.kv(LEASE_BUCKET);
      const silencedAt = performance.now();
      await services[second]?.stop();
      // Put the lease back as the silent holder would have left it.
      await kv?.put('default', new TextEncoder().encode(JSON.stringify({ holder: `host-${second}` })));
      await waitFor(
        () => (services.some((s, i) => i !== first && i !== second && s.active) ? true : undefined),
        5_000,
        'the last host takes the stale lease over',
      );
      const takeover = performance.now() - silencedAt;
      assert.ok(
        takeover >= leaseMs * 0.9,
        `taken over after ${Math.round(takeover)} ms, not before the lease went stale`,
      );
      assert.ok(takeover < leaseMs * 2, `taken over after ${Math.round(takeover)} ms`);
    } finally {
      for (const service of services) await service.stop();
      for (const connection of connections) await connection.close();
    }
  });
});
