/**
 * Authenticated, encrypted NATS against real nats-servers configured by the test: TLS with client
 * certificates (made by openssl for this run) plus nkey users, and operator mode with creds files.
 * A correctly configured connection works (key-value included); every wrong setting is refused with
 * its own code and a message that names the credential or the TLS setting at fault, and never
 * contains a seed.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nkeys } from '@nats-io/transport-node';
import { createNatsOperator, generateTlsFiles, startNatsServer, tempDir } from '@cirrus/testing';
import type { NatsOperator, NatsServer, TempDir, TlsFiles } from '@cirrus/testing';
import { encodeText } from '@cirrus/lattice';
import type { NatsConnectOptions } from '../src/index.ts';
import { connectNats } from '../src/index.ts';

/** Long enough for a TLS handshake on a loaded machine; short enough to keep refusals quick. */
const CONNECT_MS = 1500;

interface Refusal {
  code?: string;
  message: string;
  hint?: string;
}

const seedOf = (pair: ReturnType<typeof nkeys.createUser>): string =>
  new TextDecoder().decode(pair.getSeed());

async function refusal(options: NatsConnectOptions): Promise<Refusal> {
  try {
    const conn = await connectNats({ limits: { natsConnectTimeoutMs: CONNECT_MS }, ...options });
    await conn.close();
  } catch (err) {
    return err as Refusal;
  }
  assert.fail('the connection was accepted');
}

