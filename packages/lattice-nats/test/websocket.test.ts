/**
 * The NATS adapter over a nats-server's websocket listener, as a browser uses it: the browser entry
 * runs the lattice contract suite, every kind of credentials a browser can hold (user and password,
 * token, nkey seed, user JWT and seed, a creds file's text) works, and what it cannot do is refused
 * with a clear error. The browser entry is also bundled for a browser, which proves it pulls in
 * nothing from Node.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { nkeys } from '@nats-io/nats-core';
import { createNatsOperator, startNatsServer } from '@cirrus/testing';
import type { NatsOperator, NatsServer } from '@cirrus/testing';
import { encodeText } from '@cirrus/lattice';
import { latticeContract } from '@cirrus/lattice/contract';
import { connectNats as connectBrowser } from '../src/browser.ts';
import { connectNats } from '../src/index.ts';
import type { NatsConnectOptions } from '../src/index.ts';

/** Short reconnect pauses keep the suite fast; the defaults are for production. */
const FAST = { natsReconnectWaitMs: 50, natsPingIntervalMs: 1_000, natsConnectTimeoutMs: 2_000 } as const;

const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;

interface Refusal {
  code?: string;
  message: string;
  hint?: string;
}

async function refusal(connect: Promise<{ close(): Promise<void> }>): Promise<Refusal> {
  try {
    await (await connect).close();
  } catch (err) {
    return err as Refusal;
  }
  assert.fail('the connection was accepted');
}

/** Connects with `options` through the browser entry, round-trips one message and closes. */
async function roundTrip(options: NatsConnectOptions): Promise<void> {
  const conn = await connectBrowser({ limits: FAST, ...options });
  try {
    const sub = conn.subscribe('ws.echo', { callback: (msg) => msg.respond(msg.data) });
    const reply = await conn.request('ws.echo', encodeText('over websocket'), { timeoutMs: 2_000 });
    assert.equal(reply.string(), 'over websocket');
    sub.unsubscribe();
  } finally {
    await conn.close();
  }
}

latticeContract('NATS over websocket', async () => {
  const server = await startNatsServer();
  return {
    connect: () => connectBrowser({ servers: server.wsUrl, limits: FAST }),
    teardown: () => server.stop(),
  };
});

describe('NATS over websocket: credentials given inline', () => {
  const user = nkeys.createUser();
  const seed = new TextDecoder().decode(user.getSeed());
  let users: NatsServer;
  let tokens: NatsServer;
  let operated: NatsServer;
  let operator: NatsOperator;

  before(async () => {
    operator = createNatsOperator();
    [users, tokens, operated] = await Promise.all([
      startNatsServer({
        authorization: { users: [{ user: 'browser', password: 'pa55-word' }, { nkey: user.getPublicKey() }] },
      }),
      startNatsServer({ authorization: { token: 'browser-token-0123456789' } }),
      startNatsServer({ operator: operator.config }),
    ]);
  });

  after(async () => {
    await Promise.all([users?.stop(), tokens?.stop(), operated?.stop()]);
  });

  it('connects with a user and password, and with an nkey seed', async () => {
    await roundTrip({
      servers: users.wsUrl,
      credentials: { type: 'user', user: 'browser', password: 'pa55-word' },
    });
    await roundTrip({ servers: users.wsUrl, credentials: { type: 'nkey', seed } });
  });

  it('connects with a token, and refuses a wrong one with LATTICE_AUTH_FAILED naming where it came from', async () => {
    await roundTrip({
      servers: tokens.wsUrl,
      credentials: { type: 'token', token: 'browser-token-0123456789' },
    });
    const err = await refusal(
      connectBrowser({
        servers: tokens.wsUrl,
        credentials: { type: 'token', token: 'wrong-token-0123456789', source: 'the page settings' },
        limits: FAST,
      }),
    );
    assert.equal(err.code, 'LATTICE_AUTH_FAILED');
    assert.match(err.message, /refused the token from the page settings/);
    assert.ok(!err.message.includes('wrong-token'));
  });

  it('connects in operator mode with a user JWT and seed, and with the text of a creds file', async () => {
    const host = operator.user('browser');
    await roundTrip({
      servers: operated.wsUrl,
      credentials: { type: 'jwt', jwt: host.jwt, seed: host.seed },
    });
    await roundTrip({ servers: operated.wsUrl, credentials: { type: 'creds', creds: host.creds } });
    const stranger = operator.strangerCreds('intruder');
    const err = await refusal(
      connectBrowser({
        servers: operated.wsUrl,
        credentials: { type: 'creds', creds: stranger.creds, source: 'a pasted creds file' },
        limits: FAST,
      }),
    );
    assert.equal(err.code, 'LATTICE_AUTH_FAILED');
    assert.match(err.message, new RegExp(`the creds from a pasted creds file \\(user ${stranger.publicKey}`));
  });

  it('refuses a creds file path in the browser entry, and a text that is no creds file', async () => {
    const file = await refusal(
      connectBrowser({
        servers: operated.wsUrl,
        credentials: { type: 'credsFile', path: '/etc/host.creds' },
      }),
    );
    assert.equal(file.code, 'LATTICE_CREDENTIALS_INVALID');
    assert.match(file.message, /creds file \/etc\/host\.creds cannot be read here/);
    assert.match(file.hint ?? '', /type: 'creds'/);
    const text = await refusal(
      connectBrowser({ servers: operated.wsUrl, credentials: { type: 'creds', creds: 'nothing here' } }),
    );
    assert.equal(text.code, 'LATTICE_CREDENTIALS_INVALID');
    assert.match(text.message, /is not a NATS creds file/);
  });
});

