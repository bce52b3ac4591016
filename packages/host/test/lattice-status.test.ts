/**
 * What a host logs about its NATS connections: against a real nats-server that restarts (one line when
 * a connection drops, one when it is back, reconnect failures only as often as the throttle allows,
 * credentials never), and the throttle itself, fed status events on a clock the test moves.
 * Signals: the host's log lines as JSON records.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LatticeConnection, LatticeStatus } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { LatticeAuthFailedError, resolveLimits } from '@cirrus/protocol';
import type { LogFields, Logger } from '@cirrus/protocol';
import { startNatsServer, tempDir, waitFor } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { logLatticeStatus } from '../src/lattice-status.ts';
import { WITH_BUILTINS } from './support.ts';

interface Line extends LogFields {
  level: string;
  message: string;
}

function recordingLogger(lines: Line[], fields: LogFields = {}): Logger {
  const record =
    (level: string) =>
    (message: string, more: LogFields = {}): void => {
      lines.push({ level, message, ...fields, ...more });
    };
  return {
    debug: record('debug'),
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
    child: (more) => recordingLogger(lines, { ...fields, ...more }),
  };
}

const LOST = 'NATS connection lost; reconnecting';
const RESTORED = 'NATS connection restored';
const STILL_DOWN = 'NATS still unreachable; reconnect attempts keep failing';
const TOKEN = 'status-log-token-0123456789abcdef';
const INTERVAL_MS = 400;
/** How long the server stays unreachable after its restart in the throttle test. */
const OUTAGE_MS = 1_500;

/**
 * A TCP relay to `port` that can be closed (its connections cut and its port refusing) and opened
 * again on the same port.
 */
