/**
 * The NATS adapter against a real nats-server started by the test (JetStream, websocket, random
 * ports): the shared contract suite, then what only a network has — server restarts, credentials,
 * unreachable servers — and the test kit itself.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as natsConnect, nkeys } from '@nats-io/transport-node';
import type { NatsServer } from '@cirrus/testing';
import { startNatsServer, take, waitFor, withDeadline } from '@cirrus/testing';
import { encodeText } from '@cirrus/lattice';
import { latticeContract } from '@cirrus/lattice/contract';
import type { NatsLatticeConnection, NatsStatus } from '../src/index.ts';
import { connectNats } from '../src/index.ts';

/** Short reconnect pauses keep restart tests fast; the defaults are for production. */
const FAST = { natsReconnectWaitMs: 50, natsPingIntervalMs: 1_000 } as const;

const unique = (): string => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

/** Resolves on the first status event of `type`; start it before causing the event. */
async function nextStatus(conn: NatsLatticeConnection, type: NatsStatus['type'], ms: number): Promise<void> {
  const events = conn.status()[Symbol.asyncIterator]();
  try {
    await withDeadline(
      (async () => {
        for (;;) {
          const next = await events.next();
          if (next.done === true) throw new Error(`connection closed before a ${type} event`);
          if (next.value.type === type) return;
        }
      })(),
      ms,
      `a ${type} status event`,
    );
  } finally {
    await events.return?.();
  }
}

/** Records every status event of `conn` from now until `stop()`. */
function collect(conn: NatsLatticeConnection): { stop: () => NatsStatus[] } {
  const seen: NatsStatus[] = [];
  const events = conn.status()[Symbol.asyncIterator]();
  void (async () => {
    for (let next = await events.next(); next.done !== true; next = await events.next())
      seen.push(next.value);
  })();
  return {
    stop: () => {
      void events.return?.();
      return seen;
    },
  };
}

latticeContract('NATS', async () => {
  const server = await startNatsServer();
  return {
    connect: () => connectNats({ servers: server.url, limits: FAST }),
    teardown: () => server.stop(),
  };
});

describe('NATS adapter on a restarting server', () => {
  let server: NatsServer;
  let a: NatsLatticeConnection;
  let b: NatsLatticeConnection;

  before(async () => {
    server = await startNatsServer();
    a = await connectNats({ servers: server.url, name: 'a', limits: FAST });
    b = await connectNats({ servers: server.url, name: 'b', limits: FAST });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await server?.stop();
  });

  it('keeps a subscription, a key-value value and a watch across a server restart', async () => {
    const subject = `${unique()}.evt`;
    const sub = b.subscribe(subject);
    const kv = await a.kv(`LATTICEDATA_${unique()}`);
    await kv.put('COMPONENT_x', encodeText('before'));
    const watch = await (await b.kv(kv.name)).watch();
    await withDeadline(watch.replayed, 5_000, 'watch replay');
    const [replayedEntry] = await take(watch, 1, 5_000, 'replayed entry');
    assert.equal(replayedEntry?.string(), 'before');
    await b.flush();
    a.publish(subject, encodeText('1'));
    assert.deepEqual(
      (await take(sub, 1, 5_000, 'message before restart')).map((m) => m.string()),
      ['1'],
    );

    const aBack = nextStatus(a, 'reconnected', 15_000);
    const bBack = nextStatus(b, 'reconnected', 15_000);
    await server.restart();
    await Promise.all([aBack, bBack]);
    assert.equal(a.connected, true);

    await b.flush();
    a.publish(subject, encodeText('2'));
    assert.deepEqual(
      (await take(sub, 1, 5_000, 'message after restart')).map((m) => m.string()),
      ['2'],
    );
    assert.equal((await kv.get('COMPONENT_x'))?.string(), 'before', 'the store survived the restart');

    await kv.put('COMPONENT_x', encodeText('after'));
    const [live] = await take(watch, 1, 20_000, 'watch entry after restart');
    assert.equal(live?.string(), 'after');
    watch.stop();
    sub.unsubscribe();
  });

  it('answers requests again after a restart', async () => {
    const subject = `${unique()}.echo`;
    const sub = b.subscribe(subject, { callback: (m) => m.respond(m.data) });
    await b.flush();
    const aBack = nextStatus(a, 'reconnected', 15_000);
    const bBack = nextStatus(b, 'reconnected', 15_000);
    await server.restart();
    await Promise.all([aBack, bBack]);
    await b.flush();
    const reply = await a.request(subject, encodeText('again'), { timeoutMs: 2_000 });
    assert.equal(reply.string(), 'again');
    sub.unsubscribe();
  });

  it('reports a restart as disconnected, numbered reconnect attempts, then reconnected with the time it was down', async () => {
    const events = collect(a);
    const back = nextStatus(a, 'reconnected', 15_000);
    await server.restart();
    await back;
    const seen = events.stop();
    const server0 = `127.0.0.1:${server.port}`;
    assert.deepEqual(seen[0], { type: 'disconnected', server: server0 });
    const attempts = seen.filter((e) => e.type === 'reconnecting');
    assert.deepEqual(
      attempts.map((e) => e.attempt),
      attempts.map((_, i) => i + 1),
    );
    const last = seen.at(-1);
    assert.equal(last?.type, 'reconnected');
    if (last?.type === 'reconnected') {
      assert.equal(last.server, server0);
      assert.equal(last.attempts, attempts.length);
      assert.ok(last.downMs > 0);
    }
  });

  it('creates key-value buckets in the wasmCloud layout: stream KV_<bucket>, history 1, file storage', async () => {
    const name = `CONFIGDATA_${unique()}`;
    const kv = await a.kv(name);
    await kv.put('cfg', encodeText('{}'));
    const nc = await natsConnect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info(`KV_${name}`);
      assert.deepEqual(info.config.subjects, [`$KV.${name}.>`]);
      assert.equal(info.config.max_msgs_per_subject, 1);
      assert.equal(info.config.storage, 'file');
      assert.equal(info.config.num_replicas, 1);
    } finally {
      await nc.close();
    }
  });
});

