/**
 * The local lattice endpoint as NATS clients see it: the real nats.js client, the Cirrus NATS adapter
 * and raw sockets against a memory lattice served on loopback. Signals: messages and replies crossing
 * between NATS clients and in-process connections, the exact bytes the endpoint writes back, and when
 * it closes a socket.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { connect, headers as natsHeaders, RequestError } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { take, waitFor, withDeadline } from '@cirrus/testing';
import { createMemoryLattice, encodeText } from '@cirrus/lattice';
import type { LatticeConnection, MemoryLattice, Msg } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import { serveLattice } from '../src/index.ts';
import type { LocalEndpoint, ServeLatticeOptions } from '../src/index.ts';
import { ClientProtocolParser } from '../src/local-endpoint-parser.ts';
import type { ClientOp } from '../src/local-endpoint-parser.ts';

const TOKEN = 'test-token-0123456789abcdefghij';
const unique = (): string => `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

/** A NATS client written by hand: sends raw protocol bytes and keeps everything it receives. */
class RawClient {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  #received = Buffer.alloc(0);

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#received = Buffer.concat([this.#received, chunk]);
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static async open(port: number): Promise<RawClient> {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      }),
      2000,
      'raw TCP connect',
    );
    return new RawClient(socket);
  }

  get text(): string {
    return this.#received.toString('utf8');
  }

  /** Everything after the INFO line. */
  get afterInfo(): string {
    const text = this.text;
    return text.slice(text.indexOf('\r\n') + 2);
  }

  send(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(data, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Waits until `what` has arrived `times` times in all. */
  async until(what: string, times = 1, ms = 2000): Promise<void> {
    await waitFor(
      () => this.text.split(what).length > times,
      ms,
      `${times} × ${JSON.stringify(what)} from the endpoint (got ${JSON.stringify(this.text.slice(-200))})`,
    );
  }

  /** CONNECT with the token (plus `fields`), then a PING/PONG round trip so the CONNECT was handled. */
  async handshake(fields: Record<string, unknown> = {}): Promise<void> {
    await this.until('\r\n');
    await this.send(
      `CONNECT ${JSON.stringify({ auth_token: TOKEN, verbose: false, ...fields })}\r\nPING\r\n`,
    );
    await this.until('PONG\r\n');
  }

  async closedWithin(ms: number, what: string): Promise<void> {
    await withDeadline(this.closed, ms, what);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

describe('local lattice endpoint: nats.js and in-process clients on one lattice', () => {
  let lattice: MemoryLattice;
  let endpoint: LocalEndpoint;
  let local: LatticeConnection;
  let nc: NatsConnection;

  before(async () => {
    lattice = createMemoryLattice({ maxPayload: 64 * 1024 });
    endpoint = await serveLattice(lattice, { token: TOKEN });
    local = lattice.connect();
    nc = await connect({ servers: endpoint.url, token: TOKEN, reconnect: false });
  });

  after(async () => {
    await nc.close();
    await endpoint.close();
    await lattice.close();
  });

  it('listens on loopback and advertises a nats:// URL', () => {
    assert.match(endpoint.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(endpoint.port > 0);
    assert.equal(endpoint.url, `nats://127.0.0.1:${endpoint.port}`);
  });

  it('delivers a nats.js publication with its headers to an in-process subscriber', async () => {
    const subject = `${unique()}.up`;
    const sub = local.subscribe(subject);
    const h = natsHeaders();
    h.set('source-id', 'alpha');
    nc.publish(subject, 'hello', { headers: h });
    const [msg] = await take(sub, 1, 2000, 'message from nats.js');
    assert.equal(msg?.string(), 'hello');
    assert.equal(msg?.subject, subject);
    assert.deepEqual(msg?.headers, { 'source-id': 'alpha' });
    sub.unsubscribe();
  });

  it('takes an empty header set (`HPUB … 0 n`, as nats.js sends it) as no headers, like nats-server', async () => {
    const subject = `${unique()}.empty`;
    const sub = local.subscribe(subject);
    nc.publish(subject, 'bare', { headers: natsHeaders() });
    const [msg] = await take(sub, 1, 2000, 'message with an empty header set');
    assert.equal(msg?.string(), 'bare');
    assert.equal(msg?.headers, undefined);
    assert.equal(nc.isClosed(), false);
    sub.unsubscribe();
  });

  it('delivers an in-process publication with its headers to a nats.js subscriber', async () => {
    const subject = `${unique()}.down`;
    const sub = nc.subscribe(subject);
    await nc.flush();
    local.publish(subject, encodeText('hi'), { headers: { trace: '1' } });
    local.publish(subject, encodeText('plain'));
    const got = await take(sub, 2, 2000, 'messages to nats.js');
    assert.deepEqual(
      got.map((m) => m.string()),
      ['hi', 'plain'],
    );
    assert.equal(got[0]?.headers?.get('trace'), '1');
    assert.equal(got[1]?.headers, undefined);
    sub.unsubscribe();
  });

  it('answers requests in both directions, with reply headers', async () => {
    const inProcess = `${unique()}.local`;
    const responder = local.subscribe(inProcess, {
      callback: (m) => m.respond(encodeText(`local:${m.string()}`), { headers: { answered: 'yes' } }),
    });
    const reply = await nc.request(inProcess, 'ping', { timeout: 2000 });
    assert.equal(reply.string(), 'local:ping');
    assert.equal(reply.headers?.get('answered'), 'yes');
    responder.unsubscribe();

    const remote = `${unique()}.remote`;
    const natsResponder = nc.subscribe(remote, {
      callback: (_err, m) => {
        m.respond(`nats:${m.string()}`);
      },
    });
    await nc.flush();
    const back = await local.request(remote, encodeText('pong'), { timeoutMs: 2000 });
    assert.equal(back.string(), 'nats:pong');
    natsResponder.unsubscribe();
  });

  it('shares a queue group between nats.js and in-process members: each message reaches one', async () => {
    const subject = `${unique()}.work`;
    const counts = { nats: 0, local: 0 };
    const remote = nc.subscribe(subject, {
      queue: 'workers',
      callback: () => {
        counts.nats++;
      },
    });
    const inProcess = local.subscribe(subject, { queue: 'workers', callback: () => counts.local++ });
    await nc.flush();
    for (let i = 0; i < 40; i++) local.publish(subject, encodeText(String(i)));
    await waitFor(() => counts.nats + counts.local === 40, 2000, '40 queue deliveries');
    await nc.flush();
    assert.equal(counts.nats + counts.local, 40);
    assert.ok(counts.nats > 0 && counts.local > 0, `both members got work (${counts.nats}/${counts.local})`);
    remote.unsubscribe();
    inProcess.unsubscribe();
  });

  it('fails a nats.js request at once with no responders when nothing subscribes', async () => {
    const started = Date.now();
    await assert.rejects(nc.request(`${unique()}.nobody`, 'x', { timeout: 5000 }), (err) => {
      assert.ok(err instanceof RequestError && err.isNoResponders(), String(err));
      return true;
    });
    assert.ok(Date.now() - started < 1000, `reported after ${Date.now() - started} ms, not at the timeout`);
  });

  it('ends a nats.js subscription with max after that many messages and releases it in the lattice', async () => {
    const subject = `${unique()}.max`;
    const before = lattice.subscriptionCount;
    const sub = nc.subscribe(subject, { max: 2 });
    await nc.flush();
    assert.equal(lattice.subscriptionCount, before + 1);
    for (let i = 0; i < 5; i++) local.publish(subject, encodeText(String(i)));
    const got: string[] = [];
    await withDeadline(
      (async () => {
        for await (const m of sub) got.push(m.string());
      })(),
      2000,
      'subscription end after max',
    );
    assert.deepEqual(got, ['0', '1']);
    await waitFor(() => lattice.subscriptionCount === before, 2000, 'lattice subscription released');
  });

  it('does not echo a message back to the noEcho client that sent it, but delivers it to others', async () => {
    const quiet = await connect({ servers: endpoint.url, token: TOKEN, noEcho: true, reconnect: false });
    try {
      const subject = `${unique()}.echo`;
      const own = quiet.subscribe(subject);
      const other = local.subscribe(subject);
      await quiet.flush();
      quiet.publish(subject, 'mine');
      await quiet.flush();
      const [seen] = await take(other, 1, 2000, 'message at the other subscriber');
      assert.equal(seen?.string(), 'mine');
      local.publish(subject, encodeText('theirs'));
      const [first] = await take(own, 1, 2000, 'first message at the sender');
      assert.equal(first?.string(), 'theirs', 'the sender skipped its own message');
      other.unsubscribe();
    } finally {
      await quiet.close();
    }
  });

  it('refuses a wrong or missing token with Authorization Violation', async () => {
    for (const token of ['wrong-token-0123456789abcdef', undefined]) {
      const options = token === undefined ? {} : { token };
      await assert.rejects(connect({ servers: endpoint.url, reconnect: false, ...options }), (err) => {
        assert.match(String(err), /Authorization Violation/i);
        return true;
      });
    }
  });
});

describe('local lattice endpoint: what it refuses to serve', () => {
  /** The code of the error `serveLattice` fails with; an endpoint it wrongly starts is closed first. */
  async function refusal(attempt: Promise<LocalEndpoint>): Promise<string | undefined> {
    const outcome = await attempt.then(
      (endpoint) => endpoint,
      (err: unknown) => ({ code: codeOf(err) }),
    );
    if ('close' in outcome) {
      await outcome.close();
      assert.fail(`served on ${outcome.url}`);
    }
    return outcome.code;
  }

  it('refuses to listen on anything but loopback, a short token or limits out of range', async () => {
    const lattice = createMemoryLattice();
    try {
      for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
        assert.equal(await refusal(serveLattice(lattice, { host, token: TOKEN })), 'INVALID_ADDRESS', host);
      }
      assert.equal(await refusal(serveLattice(lattice, { token: 'short' })), 'INVALID_ARGUMENT');
      assert.equal(
        await refusal(serveLattice(lattice, { token: TOKEN, maxPayload: lattice.maxPayload + 1 })),
        'INVALID_ARGUMENT',
      );
      assert.equal(
        await refusal(serveLattice(lattice, { token: TOKEN, maxConnections: 0 })),
        'INVALID_LIMIT',
      );
    } finally {
      await lattice.close();
    }
  });

  it('serves on ::1 and reports ADDRESS_IN_USE for a taken port', async () => {
    const lattice = createMemoryLattice();
    const first = await serveLattice(lattice, { token: TOKEN });
    let v6: LocalEndpoint | undefined;
    try {
      assert.equal(
        await refusal(serveLattice(lattice, { token: TOKEN, port: first.port })),
        'ADDRESS_IN_USE',
      );
      try {
        v6 = await serveLattice(lattice, { host: '::1', token: TOKEN });
      } catch {
        // A machine without IPv6 loopback cannot run this half.
      }
      if (v6 !== undefined) {
        assert.match(v6.url, /^nats:\/\/\[::1\]:\d+$/);
        const nc = await connect({ servers: v6.url, token: TOKEN, reconnect: false });
        await nc.flush();
        await nc.close();
      }
    } finally {
      await v6?.close();
      await first.close();
      await lattice.close();
    }
  });
});

describe('local lattice endpoint: the protocol over raw sockets', () => {
  let lattice: MemoryLattice;
  let endpoint: LocalEndpoint;
  let local: LatticeConnection;
  const clients: RawClient[] = [];
  const open = async (): Promise<RawClient> => {
    const client = await RawClient.open(endpoint.port);
    clients.push(client);
    return client;
  };

  before(async () => {
    lattice = createMemoryLattice({ maxPayload: 64 * 1024 });
    endpoint = await serveLattice(lattice, {
      token: TOKEN,
      maxPayload: 1024,
      maxSubscriptionsPerConnection: 3,
      maxControlLineBytes: 512,
      authTimeoutMs: 300,
    });
    local = lattice.connect();
  });

  afterEach(() => {
    for (const client of clients.splice(0)) client.destroy();
  });

  after(async () => {
    await endpoint.close();
    await lattice.close();
  });

  it('greets with INFO: auth required, headers, max_payload, protocol 1', async () => {
    const client = await open();
    await client.until('\r\n');
    const line = client.text.slice(0, client.text.indexOf('\r\n'));
    assert.match(line, /^INFO \{/);
    const info = JSON.parse(line.slice(5)) as Record<string, unknown>;
    assert.equal(info['auth_required'], true);
    assert.equal(info['headers'], true);
    assert.equal(info['proto'], 1);
    assert.equal(info['max_payload'], 1024);
    assert.equal(info['port'], endpoint.port);
    assert.equal(typeof info['server_id'], 'string');
    assert.equal(typeof info['client_id'], 'number');
  });

  it('answers a verbose client (the default) with +OK after CONNECT, SUB, PUB and UNSUB', async () => {
    const client = await open();
    await client.until('\r\n');
    await client.send(
      `CONNECT {"auth_token":"${TOKEN}"}\r\nSUB v.x 1\r\nPUB v.x 2\r\nhi\r\nUNSUB 1\r\nPING\r\n`,
    );
    await client.until('PONG\r\n');
    assert.equal(client.afterInfo, '+OK\r\n+OK\r\n+OK\r\nMSG v.x 1 2\r\nhi\r\n+OK\r\nPONG\r\n');
  });

  it('refuses any op before CONNECT with Authorization Violation and closes', async () => {
    const client = await open();
    await client.send('SUB a 1\r\n');
    await client.closedWithin(2000, 'close after an op before CONNECT');
    assert.equal(client.afterInfo, "-ERR 'Authorization Violation'\r\n");
  });

  it('closes with Authentication Timeout when no CONNECT comes in time', async () => {
    const client = await open();
    const started = Date.now();
    await client.closedWithin(2000, 'close at the auth timeout');
    assert.equal(client.afterInfo, "-ERR 'Authentication Timeout'\r\n");
    assert.ok(Date.now() - started >= 250, 'not before the timeout');
  });

  it('closes with Maximum Payload Violation on a PUB above max_payload, before its payload arrives', async () => {
    const client = await open();
    await client.handshake();
    await client.send('PUB big 1025\r\n');
    await client.closedWithin(2000, 'close after an oversized PUB');
    assert.equal(client.afterInfo, "PONG\r\n-ERR 'Maximum Payload Violation'\r\n");
  });

  it('closes with Unknown Protocol Operation, Parser Error or Maximum Control Line Exceeded', async () => {
    const cases: [string, string][] = [
      ['FOO bar\r\n', 'Unknown Protocol Operation'],
      ['PUB a.b x\r\n', 'Parser Error'],
      ['PUB a.b 2\r\nabcd\r\n', 'Parser Error'],
      ['HPUB a.b 10 5\r\n', 'Parser Error'],
      [`SUB ${'a'.repeat(600)} 1\r\n`, 'Maximum Control Line Exceeded'],
      ['A'.repeat(600), 'Maximum Control Line Exceeded'],
    ];
    for (const [input, wire] of cases) {
      const client = await open();
      await client.handshake();
      await client.send(input);
      await client.closedWithin(2000, `close after ${JSON.stringify(input.slice(0, 20))}`);
      assert.equal(client.afterInfo, `PONG\r\n-ERR '${wire}'\r\n`, input.slice(0, 20));
    }
  });

  it('keeps the connection after an invalid subject or one subscription too many, with -ERR', async () => {
    const client = await open();
    await client.handshake();
    await client.send(
      'SUB a..b 1\r\nPUB a.* 0\r\n\r\nSUB s.1 1\r\nSUB s.2 2\r\nSUB s.3 3\r\nSUB s.4 4\r\nPING\r\n',
    );
    await client.until('PONG\r\n', 2);
    assert.equal(
      client.afterInfo,
      "PONG\r\n-ERR 'Invalid Subject'\r\n-ERR 'Invalid Publish Subject'\r\n" +
        "-ERR 'maximum subscriptions exceeded'\r\nPONG\r\n",
    );
  });

  it('replies 503 on the requester’s own inbox when nobody listens to a request', async () => {
    const client = await open();
    await client.handshake({ headers: true, no_responders: true });
    await client.send('SUB _INBOX.raw.* 7\r\nPUB nobody.home _INBOX.raw.1 2\r\nhi\r\nPING\r\n');
    await client.until('PONG\r\n', 2);
    const block = 'NATS/1.0 503\r\nNats-Subject: nobody.home\r\n\r\n';
    assert.equal(
      client.afterInfo,
      `PONG\r\nHMSG _INBOX.raw.1 7 ${block.length} ${block.length}\r\n${block}\r\nPONG\r\n`,
    );
  });

  it('refuses no_responders without headers, as nats-server does', async () => {
    const client = await open();
    await client.until('\r\n');
    await client.send(`CONNECT {"auth_token":"${TOKEN}","no_responders":true}\r\n`);
    await client.closedWithin(2000, 'close after no_responders without headers');
    assert.equal(client.afterInfo, "-ERR 'no responders requires headers support'\r\n");
  });

  it('sends only the payload of a message with headers to a client that did not ask for headers', async () => {
    const client = await open();
    await client.handshake();
    await client.send('SUB plain.h 1\r\nPING\r\n');
    await client.until('PONG\r\n', 2);
    local.publish('plain.h', encodeText('hello'), { headers: { a: 'b' } });
    await client.until('hello\r\n');
    assert.equal(client.afterInfo, 'PONG\r\nPONG\r\nMSG plain.h 1 5\r\nhello\r\n');
  });

  it('produces the same bytes however TCP splits the input, down to single bytes', async () => {
    // Each run uses subjects of its own (same length, so byte offsets mean the same in every run):
    // runs go in parallel on one lattice.
    let runs = 0;
    const block = 'NATS/1.0\r\nk: v\r\n\r\n';
    const noResponders = (p: string): string => `NATS/1.0 503\r\nNats-Subject: ${p}.no.one\r\n\r\n`;
    const stream = (p: string): string =>
      `CONNECT {"auth_token":"${TOKEN}","verbose":false,"headers":true,"no_responders":true,"protocol":1}\r\n` +
      `PING\r\nSUB ${p}.b 1\r\nSUB ${p}.* q 2\r\nSUB _INBOX.${p}.* 3\r\n` +
      `PUB ${p}.b 5\r\nhello\r\n` +
      `PUB ${p}.b _INBOX.${p}.1 0\r\n\r\n` +
      `HPUB ${p}.c _INBOX.${p}.2 ${block.length} ${block.length + 5}\r\n${block}world\r\n` +
      `PUB ${p}.no.one _INBOX.${p}.3 2\r\nhi\r\n` +
      `UNSUB 1\r\nPUB ${p}.b 1\r\nx\r\nunsub 2 1\r\nPUB ${p}.d 1\r\ny\r\nPING\r\n`;
    const expected = (p: string): string =>
      'PONG\r\n' +
      `MSG ${p}.b 1 5\r\nhello\r\nMSG ${p}.b 2 5\r\nhello\r\n` +
      `MSG ${p}.b 1 _INBOX.${p}.1 0\r\n\r\nMSG ${p}.b 2 _INBOX.${p}.1 0\r\n\r\n` +
      `HMSG ${p}.c 2 _INBOX.${p}.2 ${block.length} ${block.length + 5}\r\n${block}world\r\n` +
      `HMSG _INBOX.${p}.3 3 ${noResponders(p).length} ${noResponders(p).length}\r\n${noResponders(p)}\r\n` +
      `MSG ${p}.b 2 1\r\nx\r\n` +
      'PONG\r\n';

    /** Sends the stream cut at `cuts` (byte offsets; each piece is its own write) and returns the reply. */
    const run = async (cuts: number[]): Promise<void> => {
      const p = `r${String(runs++).padStart(5, '0')}`;
      const bytes = Buffer.from(stream(p));
      const client = await open();
      await client.until('\r\n');
      let from = 0;
      for (const at of [...cuts, bytes.length]) {
        await client.send(bytes.subarray(from, at));
        from = at;
        await nextTurn();
      }
      await client.until('PONG', 2);
      client.destroy();
      assert.equal(
        client.afterInfo,
        expected(p),
        `cut at ${cuts.length > 3 ? 'every byte' : cuts.join(', ')}`,
      );
    };

    const length = Buffer.byteLength(stream('r00000'));
    await run([]);
    await run(Array.from({ length: length - 1 }, (_, i) => i + 1));
    for (let start = 1; start < length; start += 16) {
      const cuts = Array.from({ length: Math.min(16, length - start) }, (_, i) => start + i);
      await Promise.all(cuts.map((at) => run([at])));
    }
  });
});

describe('local lattice endpoint: connection limits, keep-alive and slow consumers', () => {
  /** Undone after each test, failed or not, so a failure never leaves a server keeping the run alive. */
  const cleanup: (() => unknown)[] = [];
  const serve = async (
    options: Omit<ServeLatticeOptions, 'token'>,
    maxPayload?: number,
  ): Promise<{ lattice: MemoryLattice; endpoint: LocalEndpoint }> => {
    const lattice = createMemoryLattice(maxPayload === undefined ? {} : { maxPayload });
    cleanup.push(() => lattice.close());
    const endpoint = await serveLattice(lattice, { token: TOKEN, ...options });
    cleanup.push(() => endpoint.close());
    return { lattice, endpoint };
  };
  const raw = async (endpoint: LocalEndpoint): Promise<RawClient> => {
    const client = await RawClient.open(endpoint.port);
    cleanup.push(() => client.destroy());
    return client;
  };

  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  it('refuses connections beyond maxConnections with maximum connections exceeded', async () => {
    const { endpoint } = await serve({ maxConnections: 1 });
    const first = await raw(endpoint);
    await first.handshake();
    const second = await raw(endpoint);
    await second.closedWithin(2000, 'refused connection closed');
    assert.match(second.text, /^INFO \{.*\}\r\n-ERR 'maximum connections exceeded'\r\n$/);
    assert.equal(endpoint.connectionCount, 1);
    first.destroy();
    await waitFor(() => endpoint.connectionCount === 0, 2000, 'first client gone');
    const third = await raw(endpoint);
    await third.handshake();
  });

  it('pings an idle client and drops it as stale when its PINGs go unanswered', async () => {
    const { endpoint } = await serve({ pingIntervalMs: 50, maxPingsOut: 2 });
    const silent = await raw(endpoint);
    await silent.handshake();
    const lively = await raw(endpoint);
    await lively.handshake();
    lively.socket.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('PING')) lively.socket.write('PONG\r\n');
    });
    await silent.closedWithin(2000, 'stale client dropped');
    assert.equal(silent.afterInfo, "PONG\r\nPING\r\nPING\r\n-ERR 'Stale Connection'\r\n");
    await waitFor(() => lively.text.split('PING').length > 4, 2000, 'pings to the client that answers');
    assert.equal(lively.socket.destroyed, false, 'a client that answers stays connected');
  });

  it('drops a client that stops reading once its backlog passes maxPendingBytes, and keeps one that reads', async () => {
    const { lattice, endpoint } = await serve({ maxPendingBytes: 256 * 1024 }, 64 * 1024);
    const local = lattice.connect();
    const reader = await connect({ servers: endpoint.url, token: TOKEN, reconnect: false });
    cleanup.push(() => reader.close());
    let read = 0;
    reader.subscribe('flood', {
      callback: () => {
        read++;
      },
    });
    await reader.flush();
    const stuck = await raw(endpoint);
    await stuck.handshake();
    await stuck.send('SUB flood 1\r\nPING\r\n');
    await stuck.until('PONG\r\n', 2);
    stuck.socket.pause();
    assert.equal(lattice.subscriptionCount, 2);

    const chunk = new Uint8Array(32 * 1024);
    let sent = 0;
    // Kernel socket buffers take several MiB before the endpoint has to hold anything itself. One
    // message per turn of the event loop, so the reading client (in this process) keeps up.
    while (lattice.subscriptionCount === 2 && sent < 256 * 1024 * 1024) {
      local.publish('flood', chunk);
      sent += chunk.length;
      await nextTurn();
    }
    assert.equal(lattice.subscriptionCount, 1, `stuck client dropped after ${sent} bytes`);
    await waitFor(() => read === sent / chunk.length, 20_000, 'every message at the reading client');
    assert.equal(reader.isClosed(), false);

    // The refusal comes after everything that was queued before it.
    stuck.socket.resume();
    await stuck.closedWithin(20_000, 'stuck client closed');
    assert.ok(stuck.text.endsWith("-ERR 'Slow Consumer'\r\n"), stuck.text.slice(-60));
  });

  it('disconnects every client and releases their subscriptions on close()', async () => {
    const { lattice, endpoint } = await serve({});
    const nc = await connect({ servers: endpoint.url, token: TOKEN, reconnect: false });
    cleanup.push(() => nc.close());
    nc.subscribe('a.>');
    await nc.flush();
    const client = await raw(endpoint);
    const pending = await raw(endpoint);
    await client.handshake();
    assert.equal(endpoint.connectionCount, 3);
    assert.equal(lattice.subscriptionCount, 1);
    const closed = nc.closed();
    await withDeadline(endpoint.close(), 2000, 'endpoint close');
    await withDeadline(closed, 2000, 'nats.js connection closed');
    await client.closedWithin(2000, 'raw client closed');
    await pending.closedWithin(2000, 'client without CONNECT closed');
    assert.equal(endpoint.connectionCount, 0);
    assert.equal(lattice.subscriptionCount, 0);
    await assert.rejects(connect({ servers: endpoint.url, token: TOKEN, reconnect: false }));
  });
});

describe('local lattice endpoint: connections without the token cannot lock out a client with it', () => {
  const AUTH_TIMEOUT_MS = 500;
  const MAX_UNAUTHENTICATED = 64;
  const cleanup: (() => unknown)[] = [];
  const serve = async (options: Omit<ServeLatticeOptions, 'token'> = {}): Promise<LocalEndpoint> => {
    const lattice = createMemoryLattice();
    cleanup.push(() => lattice.close());
    const endpoint = await serveLattice(lattice, { token: TOKEN, ...options });
    cleanup.push(() => endpoint.close());
    const responder = lattice.connect();
    responder.subscribe('svc.echo', { callback: (m: Msg) => m.respond(m.data) });
    return endpoint;
  };
  const raw = async (endpoint: LocalEndpoint): Promise<RawClient> => {
    const client = await RawClient.open(endpoint.port);
    cleanup.push(() => client.destroy());
    return client;
  };
  /** Open file descriptors of this process: the endpoint's sockets and the test's own. */
  const openFds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;

  afterEach(async () => {
    for (const undo of cleanup.splice(0).reverse()) await undo();
  });

  for (const idle of [200, 1000]) {
    it(`serves a client with the token at once while ${idle} connections never authenticate, and closes those by the auth timeout with bounded sockets`, async () => {
      const endpoint = await serve({
        authTimeoutMs: AUTH_TIMEOUT_MS,
        maxUnauthenticated: MAX_UNAUTHENTICATED,
      });
      const baseline = await openFds();
      const idlers: RawClient[] = [];
      for (let i = 0; i < idle; i++) {
        idlers.push(await raw(endpoint));
        // Each accept evicts the oldest idler once the budget is full: the endpoint never holds more.
        assert.ok(endpoint.connectionCount <= MAX_UNAUTHENTICATED, `${endpoint.connectionCount} held`);
      }

      // Both ends of each connection held are in this process; the dropped ones are closed.
      await waitFor(
        async () => (await openFds()) <= baseline + 2 * MAX_UNAUTHENTICATED + 4,
        2000,
        'sockets bounded by the budget',
      );

      const started = performance.now();
      const client = await connectNats({
        servers: endpoint.url,
        credentials: { type: 'token', token: TOKEN },
      });
      cleanup.push(() => client.close());
      const reply = await client.request('svc.echo', encodeText('hi'), { timeoutMs: 1000 });
      const elapsed = performance.now() - started;
      assert.equal(reply.string(), 'hi');
      // Measured 5–26 ms with 200 or 1,000 idlers (2 loaded cores); before, the client failed after 5 s.
      assert.ok(elapsed < 250, `connect and request/reply took ${elapsed.toFixed(1)} ms`);

      await withDeadline(
        Promise.all(idlers.map((c) => c.closed)),
        AUTH_TIMEOUT_MS + 2000,
        'every idle connection closed by the auth timeout',
      );
      for (const c of idlers)
        assert.ok(c.text.endsWith("-ERR 'Authentication Timeout'\r\n"), c.text.slice(-60));
      await waitFor(() => endpoint.connectionCount === 1, 2000, 'only the client with the token left');
      const fds = await waitFor(
        async () => {
          const now = await openFds();
          return now <= baseline + 4 ? now : undefined;
        },
        2000,
        'file descriptors back at the baseline',
      );
      assert.ok(fds <= baseline + 4, `${fds} open, ${baseline} before (one client, two sockets)`);
    });
  }

  it('refuses a client with LATTICE_CONNECT_REFUSED naming maximum connections, quickly, when authenticated clients are at the max', async () => {
    const endpoint = await serve({ maxConnections: 3 });
    // Connections without the token do not count against the maximum.
    for (let i = 0; i < 5; i++) await raw(endpoint);
    for (let i = 0; i < 3; i++) await (await raw(endpoint)).handshake();
    assert.equal(endpoint.connectionCount, 8);

    const started = performance.now();
    await assert.rejects(
      connectNats({ servers: endpoint.url, credentials: { type: 'token', token: TOKEN } }),
      (err) => {
        assert.equal(codeOf(err), 'LATTICE_CONNECT_REFUSED');
        assert.match(String(err), /refused the connection: maximum connections exceeded/);
        assert.match((err as { hint?: string }).hint ?? '', /CIRRUS_LIMIT_LOCAL_ENDPOINT_MAX_CONNECTIONS/);
        return true;
      },
    );
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `refused after ${elapsed.toFixed(1)} ms, not at the 5 s connect timeout`);
  });

  it('refuses a client whose CONNECT comes after others filled the maximum while it waited', async () => {
    const endpoint = await serve({ maxConnections: 2 });
    const late = await raw(endpoint);
    await late.until('\r\n');
    for (let i = 0; i < 2; i++) await (await raw(endpoint)).handshake();
    await late.send(`CONNECT ${JSON.stringify({ auth_token: TOKEN, verbose: false })}\r\nPING\r\n`);
    await late.closedWithin(2000, 'late client refused');
    assert.equal(late.afterInfo, "-ERR 'maximum connections exceeded'\r\n");
  });

  it('drops the oldest connection still waiting to authenticate, with Authentication Timeout, when their budget is full', async () => {
    const endpoint = await serve({ maxUnauthenticated: 2 });
    const oldest = await raw(endpoint);
    await oldest.until('\r\n');
    const middle = await raw(endpoint);
    const newest = await raw(endpoint);
    await oldest.closedWithin(2000, 'oldest waiting connection dropped');
    assert.equal(oldest.afterInfo, "-ERR 'Authentication Timeout'\r\n");
    await middle.handshake();
    await newest.handshake();
    assert.equal(endpoint.connectionCount, 2);
  });
});

