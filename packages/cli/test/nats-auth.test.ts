/**
 * The CLI on authenticated, encrypted NATS, against real nats-servers configured by the test:
 *
 * - TLS with client certificates (made by openssl for this run) and nkey users whose permissions
 *   split the lattice in two: the control user may only use control, event and JetStream subjects,
 *   the RPC user only wRPC and provider subjects. `cirrus up --ctl-nkey … --rpc-nkey …` answers
 *   `cirrus get hosts` on the control user, and starts the example greeter provider, which serves a
 *   call on the RPC user: it got the RPC seed and the TLS files through HostData.
 * - Wrong credentials and TLS settings are refused with the code and a message that names them.
 * - A token and a user/password from files or the environment; a creds file in operator mode.
 * - No seed, token or password appears in anything the commands or the host printed.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { nkeys } from '@nats-io/transport-node';
import { createHost } from '@cirrus/host';
import { wrpcInvoke } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { parseWit, witInstanceName } from '@cirrus/protocol';
import type { HostInfo, WitFunction, WitInterface } from '@cirrus/protocol';
import {
  createNatsOperator,
  generateTlsFiles,
  startNatsServer,
  tempDir,
  waitFor,
  withDeadline,
} from '@cirrus/testing';
import type { NatsServer, TempDir, TlsFiles } from '@cirrus/testing';
import { main } from '../src/index.ts';
import type { CommandContext } from '../src/index.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const GREETER = pathToFileURL(join(ROOT, 'examples/greeter-provider/src/main.ts')).href;
const GREET = parseWit(readFileSync(join(ROOT, 'packages/testing/fixtures/greet-wit/greet.wit'), 'utf8'))
  .interfaces[0] as WitInterface;
const LATTICE = 'secure';
/** Short enough to keep host.ping fast, long enough for a loaded machine to answer. */
const PING = ['--timeout', '1000'];

interface Run {
  code: number;
  out: string[];
  err: string[];
}

interface Harness {
  context: CommandContext;
  out: string[];
  err: string[];
  signals: EventEmitter;
}

const seedOf = (pair: ReturnType<typeof nkeys.createUser>): string =>
  new TextDecoder().decode(pair.getSeed());