describe('NATS over websocket: what is refused', () => {
  let server: NatsServer;

  before(async () => {
    server = await startNatsServer();
  });

  after(async () => {
    await server?.stop();
  });

  it('refuses a TCP URL in the browser entry with INVALID_ARGUMENT saying to use ws://', async () => {
    const err = await refusal(connectBrowser({ servers: server.url, label: 'browser host' }));
    assert.equal(err.code, 'INVALID_ARGUMENT');
    assert.match(
      err.message,
      new RegExp(`^browser host: a browser reaches NATS over websocket only, not at ${server.url}$`),
    );
    assert.match(err.hint ?? '', /ws:\/\/ or wss:\/\//);
  });

  it('refuses websocket and TCP URLs mixed in one list, and TLS options over websocket', async () => {
    const mixed = await refusal(connectNats({ servers: [server.wsUrl, server.url] }));
    assert.equal(mixed.code, 'INVALID_ARGUMENT');
    assert.match(mixed.message, /mix websocket \(ws:\/\/, wss:\/\/\) and TCP URLs/);
    const tls = await refusal(connectNats({ servers: server.wsUrl, tls: { caFile: '/etc/ca.pem' } }));
    assert.equal(tls.code, 'INVALID_ARGUMENT');
    assert.match(tls.hint ?? '', /wss:\/\//);
  });

  it('reports LATTICE_CONNECT_FAILED with a hint about the websocket listener when nothing listens', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await refusal(connectBrowser({ servers: `ws://127.0.0.1:${port}`, limits: FAST }));
    assert.equal(err.code, 'LATTICE_CONNECT_FAILED');
    assert.match(err.message, new RegExp(`cannot connect to NATS at ws://127\\.0\\.0\\.1:${port}`));
    assert.match(err.hint ?? '', /websocket listener/);
  });

  it('keeps one transport per process: no websocket connection while a TCP one is open', async () => {
    const tcp = await connectNats({ servers: server.url, limits: FAST });
    try {
      const err = await refusal(connectNats({ servers: server.wsUrl, limits: FAST }));
      assert.equal(err.code, 'INVALID_ARGUMENT');
      assert.match(
        err.message,
        /cannot open a websocket NATS connection while this process has 1 open over TCP/,
      );
    } finally {
      await tcp.close();
    }
    const ws = await connectNats({ servers: server.wsUrl, limits: FAST });
    try {
      assert.equal(ws.connected, true);
      await assert.rejects(
        connectNats({ servers: server.url, limits: FAST }),
        (err) => codeOf(err) === 'INVALID_ARGUMENT',
      );
    } finally {
      await ws.close();
    }
  });
});

describe('the browser entry of @cirrus/lattice-nats', () => {
  it('bundles for a browser, through the package’s browser condition, with nothing from Node', async () => {
    const result = await build({
      stdin: {
        contents: "export { connectNats } from '@cirrus/lattice-nats';",
        resolveDir: fileURLToPath(new URL('..', import.meta.url)),
        loader: 'ts',
      },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      metafile: true,
    });
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(
      inputs.some((input) => input.endsWith('lattice-nats/src/browser.ts')),
      inputs.join('\n'),
    );
    assert.ok(
      !inputs.some((input) => /transport-node|lattice-nats\/src\/node\//.test(input)),
      inputs.join('\n'),
    );
  });
});