describe('NATS with TLS client certificates and nkey users', () => {
  let dir: TempDir;
  let files: TlsFiles;
  let server: NatsServer;
  const user = nkeys.createUser();
  const stranger = nkeys.createUser();
  let tls: NatsConnectOptions['tls'];

  before(async () => {
    dir = await tempDir();
    files = await generateTlsFiles(dir.path);
    server = await startNatsServer({
      tls: {
        certFile: files.serverCertFile,
        keyFile: files.serverKeyFile,
        caFile: files.caFile,
        verify: true,
      },
      authorization: { users: [{ nkey: user.getPublicKey() }] },
    });
    tls = { caFile: files.caFile, certFile: files.clientCertFile, keyFile: files.clientKeyFile };
  });

  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it('connects with the CA, a client certificate and the nkey seed, and uses key-value over it', async () => {
    const conn = await connectNats({
      servers: server.url,
      tls,
      credentials: { type: 'nkey', seed: seedOf(user), source: '/etc/cirrus/host.nk' },
    });
    try {
      const kv = await conn.kv('TLS_NKEY');
      await kv.put('k', encodeText('v'));
      assert.equal(new TextDecoder().decode((await kv.get('k'))?.value), 'v');
    } finally {
      await conn.close();
    }
  });

  it('refuses an nkey the server does not list with LATTICE_AUTH_FAILED naming the seed file and its user', async () => {
    const err = await refusal({
      servers: server.url,
      tls,
      credentials: { type: 'nkey', seed: seedOf(stranger), source: '/etc/cirrus/wrong.nk' },
      label: 'control connection',
    });
    assert.equal(err.code, 'LATTICE_AUTH_FAILED');
    assert.match(
      err.message,
      new RegExp(
        `^control connection: the NATS server at .* refused the nkey seed from /etc/cirrus/wrong\\.nk \\(user ${stranger.getPublicKey()}\\): Authorization Violation$`,
      ),
    );
    assert.match(err.hint ?? '', new RegExp(`nkey: ${stranger.getPublicKey()}`));
    assert.ok(!err.message.includes(seedOf(stranger)) && !(err.hint ?? '').includes(seedOf(stranger)));
  });

  it('says the server requires a client certificate when the connection has none', async () => {
    const err = await refusal({
      servers: server.url,
      tls: { caFile: files.caFile },
      credentials: { type: 'nkey', seed: seedOf(user) },
    });
    assert.equal(err.code, 'LATTICE_TLS_FAILED');
    assert.match(err.message, /the server requires a client certificate and this connection has none/);
    assert.match(err.hint ?? '', /--nats-tls-cert/);
  });

  it('says the server refused a client certificate signed by a CA it does not trust', async () => {
    const err = await refusal({
      servers: server.url,
      tls: { caFile: files.caFile, certFile: files.otherClientCertFile, keyFile: files.otherClientKeyFile },
      credentials: { type: 'nkey', seed: seedOf(user) },
    });
    assert.equal(err.code, 'LATTICE_TLS_FAILED');
    assert.match(err.message, new RegExp(`refused the client certificate ${files.otherClientCertFile}`));
  });

  it("says the server's certificate is not signed by a trusted CA, naming the CA file or the system's", async () => {
    const other = await refusal({ servers: server.url, tls: { ...tls, caFile: files.otherCaFile } });
    assert.equal(other.code, 'LATTICE_TLS_FAILED');
    assert.match(other.message, /not signed by a CA this connection trusts \(CA file .*other-ca\.pem/);
    assert.match(other.hint ?? '', /--nats-tls-ca/);
    // No TLS options: the server asks for TLS, and the system's CAs do not know the test CA.
    const system = await refusal({ servers: server.url });
    assert.equal(system.code, 'LATTICE_TLS_FAILED');
    assert.match(system.message, /the system's CAs/);
  });

  it('says when the certificate is not issued for the expected name, and when the key is not the certificate’s', async () => {
    const name = await refusal({ servers: server.url, tls: { ...tls, serverName: 'nats.example.com' } });
    assert.equal(name.code, 'LATTICE_TLS_FAILED');
    assert.match(name.message, /not issued for the name connected to .*nats\.example\.com/);
    const key = await refusal({ servers: server.url, tls: { ...tls, keyFile: files.otherClientKeyFile } });
    assert.equal(key.code, 'LATTICE_TLS_FAILED');
    assert.match(key.message, /the client key .* does not belong to the client certificate/);
  });

  it('refuses unreadable TLS files and seeds that are no user seed before connecting', async () => {
    const missing = await refusal({ servers: server.url, tls: { caFile: join(dir.path, 'nope.pem') } });
    assert.equal(missing.code, 'LATTICE_TLS_FAILED');
    assert.match(missing.message, /cannot read the TLS CA file .*nope\.pem/);
    const account = nkeys.createAccount();
    const wrongKind = await refusal({
      servers: server.url,
      tls,
      credentials: { type: 'nkey', seed: seedOf(account), source: '/etc/cirrus/account.nk' },
    });
    assert.equal(wrongKind.code, 'LATTICE_CREDENTIALS_INVALID');
    assert.equal(
      wrongKind.message,
      'the nkey seed from /etc/cirrus/account.nk is an account seed, not a user seed',
    );
  });

  it('says a server that sends no greeting may expect TLS first', async () => {
    // What a client that does not start TLS sees of a `handshake_first` server: silence.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const err = await refusal({ servers: `nats://127.0.0.1:${port}` });
      assert.equal(err.code, 'LATTICE_CONNECT_FAILED');
      assert.match(err.message, /the server sent no greeting within 1500 ms/);
      assert.match(err.hint ?? '', /--nats-tls-first/);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('refuses a tls:// URL to a server without TLS with LATTICE_TLS_FAILED', async () => {
    await using plain = await startNatsServer();
    const err = await refusal({ servers: plain.url.replace('nats://', 'tls://') });
    assert.equal(err.code, 'LATTICE_TLS_FAILED');
    assert.match(err.message, /requires TLS and the server offers none/);
  });
});

describe('NATS in operator mode with creds files', () => {
  let dir: TempDir;
  let operator: NatsOperator;
  let server: NatsServer;

  before(async () => {
    dir = await tempDir();
    operator = createNatsOperator();
    server = await startNatsServer({ operator: operator.config });
  });

  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  async function credsFile(name: string, text: string): Promise<string> {
    const path = join(dir.path, name);
    await writeFile(path, text, { mode: 0o600 });
    return path;
  }

  it('connects with a creds file of a user of a trusted account and uses key-value', async () => {
    const path = await credsFile('host.creds', operator.user('host').creds);
    const conn = await connectNats({ servers: server.url, credentials: { type: 'credsFile', path } });
    try {
      const kv = await conn.kv('CREDS');
      await kv.put('k', encodeText('v'));
      assert.equal(new TextDecoder().decode((await kv.get('k'))?.value), 'v');
    } finally {
      await conn.close();
    }
  });

  it('refuses a user of an account the operator did not sign, naming the creds file and the account', async () => {
    const stranger = operator.strangerCreds('intruder');
    const path = await credsFile('intruder.creds', stranger.creds);
    const err = await refusal({ servers: server.url, credentials: { type: 'credsFile', path } });
    assert.equal(err.code, 'LATTICE_AUTH_FAILED');
    assert.match(
      err.message,
      new RegExp(`refused the creds file ${path} \\(user ${stranger.publicKey}, account A`),
    );
    assert.match(err.hint ?? '', /trust the JWT's account/);
    assert.ok(!err.message.includes(stranger.seed));
  });

  it('refuses a file that is no creds file, and a seed that does not belong to the JWT', async () => {
    const notCreds = await refusal({
      servers: server.url,
      credentials: { type: 'credsFile', path: await credsFile('empty.creds', 'nothing here\n') },
    });
    assert.equal(notCreds.code, 'LATTICE_CREDENTIALS_INVALID');
    assert.match(notCreds.message, /is not a NATS creds file/);
    const host = operator.user('host');
    const other = operator.user('other');
    const mixed = await refusal({
      servers: server.url,
      credentials: { type: 'jwt', jwt: host.jwt, seed: other.seed, source: 'a test' },
    });
    assert.equal(mixed.code, 'LATTICE_CREDENTIALS_INVALID');
    assert.match(mixed.message, /does not belong to its JWT/);
    assert.ok(!mixed.message.includes(other.seed));
  });
});