async function startRelay(
  port: number,
): Promise<{ url: string; port: number; close: () => void; open: () => Promise<void> }> {
  const pairs = new Set<Socket>();
  const relay = createServer((client) => {
    const upstream = tcpConnect({ host: '127.0.0.1', port });
    for (const socket of [client, upstream]) {
      pairs.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => {
        pairs.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const listen = (at: number): Promise<void> =>
    new Promise((resolve, reject) => {
      relay.once('error', reject);
      relay.listen(at, '127.0.0.1', () => {
        relay.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const relayPort = (relay.address() as AddressInfo).port;
  return {
    url: `nats://127.0.0.1:${relayPort}`,
    port: relayPort,
    close: () => {
      if (relay.listening) relay.close();
      for (const socket of pairs) socket.destroy();
    },
    open: () => listen(relayPort),
  };
}

describe('host log of its NATS connections across a server restart', () => {
  let dir: TempDir;
  let server: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  const hosts: Host[] = [];

  const connect = async (): Promise<NatsLatticeConnection> => {
    const conn = await connectNats({
      servers: server.url,
      credentials: { type: 'token', token: TOKEN },
      limits: { natsReconnectWaitMs: 20 },
    });
    connections.push(conn);
    return conn;
  };

  const start = async (
    lattice: LatticeConnection,
    controlLattice?: LatticeConnection,
  ): Promise<{ host: Host; lines: Line[] }> => {
    const lines: Line[] = [];
    const host = await createHost({
      ...WITH_BUILTINS,
      lattice,
      ...(controlLattice === undefined ? {} : { controlLattice }),
      cacheDir: dir.path,
      heartbeatIntervalMs: 0,
      logger: recordingLogger(lines),
      limits: resolveLimits({ natsStatusLogIntervalMs: INTERVAL_MS }),
    });
    hosts.push(host);
    return { host, lines };
  };

  const about = (lines: readonly Line[], message: string): Line[] =>
    lines.filter((line) => line.message === message);

  before(async () => {
    dir = await tempDir();
    server = await startNatsServer({ authorization: { token: TOKEN } });
  });

  after(async () => {
    for (const host of hosts) await host.stop();
    for (const conn of connections) await conn.close();
    await server.stop();
    await dir.remove();
  });

  it('logs one warning when the connection drops and one info line when it is back, reconnect failures at most once per interval, and no token', async () => {
    // The host reaches the server through a relay that stays closed for a while after the restart, so
    // that many reconnect attempts fail in a row.
    const relay = await startRelay(server.port);
    try {
      const conn = await connectNats({
        servers: relay.url,
        credentials: { type: 'token', token: TOKEN },
        limits: { natsReconnectWaitMs: 20 },
      });
      connections.push(conn);
      const { lines } = await start(conn);
      relay.close();
      await server.restart();
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
      await relay.open();
      const [restored] = await waitFor(
        () => {
          const found = about(lines, RESTORED);
          return found.length > 0 ? found : undefined;
        },
        20_000,
        'the connection back',
      );
      // Nothing more may come once the connection is back.
      await new Promise((resolve) => setTimeout(resolve, 2 * INTERVAL_MS));

      const lost = about(lines, LOST);
      assert.equal(lost.length, 1, JSON.stringify(lines));
      assert.equal(lost[0]?.level, 'warn');
      assert.equal(lost[0]?.['server'], `127.0.0.1:${relay.port}`);
      assert.equal(about(lines, RESTORED).length, 1);
      assert.equal(restored?.level, 'info');
      assert.equal(restored?.['server'], `127.0.0.1:${relay.port}`);
      const downMs = restored?.['down_ms'] as number;
      const attempts = restored?.['attempts'] as number;
      assert.ok(downMs >= OUTAGE_MS, JSON.stringify(restored));

      const stillDown = about(lines, STILL_DOWN);
      const shown = `${stillDown.length} lines for ${attempts} attempts over ${downMs} ms`;
      assert.ok(stillDown.length >= 1 && stillDown.length <= Math.floor(downMs / INTERVAL_MS), shown);
      assert.ok(attempts > 2 * stillDown.length, shown);
      for (const line of stillDown) {
        assert.equal(line.level, 'warn');
        assert.equal(line['server'], `127.0.0.1:${relay.port}`);
      }
      assert.ok(!JSON.stringify(lines).includes(TOKEN), 'the token is never logged');
    } finally {
      relay.close();
    }
  });

  it('names the control and RPC connections when they are separate, one drop and one return each', async () => {
    const { lines } = await start(await connect(), await connect());
    await server.restart();
    await waitFor(() => about(lines, RESTORED).length === 2, 20_000, 'both connections back');
    assert.deepEqual(
      about(lines, LOST)
        .map((line) => line['connection'])
        .sort(),
      ['control', 'rpc'],
    );
    assert.deepEqual(
      about(lines, RESTORED)
        .map((line) => line['connection'])
        .sort(),
      ['control', 'rpc'],
    );
  });

  it('stops logging once the host has stopped', async () => {
    const { host, lines } = await start(await connect());
    await host.stop();
    await server.restart();
    // The connection itself reports the restart; the stopped host says nothing about it.
    const conn = connections.at(-1) as NatsLatticeConnection;
    await waitFor(() => conn.connected, 20_000, 'the connection back');
    assert.deepEqual(about(lines, LOST), []);
  });
});

describe('host log of NATS status: the throttle', () => {
  /** A connection whose status events the test pushes, on a clock the test sets. */
  function fakeConnection(): { connection: LatticeConnection; push: (s: LatticeStatus) => Promise<void> } {
    const waiting: ((s: IteratorResult<LatticeStatus>) => void)[] = [];
    const queued: LatticeStatus[] = [];
    const iterator: AsyncIterator<LatticeStatus> = {
      next: () =>
        new Promise((resolve) => {
          const item = queued.shift();
          if (item === undefined) waiting.push(resolve);
          else resolve({ value: item, done: false });
        }),
    };
    const connection = {
      status: () => ({ [Symbol.asyncIterator]: () => iterator }),
    } as unknown as LatticeConnection;
    return {
      connection,
      push: async (s) => {
        const resolve = waiting.shift();
        if (resolve === undefined) queued.push(s);
        else resolve({ value: s, done: false });
        // Lets the logger's loop take the event before the test moves the clock.
        await new Promise((r) => setImmediate(r));
      },
    };
  }

  it('logs a lasting outage once per interval with the failed attempts, not once per attempt', async () => {
    const lines: Line[] = [];
    let now = 0;
    const { connection, push } = fakeConnection();
    logLatticeStatus([{ connection }], recordingLogger(lines), { intervalMs: 5_000, now: () => now });
    await push({ type: 'disconnected', server: '10.0.0.1:4222' });
    // 100 attempts, one every 100 ms: 10 s down.
    for (let attempt = 1; attempt <= 100; attempt++) {
      now = attempt * 100;
      await push({ type: 'reconnecting', attempt, downMs: now });
    }
    await push({ type: 'reconnected', server: '10.0.0.2:4222', downMs: 10_050, attempts: 100 });
    assert.deepEqual(
      lines.map((l) => [l.level, l.message, l['server'], l['failed_attempts'] ?? l['down_ms']]),
      [
        ['warn', LOST, '10.0.0.1:4222', undefined],
        ['warn', STILL_DOWN, '10.0.0.1:4222', 49],
        ['warn', STILL_DOWN, '10.0.0.1:4222', 99],
        ['info', RESTORED, '10.0.0.2:4222', 10_050],
      ],
    );
  });

  it('logs an error the server repeats once per interval, counting the ones left out', async () => {
    const lines: Line[] = [];
    let now = 0;
    const { connection, push } = fakeConnection();
    logLatticeStatus([{ connection }], recordingLogger(lines), { intervalMs: 1_000, now: () => now });
    const refused = new LatticeAuthFailedError('the NATS server at 127.0.0.1:4222 refused the token');
    for (let i = 0; i < 30; i++) {
      now = i * 100;
      await push({ type: 'error', error: refused });
    }
    assert.deepEqual(
      lines.map((l) => [l.level, l['errors_not_logged']]),
      [
        ['error', undefined],
        ['error', 9],
        ['error', 9],
      ],
    );
    assert.match(String(lines[0]?.['error']), /^LATTICE_AUTH_FAILED: /);
  });

  it('logs lame-duck mode and a stale connection as warnings naming the server', async () => {
    const lines: Line[] = [];
    const { connection, push } = fakeConnection();
    logLatticeStatus([{ connection }], recordingLogger(lines), { intervalMs: 1_000, now: () => 0 });
    await push({ type: 'lameDuck', server: '10.0.0.1:4222' });
    await push({ type: 'stale', server: '10.0.0.1:4222' });
    assert.deepEqual(
      lines.map((l) => [l.level, l['server']]),
      [
        ['warn', '10.0.0.1:4222'],
        ['warn', '10.0.0.1:4222'],
      ],
    );
    assert.match(lines[0]?.message ?? '', /lame-duck/);
    assert.match(lines[1]?.message ?? '', /stopped answering pings/);
  });
});