describe('local lattice endpoint: through the Cirrus NATS adapter', () => {
  let lattice: MemoryLattice;
  let endpoint: LocalEndpoint;
  let local: LatticeConnection;
  let remote: LatticeConnection;

  before(async () => {
    lattice = createMemoryLattice({ maxPayload: 64 * 1024 });
    endpoint = await serveLattice(lattice, { token: TOKEN });
    local = lattice.connect();
    remote = await connectNats({ servers: endpoint.url, credentials: { type: 'token', token: TOKEN } });
  });

  after(async () => {
    await remote.close();
    await endpoint.close();
    await lattice.close();
  });

  it('reports the endpoint’s max payload and refuses a larger message with PAYLOAD_TOO_LARGE', () => {
    assert.equal(remote.maxPayload, 64 * 1024);
    assert.throws(
      () => remote.publish(`${unique()}.big`, new Uint8Array(64 * 1024 + 1)),
      (err) => codeOf(err) === 'PAYLOAD_TOO_LARGE',
    );
  });

  it('carries publications with headers both ways and keeps their order', async () => {
    const subject = `${unique()}.seq`;
    const inbound = local.subscribe(subject);
    const outbound = remote.subscribe(`${subject}.back`);
    await remote.flush();
    for (let i = 0; i < 20; i++)
      remote.publish(subject, encodeText(String(i)), { headers: { n: String(i) } });
    const got = await take(inbound, 20, 2000, 'ordered messages from the adapter');
    assert.deepEqual(
      got.map((m) => `${m.string()}/${m.headers?.['n']}`),
      Array.from({ length: 20 }, (_, i) => `${i}/${i}`),
    );
    local.publish(`${subject}.back`, encodeText('back'), { headers: { via: 'memory' } });
    const [msg] = await take(outbound, 1, 2000, 'message to the adapter');
    assert.equal(msg?.string(), 'back');
    assert.equal(msg?.headers?.['via'], 'memory');
    inbound.unsubscribe();
    outbound.unsubscribe();
  });

  it('runs request/reply, scatter/gather, NO_RESPONDERS and REQUEST_TIMEOUT as on NATS', async () => {
    const subject = `${unique()}.rpc`;
    const responders = [0, 1].map((i) =>
      local.subscribe(subject, { callback: (m: Msg) => m.respond(encodeText(`${i}:${m.string()}`)) }),
    );
    const reply = await remote.request(subject, encodeText('q'), { timeoutMs: 2000 });
    assert.match(reply.string(), /^[01]:q$/);
    const all: string[] = [];
    for await (const m of remote.requestMany(subject, encodeText('all'), { maxWaitMs: 300 }))
      all.push(m.string());
    assert.deepEqual(all.sort(), ['0:all', '1:all']);
    for (const r of responders) r.unsubscribe();

    const started = Date.now();
    await assert.rejects(remote.request(`${unique()}.none`, undefined, { timeoutMs: 5000 }), (err) => {
      assert.equal(codeOf(err), 'NO_RESPONDERS');
      return true;
    });
    assert.ok(Date.now() - started < 1000, 'no-responders before the timeout');

    const silent = local.subscribe(`${subject}.silent`, { callback: () => {} });
    await assert.rejects(remote.request(`${subject}.silent`, undefined, { timeoutMs: 150 }), (err) => {
      assert.equal(codeOf(err), 'REQUEST_TIMEOUT');
      return true;
    });
    silent.unsubscribe();
  });

  it('fails to connect with a wrong token with LATTICE_AUTH_FAILED', async () => {
    await assert.rejects(
      connectNats({ servers: endpoint.url, credentials: { type: 'token', token: 'wrong-token-0123456789' } }),
      (err) => {
        assert.equal(codeOf(err), 'LATTICE_AUTH_FAILED');
        return true;
      },
    );
  });
});