describe('cirrus on authenticated, encrypted NATS', () => {
  let dir: TempDir;
  let files: TlsFiles;
  let server: NatsServer;
  const ctlUser = nkeys.createUser();
  const rpcUser = nkeys.createUser();
  const stranger = nkeys.createUser();
  const password = 'correct horse battery staple';
  let env: Record<string, string>;
  /** Every line any command or host printed, scanned for secrets at the end. */
  const printed: string[] = [];
  let ctlSeed: string;
  let rpcSeed: string;
  let wrongSeed: string;
  let passwordFile: string;
  let tls: string[];

  function harness(extraEnv: Record<string, string> = {}): Harness {
    const out: string[] = [];
    const err: string[] = [];
    const signals = new EventEmitter();
    return {
      out,
      err,
      signals,
      context: {
        print: (line) => void out.push(line),
        log: (line) => void err.push(line),
        env: { ...env, ...extraEnv },
        signals: signals as unknown as CommandContext['signals'],
        exit: (code) => {
          throw new Error(`exit(${code}) called`);
        },
      },
    };
  }

  async function run(argv: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
    const h = harness(extraEnv);
    const code = await withDeadline(main(argv, h.context), 20_000, `cirrus ${argv.slice(0, 2).join(' ')}`);
    printed.push(...h.out, ...h.err);
    return { code, out: h.out, err: h.err.join('\n').split('\n') };
  }

  async function secretFile(name: string, text: string, mode = 0o600): Promise<string> {
    const path = join(dir.path, name);
    await writeFile(path, `${text}\n`, { mode });
    return path;
  }

  before(async () => {
    dir = await tempDir();
    files = await generateTlsFiles(dir.path);
    const jetstream = ['_INBOX.>', '$JS.>', '$KV.>'];
    const control = ['wasmbus.ctl.>', 'wasmbus.evt.>', ...jetstream];
    const rpc = ['wasmbus.rpc.>', `${LATTICE}.>`, '_INBOX.>'];
    server = await startNatsServer({
      tls: {
        certFile: files.serverCertFile,
        keyFile: files.serverKeyFile,
        caFile: files.caFile,
        verify: true,
      },
      authorization: {
        users: [
          { nkey: ctlUser.getPublicKey(), permissions: { publish: control, subscribe: control } },
          { nkey: rpcUser.getPublicKey(), permissions: { publish: rpc, subscribe: rpc } },
          { user: 'ops', password, permissions: { publish: control, subscribe: control } },
        ],
      },
    });
    env = {
      CIRRUS_CACHE_DIR: join(dir.path, 'cache'),
      CIRRUS_STATE_DIR: join(dir.path, 'state'),
      // A refused client certificate shows up as a connect timeout first (see nats-tls.ts).
      CIRRUS_LIMIT_NATS_CONNECT_TIMEOUT_MS: '2000',
    };
    ctlSeed = await secretFile('ctl.nk', seedOf(ctlUser));
    rpcSeed = await secretFile('rpc.nk', seedOf(rpcUser));
    wrongSeed = await secretFile('wrong.nk', seedOf(stranger));
    passwordFile = await secretFile('ops.password', password);
    tls = [
      '--nats-tls-ca',
      files.caFile,
      '--nats-tls-cert',
      files.clientCertFile,
      '--nats-tls-key',
      files.clientKeyFile,
    ];
  });

  after(async () => {
    await server?.stop();
    await dir?.remove();
  });

  it('cirrus up with separate control and RPC nkeys over TLS: the control user reaches it, a provider serves on the RPC user', async () => {
    const clientTls = { caFile: files.caFile, certFile: files.clientCertFile, keyFile: files.clientKeyFile };
    // The lattice's events go into the secret scan too.
    const observer = await connectNats({
      servers: server.url,
      tls: clientTls,
      credentials: { type: 'nkey', seed: seedOf(ctlUser) },
    });
    const events: string[] = [];
    observer.subscribe(`wasmbus.evt.${LATTICE}.>`, {
      callback: (msg) => void events.push(new TextDecoder().decode(msg.data)),
    });
    const clients: NatsLatticeConnection[] = [observer];
    const up = harness();
    const running = main(
      [
        'up',
        '--nats',
        server.url,
        ...tls,
        '--ctl-nkey',
        ctlSeed,
        '--rpc-nkey',
        rpcSeed,
        '--lattice',
        LATTICE,
      ],
      up.context,
    );
    let exited: number | undefined;
    void running.then((code) => (exited = code));
    try {
      await waitFor(
        () => {
          if (exited !== undefined) throw new Error(`cirrus up exited with ${exited}: ${up.err.join('\n')}`);
          return up.out.some((l) => l.includes(`is up on lattice "${LATTICE}"`));
        },
        30_000,
        'the banner',
      );
      const nats = ['--nats', server.url, ...tls, '--lattice', LATTICE];
      const hosts = await run(['get', 'hosts', ...nats, '--nats-nkey', ctlSeed, '--output', 'json', ...PING]);
      assert.equal(hosts.code, 0, hosts.err.join('\n'));
      const [host] = JSON.parse(hosts.out.join('\n')) as HostInfo[];
      assert.ok(host !== undefined);

      // The same, as a user with a password from a file, and from the environment.
      const ops = await run([
        'get',
        'hosts',
        ...nats,
        '--nats-user',
        'ops',
        '--nats-password-file',
        passwordFile,
        ...PING,
      ]);
      assert.equal(ops.code, 0, ops.err.join('\n'));
      assert.match(ops.out.join('\n'), new RegExp(host.id));
      const fromEnv = await run(['get', 'hosts', ...nats, '--nats-user', 'ops', ...PING], {
        CIRRUS_NATS_PASSWORD: password,
      });
      assert.equal(fromEnv.code, 0, fromEnv.err.join('\n'));

      const started = await run([
        'start',
        'provider',
        host.id,
        GREETER,
        'greeter',
        ...nats,
        '--nats-nkey',
        ctlSeed,
      ]);
      assert.equal(started.code, 0, started.err.join('\n'));
      const client = await connectNats({
        servers: server.url,
        tls: clientTls,
        credentials: { type: 'nkey', seed: seedOf(rpcUser) },
      });
      clients.push(client);
      const greeting = await waitFor(
        () =>
          wrpcInvoke(client, {
            lattice: LATTICE,
            targetId: 'greeter',
            instance: witInstanceName(GREET),
            fn: GREET.functions.get('greet') as WitFunction,
            args: ['Ada'],
            sourceId: 'caller',
            linkName: 'default',
            timeoutMs: 2000,
            maxBytes: 1024 * 1024,
          }).catch(() => false),
        20_000,
        `the greeter provider to serve a call (log: ${up.err.slice(-5).join(' | ')})`,
        100,
      );
      assert.deepEqual(greeting, ['Hello, Ada!']);
      await waitFor(() => events.some((e) => e.includes('provider_started')), 5000, 'provider_started');
    } finally {
      up.signals.emit('SIGINT', 'SIGINT');
      assert.equal(await withDeadline(running, 20_000, 'cirrus up to exit'), 0, up.err.join('\n'));
      await Promise.all(clients.map((c) => c.close()));
      printed.push(...up.out, ...up.err);
      printed.push(...events);
    }
  });

  it('names the refused nkey and the connection it was for', async () => {
    const refused = await run([
      'up',
      '--nats',
      server.url,
      ...tls,
      '--ctl-nkey',
      wrongSeed,
      '--rpc-nkey',
      rpcSeed,
      '--lattice',
      LATTICE,
    ]);
    assert.equal(refused.code, 1);
    assert.match(
      refused.err[0] ?? '',
      new RegExp(
        `^error\\[LATTICE_AUTH_FAILED\\]: control connection: the NATS server at .* refused the nkey seed from ${wrongSeed} \\(user ${stranger.getPublicKey()}\\): Authorization Violation$`,
      ),
    );
  });

  it('explains a missing client certificate and an untrusted server certificate', async () => {
    const noCert = await run([
      'get',
      'hosts',
      '--nats',
      server.url,
      '--nats-tls-ca',
      files.caFile,
      '--nats-nkey',
      ctlSeed,
    ]);
    assert.equal(noCert.code, 1);
    assert.match(
      noCert.err[0] ?? '',
      /^error\[LATTICE_TLS_FAILED\]: .*requires a client certificate and this connection has none/,
    );
    assert.match(noCert.err[1] ?? '', /hint: .*--nats-tls-cert FILE --nats-tls-key FILE/);

    const untrusted = await run([
      'get',
      'hosts',
      '--nats',
      server.url,
      ...tls.slice(2),
      '--nats-tls-ca',
      files.otherCaFile,
    ]);
    assert.equal(untrusted.code, 1);
    assert.match(
      untrusted.err[0] ?? '',
      /^error\[LATTICE_TLS_FAILED\]: .*not signed by a CA this connection trusts/,
    );
  });

  it('refuses conflicting or incomplete connection flags as usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['--nats-nkey', ctlSeed], /--nats-nkey needs --nats URL/],
      [['--nats', server.url, '--nats-nkey', ctlSeed, '--nats-token-file', ctlSeed], /exclude each other/],
      [['--nats', server.url, '--nats-user', 'ops'], /--nats-user needs a password/],
      [
        ['--nats', server.url, '--nats-tls-cert', files.clientCertFile],
        /--nats-tls-cert and --nats-tls-key go together/,
      ],
    ];
    for (const [flags, message] of cases) {
      const result = await run(['get', 'hosts', ...flags]);
      assert.equal(result.code, 2, flags.join(' '));
      assert.match(result.err[0] ?? '', message);
    }
    const half = await run(['up', '--ctl-nats', server.url]);
    assert.equal(half.code, 2);
    assert.match(half.err[0] ?? '', /the RPC connection has no NATS server/);
  });

  it('never prints a seed or the password', () => {
    const text = printed.join('\n');
    assert.ok(printed.length > 0);
    for (const secret of [seedOf(ctlUser), seedOf(rpcUser), seedOf(stranger), password]) {
      assert.ok(!text.includes(secret), 'a secret was printed');
    }
  });
});