describe('NATS adapter while the server is unreachable', () => {
  it('notices a server that stops answering through its pings, and comes back when it answers again', async () => {
    await using server = await startNatsServer();
    const conn = await connectNats({
      servers: server.url,
      limits: { natsPingIntervalMs: 200, natsMaxPingsOut: 2, natsReconnectWaitMs: 50 },
    });
    try {
      const stale = nextStatus(conn, 'stale', 5_000);
      // A stopped process keeps its sockets open but answers nothing: only pings can tell.
      process.kill(server.pid, 'SIGSTOP');
      try {
        await stale;
        assert.equal(conn.connected, false);
      } finally {
        process.kill(server.pid, 'SIGCONT');
      }
      await nextStatus(conn, 'reconnected', 10_000);
      await conn.flush();
    } finally {
      await conn.close();
    }
  });

  it('reports a server entering lame-duck mode, naming it', async () => {
    // Lame-duck mode holds off SIGTERM; the server is killed right after the test instead.
    await using server = await startNatsServer({ config: 'lame_duck_grace_period: 10s', stopTimeoutMs: 200 });
    const conn = await connectNats({ servers: server.url, limits: FAST });
    try {
      const events = collect(conn);
      const ldm = nextStatus(conn, 'lameDuck', 5_000);
      // nats-server enters lame-duck mode on SIGUSR2 and tells its clients at once.
      process.kill(server.pid, 'SIGUSR2');
      await ldm;
      assert.deepEqual(events.stop()[0], { type: 'lameDuck', server: `127.0.0.1:${server.port}` });
    } finally {
      await conn.close();
    }
  });

  it('fails requests and flush at their deadlines while the server is gone, and buffers publishes', async () => {
    const server = await startNatsServer();
    const conn = await connectNats({
      servers: server.url,
      limits: { ...FAST, latticeRequestTimeoutMs: 300 },
    });
    try {
      const gone = nextStatus(conn, 'disconnected', 5_000);
      await server.stop();
      await gone;
      assert.doesNotThrow(() => conn.publish('a.b', encodeText('buffered')));
      await assert.rejects(conn.request('a.b', encodeText('x'), { timeoutMs: 200 }), (err) => {
        assert.equal(codeOf(err), 'REQUEST_TIMEOUT');
        return true;
      });
      const started = Date.now();
      await assert.rejects(conn.flush(), (err) => codeOf(err) === 'REQUEST_TIMEOUT');
      assert.ok(Date.now() - started < 2_000, 'flush gives up at the request deadline');
    } finally {
      await conn.close();
    }
  });

  it('reports KV_UNAVAILABLE when the server has no JetStream', async () => {
    await using server = await startNatsServer({ config: 'jetstream: disabled' });
    const conn = await connectNats({ servers: server.url });
    try {
      await assert.rejects(conn.kv('LATTICEDATA_default'), (err: Error) => {
        assert.equal(codeOf(err), 'KV_UNAVAILABLE');
        assert.match(err.message, /JetStream/);
        return true;
      });
    } finally {
      await conn.close();
    }
  });

  it('ends a scatter request as soon as the server says nobody listens', async () => {
    await using server = await startNatsServer();
    const conn = await connectNats({ servers: server.url });
    try {
      const started = Date.now();
      const replies: unknown[] = [];
      for await (const m of conn.requestMany(`${unique()}.nobody`, undefined, { maxWaitMs: 5_000 }))
        replies.push(m);
      assert.deepEqual(replies, []);
      assert.ok(Date.now() - started < 2_000, 'no need to wait out maxWaitMs');
    } finally {
      await conn.close();
    }
  });
});