describe('client protocol parser', () => {
  const TEXT = new TextDecoder();
  const describeOp = (op: ClientOp): string =>
    op.kind === 'PUB'
      ? `PUB ${op.subject} ${op.reply} ${op.headers === undefined ? '-' : TEXT.decode(op.headers)}|${TEXT.decode(op.payload)}`
      : JSON.stringify(op);
  const parseAll = (chunks: Uint8Array[]): string[] => {
    const ops: string[] = [];
    const parser = new ClientProtocolParser({ maxControlLine: 256, maxPayload: 1024 }, (op) =>
      ops.push(describeOp(op)),
    );
    for (const chunk of chunks) parser.push(chunk);
    return ops;
  };

  it('parses the same ops from a stream split at any byte, or fed one byte at a time', () => {
    const bytes = Buffer.from(
      'connect {"verbose": false, "name": "a b"}\r\nPING\npong\r\nSUB x.y 1\r\nsub x.* grp 22\r\n' +
        'PUB x.y 3\r\nabc\r\nPUB x.y r.1 0\r\n\r\nHPUB x.y  r.2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n' +
        'UNSUB 1\r\nUNSUB 22 5\r\nPUB\tx.z\t\t2\r\n\r\n\r\n',
    );
    const whole = parseAll([bytes]);
    assert.equal(whole.length, 11);
    assert.equal(whole[0], JSON.stringify({ kind: 'CONNECT', json: '{"verbose": false, "name": "a b"}' }));
    assert.equal(whole[7], 'PUB x.y r.2 NATS/1.0\r\n\r\n|hi');
    assert.equal(whole[10], 'PUB x.z undefined -|\r\n');
    for (let at = 0; at <= bytes.length; at++) {
      assert.deepEqual(parseAll([bytes.subarray(0, at), bytes.subarray(at)]), whole, `split at ${at}`);
    }
    assert.deepEqual(parseAll([...bytes].map((b) => Uint8Array.of(b))), whole);
  });

  it('holds only the payload bytes that arrived, not the size a PUB announces', () => {
    const limit = 64 * 1024 * 1024;
    const ops: ClientOp[] = [];
    const parser = new ClientProtocolParser({ maxControlLine: 256, maxPayload: limit }, (op) => ops.push(op));
    const before = process.memoryUsage().arrayBuffers;
    parser.push(Buffer.from(`CONNECT {}\r\nPUB a ${limit}\r\n0123456789`));
    const held = process.memoryUsage().arrayBuffers - before;
    assert.ok(held < 1024 * 1024, `${held} bytes held for 10 bytes of payload`);
    assert.deepEqual(
      ops.map((op) => op.kind),
      ['CONNECT'],
    );
  });

  it('stops at the first violation and names it as nats-server does', () => {
    const cases: [string, string][] = [
      ['PING\r\n', 'Authorization Violation'],
      ['CONNECT {}\r\nPUB a 2000\r\n', 'Maximum Payload Violation'],
      ['CONNECT {}\r\nPUB a 1\r\nxy\r\n', 'Parser Error'],
      ['CONNECT {}\r\nSUB a\r\n', 'Parser Error'],
      ['CONNECT {}\r\nUNSUB 1 -1\r\n', 'Parser Error'],
      ['CONNECT {}\r\nMSG a 1 1\r\n', 'Unknown Protocol Operation'],
      [`CONNECT {}\r\n${'x'.repeat(300)}`, 'Maximum Control Line Exceeded'],
    ];
    for (const [input, wire] of cases) {
      assert.throws(
        () => parseAll([Buffer.from(input)]),
        (err) => (err as { wire?: string }).wire === wire,
        input,
      );
    }
  });
});