describe('cirrus with a token, and with creds files in operator mode', () => {
  let dir: TempDir;

  before(async () => {
    dir = await tempDir();
  });

  after(async () => {
    await dir?.remove();
  });

  function context(env: Record<string, string>): { context: CommandContext; out: string[]; err: string[] } {
    const out: string[] = [];
    const err: string[] = [];
    return {
      out,
      err,
      context: {
        print: (line) => void out.push(line),
        log: (line) => void err.push(...line.split('\n')),
        env: { CIRRUS_STATE_DIR: join(dir.path, 'state'), ...env },
        signals: new EventEmitter() as unknown as CommandContext['signals'],
        exit: (code) => {
          throw new Error(`exit(${code}) called`);
        },
      },
    };
  }

  it('takes the token from a file (warning when others may read it) or from $CIRRUS_NATS_TOKEN', async () => {
    await using server = await startNatsServer({ authorization: { token: 's3cret-t0ken' } });
    const shared = join(dir.path, 'token');
    await writeFile(shared, 's3cret-t0ken\n', { mode: 0o644 });
    const fromFile = context({});
    assert.equal(
      await main(
        ['get', 'hosts', '--nats', server.url, '--nats-token-file', shared, ...PING],
        fromFile.context,
      ),
      0,
    );
    assert.match(
      fromFile.err.join('\n'),
      new RegExp(
        `^warning: ${shared} \\(--nats-token-file\\) can be read by other users \\(mode 644\\); run: chmod 600`,
      ),
    );

    const fromEnv = context({ CIRRUS_NATS_TOKEN: 's3cret-t0ken' });
    assert.equal(
      await main(['get', 'hosts', '--nats', server.url, ...PING], fromEnv.context),
      0,
      fromEnv.err.join('\n'),
    );

    const wrong = join(dir.path, 'wrong-token');
    await writeFile(wrong, 'guess\n', { mode: 0o600 });
    const refused = context({});
    assert.equal(
      await main(['get', 'hosts', '--nats', server.url, '--nats-token-file', wrong], refused.context),
      1,
    );
    assert.match(
      refused.err[0] ?? '',
      new RegExp(
        `^error\\[LATTICE_AUTH_FAILED\\]: the NATS server at .* refused the token from ${wrong}: Authorization Violation`,
      ),
    );
    assert.ok(![...fromFile.err, ...fromEnv.err, ...refused.err].join('\n').includes('s3cret-t0ken'));
  });

  it('connects a host and the CLI with creds files, and names a refused creds file and its account', async () => {
    const operator = createNatsOperator();
    await using server = await startNatsServer({ operator: operator.config });
    const hostCreds = join(dir.path, 'host.creds');
    const cliCreds = join(dir.path, 'cli.creds');
    const strangerCreds = join(dir.path, 'stranger.creds');
    const stranger = operator.strangerCreds('stranger');
    await writeFile(hostCreds, operator.user('host').creds, { mode: 0o600 });
    await writeFile(cliCreds, operator.user('cli').creds, { mode: 0o600 });
    await writeFile(strangerCreds, stranger.creds, { mode: 0o600 });
    const connection = await connectNats({
      servers: server.url,
      credentials: { type: 'credsFile', path: hostCreds },
    });
    const host = await createHost({ lattice: connection, latticeName: 'creds', heartbeatIntervalMs: 0 });
    try {
      const listed = context({});
      const code = await main(
        [
          'get',
          'hosts',
          '--nats',
          server.url,
          '--nats-creds',
          cliCreds,
          '--lattice',
          'creds',
          '--output',
          'json',
          ...PING,
        ],
        listed.context,
      );
      assert.equal(code, 0, listed.err.join('\n'));
      assert.deepEqual(
        (JSON.parse(listed.out.join('\n')) as HostInfo[]).map((h) => h.id),
        [host.id],
      );

      const refused = context({});
      assert.equal(
        await main(['get', 'hosts', '--nats', server.url, '--nats-creds', strangerCreds], refused.context),
        1,
      );
      assert.match(
        refused.err[0] ?? '',
        new RegExp(
          `^error\\[LATTICE_AUTH_FAILED\\]: .*refused the user JWT and seed from the creds file ${strangerCreds} \\(user ${stranger.publicKey}, account A[A-Z0-9]+\\)`,
        ),
      );
      assert.ok(!refused.err.join('\n').includes(stranger.seed));
    } finally {
      await host.stop();
      await connection.close();
    }
  });
});