describe('NATS connection errors and credentials', () => {
  it('fails with LATTICE_CONNECT_FAILED naming the address when no server listens', async () => {
    const server = await startNatsServer();
    const url = server.url;
    await server.stop();
    await assert.rejects(
      connectNats({ servers: url, limits: { natsConnectTimeoutMs: 1_000 } }),
      (err: Error) => {
        assert.equal(codeOf(err), 'LATTICE_CONNECT_FAILED');
        assert.match(err.message, new RegExp(url.replace(/[.]/g, '\\.')));
        return true;
      },
    );
  });

  it('connects with a token, and refuses a wrong one with LATTICE_AUTH_FAILED', async () => {
    await using server = await startNatsServer({ config: 'authorization { token: "s3cret" }' });
    const conn = await connectNats({ servers: server.url, credentials: { type: 'token', token: 's3cret' } });
    const kv = await conn.kv(`B_${unique()}`);
    await kv.put('k', encodeText('v'));
    await conn.close();
    await assert.rejects(
      connectNats({ servers: server.url, credentials: { type: 'token', token: 'wrong' } }),
      (err) => codeOf(err) === 'LATTICE_AUTH_FAILED',
    );
    await assert.rejects(
      connectNats({ servers: server.url }),
      (err) => codeOf(err) === 'LATTICE_AUTH_FAILED',
    );
  });

  it('connects with user and password, and refuses a wrong password with LATTICE_AUTH_FAILED', async () => {
    await using server = await startNatsServer({
      config: 'authorization { users: [ { user: "host", password: "pw" } ] }',
    });
    const conn = await connectNats({
      servers: server.url,
      credentials: { type: 'user', user: 'host', password: 'pw' },
    });
    await conn.flush();
    await conn.close();
    await assert.rejects(
      connectNats({ servers: server.url, credentials: { type: 'user', user: 'host', password: 'nope' } }),
      (err) => codeOf(err) === 'LATTICE_AUTH_FAILED',
    );
  });

  it('connects as an nkey user by signing the server nonce with the seed', async () => {
    const user = nkeys.createUser();
    const other = nkeys.createUser();
    await using server = await startNatsServer({
      config: `authorization { users: [ { nkey: "${user.getPublicKey()}" } ] }`,
    });
    const seedOf = (pair: typeof user): string => new TextDecoder().decode(pair.getSeed());
    const conn = await connectNats({
      servers: server.url,
      credentials: { type: 'nkey', seed: seedOf(user) },
    });
    await conn.flush();
    await conn.close();
    await assert.rejects(
      connectNats({ servers: server.url, credentials: { type: 'nkey', seed: seedOf(other) } }),
      (err) => codeOf(err) === 'LATTICE_AUTH_FAILED',
    );
  });

  it('fails at once with LATTICE_CONNECT_REFUSED and the server’s words when it is at max_connections', async () => {
    await using server = await startNatsServer({ config: 'max_connections: 1' });
    const first = await connectNats({ servers: server.url });
    try {
      const started = performance.now();
      await assert.rejects(connectNats({ servers: server.url }), (err: Error) => {
        assert.equal(codeOf(err), 'LATTICE_CONNECT_REFUSED');
        assert.match(err.message, /refused the connection: maximum connections exceeded$/);
        return true;
      });
      // Before, nats.js waited out its 5 s connect timeout and reported only "timeout".
      assert.ok(performance.now() - started < 1_000, 'not at the connect timeout');
      await first.flush();
    } finally {
      await first.close();
    }
  });

  it('reports an Authentication Timeout as LATTICE_CONNECT_REFUSED, not as refused credentials', async () => {
    // A server that answers every CONNECT as an overloaded server would: too late.
    const fake = createServer((socket) => {
      socket.on('error', () => {});
      socket.write(
        `INFO ${JSON.stringify({ server_id: 'FAKE', version: '2.10.0', proto: 1, auth_required: true, max_payload: 1024 })}\r\n`,
      );
      socket.once('data', () => socket.end("-ERR 'Authentication Timeout'\r\n"));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = fake.address() as AddressInfo;
      await assert.rejects(
        connectNats({ servers: `nats://127.0.0.1:${port}`, credentials: { type: 'token', token: 'tok' } }),
        (err: Error & { hint?: string }) => {
          assert.equal(codeOf(err), 'LATTICE_CONNECT_REFUSED');
          assert.match(err.message, /refused the connection: Authentication Timeout$/);
          assert.match(err.hint ?? '', /in time/);
          return true;
        },
      );
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  it('rejects limits out of range with INVALID_LIMIT before connecting', async () => {
    await assert.rejects(
      connectNats({ servers: 'nats://127.0.0.1:1', limits: { natsPingIntervalMs: 0 } }),
      (err) => codeOf(err) === 'INVALID_LIMIT',
    );
  });
});

describe('startNatsServer (test kit)', () => {
  it('starts on free ports from the ports file, restarts on the same ports and store, and cleans up', async () => {
    const server = await startNatsServer();
    assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.match(server.wsUrl, /^ws:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(server.port, 0);
    assert.notEqual(server.wsPort, 0);
    assert.ok(existsSync(server.storeDir));
    const { port, wsPort, storeDir } = server;
    const firstPid = server.pid;

    const conn = await connectNats({ servers: server.url, limits: FAST });
    const kv = await conn.kv(`K_${unique()}`);
    await kv.put('k', encodeText('kept'));
    const back = nextStatus(conn, 'reconnected', 15_000);
    await server.restart();
    await back;
    assert.notEqual(server.pid, firstPid);
    assert.deepEqual([server.port, server.wsPort, server.storeDir], [port, wsPort, storeDir]);
    const config = await readFile(server.configFile, 'utf8');
    assert.ok(config.includes(`127.0.0.1:${port}`), 'the learned client port is written into the config');
    assert.equal((await kv.get('k'))?.string(), 'kept');
    await conn.close();

    const lastPid = server.pid;
    await server.stop();
    assert.equal(existsSync(storeDir), false, 'the store directory is removed');
    assert.equal(existsSync(server.configFile), false, 'the config file is removed');
    await waitFor(
      () => {
        try {
          process.kill(lastPid, 0);
          return false;
        } catch {
          return true;
        }
      },
      5_000,
      'the server process to be gone',
    );
    await server.stop(); // idempotent
  });

  it('serves websocket clients on wsUrl', async () => {
    await using server = await startNatsServer();
    const socket = new WebSocket(server.wsUrl);
    socket.binaryType = 'arraybuffer';
    try {
      // The server speaks first: its INFO line is the proof that NATS answers on the websocket.
      const first = await withDeadline(
        new Promise<string>((resolve, reject) => {
          socket.addEventListener(
            'message',
            (event) => resolve(new TextDecoder().decode(event.data as ArrayBuffer)),
            { once: true },
          );
          socket.addEventListener('error', () => reject(new Error('websocket error')), { once: true });
        }),
        5_000,
        'INFO over the websocket',
      );
      assert.match(first, /^INFO /);
    } finally {
      socket.close();
    }
  });

  it('names the install script when the binary is missing', async () => {
    await assert.rejects(startNatsServer({ binary: '/nonexistent/nats-server' }), /scripts\/ensure-deps\.ts/);
  });

  it('reports the server output when the configuration is bad', async () => {
    await assert.rejects(startNatsServer({ config: 'this is { not valid' }), /did not start/);
  });
});
