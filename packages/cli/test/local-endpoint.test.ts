/**
 * The local endpoint file that lets `cirrus` commands find the lattice of a running `cirrus up`: where
 * it lives, that only its user can read it, that it is replaced atomically, that stale and shared
 * files are not used, and that `cirrus up` serves the lattice, writes the file and removes it again.
 * Signals: file modes and contents on disk, and control replies through the advertised endpoint.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { chmod, link, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect as tcpConnect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeJson } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { ctlPrefix } from '@cirrus/protocol';
import { tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import type { CommandContext } from '../src/index.ts';
import { main } from '../src/index.ts';
import {
  localEndpointFile,
  localStateDir,
  newToken,
  readLocalEndpoint,
  writeLocalEndpoint,
} from '../src/local-endpoint.ts';

const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;
const modeOf = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** The pid of a process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid as number;
  await new Promise((resolve) => child.once('exit', resolve));
  return pid;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

const INFO = {
  url: 'nats://127.0.0.1:4999',
  token: 'tok',
  lattice: 'default',
  hostId: 'NHOST',
  pid: process.pid,
};

describe('local endpoint file', () => {
  let dir: TempDir;
  let n = 0;
  /** A fresh state directory per test. */
  const env = (): Record<string, string> => ({ CIRRUS_STATE_DIR: join(dir.path, `state-${n++}`) });

  before(async () => {
    dir = await tempDir();
  });

  after(async () => {
    await dir.remove();
  });

  it('lives in $CIRRUS_STATE_DIR, else $XDG_STATE_HOME/cirrus, else $HOME/.local/state/cirrus', () => {
    assert.equal(localStateDir({ CIRRUS_STATE_DIR: '/s', XDG_STATE_HOME: '/x', HOME: '/h' }), '/s');
    assert.equal(localStateDir({ CIRRUS_STATE_DIR: '', XDG_STATE_HOME: '/x', HOME: '/h' }), '/x/cirrus');
    assert.equal(localStateDir({ XDG_STATE_HOME: '', HOME: '/h' }), '/h/.local/state/cirrus');
    assert.equal(localEndpointFile({ CIRRUS_STATE_DIR: '/s' }), '/s/local-lattice-default.json');
    assert.equal(
      localEndpointFile({ CIRRUS_STATE_DIR: '/s' }, '../a/b'),
      '/s/local-lattice-..%2Fa%2Fb.json',
      'a lattice name never leaves the directory',
    );
  });

  it('is written user-only: file 0600 in a 0700 directory, which is tightened if it was wider', async () => {
    const home = join(dir.path, 'home');
    const remove = await writeLocalEndpoint({ HOME: home }, INFO);
    const stateDir = join(home, '.local', 'state', 'cirrus');
    assert.equal(await modeOf(stateDir), 0o700);
    assert.equal(await modeOf(join(stateDir, 'local-lattice-default.json')), 0o600);
    await remove();

    const wide = env();
    await mkdir(wide.CIRRUS_STATE_DIR as string, { mode: 0o755 });
    await chmod(wide.CIRRUS_STATE_DIR as string, 0o755);
    await writeLocalEndpoint(wide, INFO);
    assert.equal(await modeOf(wide.CIRRUS_STATE_DIR as string), 0o700);
  });

  it('reads back what was written, for the lattice asked for', async () => {
    const e = env();
    await writeLocalEndpoint(e, { ...INFO, lattice: 'other', hostId: 'NOTHER' });
    assert.equal(await readLocalEndpoint(e), undefined, 'no file for the default lattice');
    assert.deepEqual(await readLocalEndpoint(e, 'other'), {
      url: INFO.url,
      token: INFO.token,
      lattice: 'other',
      hostId: 'NOTHER',
    });
    assert.deepEqual(JSON.parse(await readFile(localEndpointFile(e, 'other'), 'utf8')), {
      ...INFO,
      lattice: 'other',
      hostId: 'NOTHER',
    });
  });

  it('is replaced atomically: readers never see half a file and no temporary file is left', async () => {
    const e = env();
    await writeLocalEndpoint(e, INFO);
    // A second name for the first file: written in place, it would change too.
    const original = join(dir.path, `original-${n}.json`);
    await link(localEndpointFile(e), original);
    let stop = false;
    let reads = 0;
    const reader = (async () => {
      while (!stop) {
        const record = await readLocalEndpoint(e);
        assert.ok(record !== undefined && record.token.startsWith('t'), 'a whole record');
        reads++;
      }
    })();
    for (let i = 0; i < 50; i++) await writeLocalEndpoint(e, { ...INFO, token: `t${'x'.repeat(i * 100)}` });
    stop = true;
    await reader;
    assert.ok(reads > 0);
    assert.equal(
      (JSON.parse(await readFile(original, 'utf8')) as { token: string }).token,
      'tok',
      'new files were renamed into place',
    );
    assert.deepEqual(await readdir(e.CIRRUS_STATE_DIR as string), ['local-lattice-default.json']);
  });

  it('is ignored when the process that wrote it is gone', async () => {
    const e = env();
    await writeLocalEndpoint(e, { ...INFO, pid: await deadPid() });
    assert.equal(await readLocalEndpoint(e), undefined);
    await writeLocalEndpoint(e, INFO);
    assert.equal((await readLocalEndpoint(e))?.hostId, 'NHOST');
  });

  it('is refused when other users can read it, with a hint to chmod 600', async () => {
    const e = env();
    await writeLocalEndpoint(e, INFO);
    const file = localEndpointFile(e);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      await chmod(file, mode);
      await assert.rejects(readLocalEndpoint(e), (err) => {
        assert.equal(codeOf(err), 'INSECURE_PERMISSIONS', mode.toString(8));
        assert.match((err as { hint?: string }).hint ?? '', /chmod 600/);
        return true;
      });
    }
    await chmod(file, 0o600);
    assert.ok((await readLocalEndpoint(e)) !== undefined);
  });

  it('is refused when it is not a local endpoint file', async () => {
    const e = env();
    await mkdir(e.CIRRUS_STATE_DIR as string, { recursive: true, mode: 0o700 });
    await writeFile(localEndpointFile(e), '{"url": 1}', { mode: 0o600 });
    await assert.rejects(readLocalEndpoint(e), (err) => codeOf(err) === 'INVALID_ARGUMENT');
  });

  it('is removed only by the process that wrote it', async () => {
    const e = env();
    const removeMine = await writeLocalEndpoint(e, INFO);
    const removeTheirs = await writeLocalEndpoint(e, { ...INFO, pid: process.ppid, hostId: 'NLATER' });
    await removeMine();
    assert.equal((await readLocalEndpoint(e))?.hostId, 'NLATER', 'a later writer’s file stays');
    await removeTheirs();
    assert.equal(await readLocalEndpoint(e), undefined);
    await removeTheirs();
  });

  it('holds a fresh 256-bit token each time', () => {
    const a = newToken();
    assert.match(a, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, newToken());
  });
});

describe('cirrus up and the local endpoint', () => {
  let dir: TempDir;

  before(async () => {
    dir = await tempDir();
  });

  after(async () => {
    await dir.remove();
  });

  function harness(
    extraEnv: Record<string, string> = {},
    out: string[] = [],
  ): { context: CommandContext; err: string[]; signals: EventEmitter } {
    const err: string[] = [];
    const signals = new EventEmitter();
    return {
      err,
      signals,
      context: {
        print: (line) => out.push(line),
        log: (line) => err.push(line),
        env: {
          CIRRUS_CACHE_DIR: join(dir.path, 'cache'),
          CIRRUS_STATE_DIR: join(dir.path, 'state'),
          ...extraEnv,
        },
        signals: signals as unknown as CommandContext['signals'],
        exit: (code) => {
          throw new Error(`exit(${code}) called`);
        },
      },
    };
  }

  /** Runs `cirrus up`; `stop()` sends SIGINT once and waits for the exit code (also after a failure). */
  function up(
    argv: string[],
    extraEnv: Record<string, string> = {},
  ): { h: ReturnType<typeof harness>; stop: () => Promise<number> } {
    const h = harness(extraEnv);
    const running = main(['up', ...argv], h.context);
    let exit: Promise<number> | undefined;
    const stop = (): Promise<number> => {
      if (exit === undefined) {
        h.signals.emit('SIGINT', 'SIGINT');
        exit = withDeadline(running, 15_000, 'cirrus up to exit');
      }
      return exit;
    };
    return { h, stop };
  }

  it('serves the lattice on the chosen loopback port, logs the URL but not the token, and cleans up', async () => {
    const port = await freePort();
    const { h, stop } = up(['--local-port', String(port), '--log-format', 'json']);
    try {
      const endpoint = await waitFor(() => readLocalEndpoint(h.context.env), 30_000, 'the endpoint file');
      assert.equal(endpoint.url, `nats://127.0.0.1:${port}`);

      const client = await connectNats({
        servers: endpoint.url,
        credentials: { type: 'token', token: endpoint.token },
      });
      try {
        const pong = await client.request(`${ctlPrefix('default')}.host.ping`, undefined, {
          timeoutMs: 5000,
        });
        assert.equal(decodeJson<{ response?: { id?: string } }>(pong.data).response?.id, endpoint.hostId);
      } finally {
        await client.close();
      }

      const logged = h.err.map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.ok(
        logged.some((l) => l['msg'] === 'local lattice endpoint' && l['url'] === endpoint.url),
        'the URL is logged',
      );
      assert.ok(!h.err.some((line) => line.includes(endpoint.token)), 'the token is never logged');

      assert.equal(await stop(), 0);
      assert.equal(await readLocalEndpoint(h.context.env), undefined, 'the file is removed');
      await assert.rejects(stat(localEndpointFile(h.context.env)));
    } finally {
      await stop().catch(() => undefined);
    }
  });

  /** A TCP connection to the endpoint that reads but never sends; `closed` settles when it ends. */
  async function idleConnection(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    // Reading is what lets the endpoint's close reach this end.
    socket.resume();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await withDeadline(once(socket, 'connect'), 2000, 'TCP connect to the endpoint');
    return { socket, closed };
  }

  /** Runs one `cirrus` command against the running `cirrus up`; returns its exit code, output and time. */
  async function cirrus(
    env: Record<string, string>,
    ...argv: string[]
  ): Promise<{ code: number; out: string[]; err: string[]; ms: number }> {
    const out: string[] = [];
    const h = harness(env, out);
    const started = performance.now();
    const code = await withDeadline(main(argv, h.context), 15_000, `cirrus ${argv.join(' ')}`);
    return { code, out, err: h.err, ms: performance.now() - started };
  }

  it('answers `cirrus get hosts` at once while 200 connections without the token are open, which the auth timeout then closes', async () => {
    const { h, stop } = up(['--local-port', String(await freePort())]);
    const idle: { socket: Socket; closed: Promise<void> }[] = [];
    try {
      const endpoint = await waitFor(() => readLocalEndpoint(h.context.env), 30_000, 'the endpoint file');
      const port = Number(new URL(endpoint.url).port);
      for (let i = 0; i < 200; i++) idle.push(await idleConnection(port));

      const run = await cirrus({}, 'get', 'hosts', '--output', 'json', '--timeout', '400');
      assert.equal(run.code, 0, run.err.join('\n'));
      const hosts = JSON.parse(run.out.join('\n')) as unknown[];
      assert.equal(hosts.length, 1);
      assert.ok(run.out.join('\n').includes(endpoint.hostId));
      // 400 ms of it is the host.ping window; measured 420–480 ms in all (before: a failure after 5 s).
      assert.ok(run.ms < 1_500, `took ${run.ms.toFixed(0)} ms`);
      assert.ok(
        idle.some(({ socket }) => !socket.destroyed),
        'answered while idle connections were still held, not after they timed out',
      );

      // The endpoint's auth timeout (2 s by default) closes every idle one.
      await withDeadline(
        Promise.all(idle.map(({ closed }) => closed)),
        5_000,
        'idle connections closed by the auth timeout',
      );
      assert.equal(await stop(), 0);
    } finally {
      for (const { socket } of idle) socket.destroy();
      await stop().catch(() => undefined);
    }
  });

  it('fails `cirrus get hosts` at once with LATTICE_CONNECT_REFUSED naming maximum connections when the endpoint is full', async () => {
    const env = { CIRRUS_LIMIT_LOCAL_ENDPOINT_MAX_CONNECTIONS: '2' };
    const { h, stop } = up(['--local-port', String(await freePort())], env);
    const clients: NatsLatticeConnection[] = [];
    try {
      const endpoint = await waitFor(() => readLocalEndpoint(h.context.env), 30_000, 'the endpoint file');
      for (let i = 0; i < 2; i++) {
        clients.push(
          await connectNats({ servers: endpoint.url, credentials: { type: 'token', token: endpoint.token } }),
        );
      }

      const run = await cirrus(env, 'get', 'hosts', '--timeout', '400');
      assert.notEqual(run.code, 0);
      const said = run.err.join('\n');
      assert.match(
        said,
        /error\[LATTICE_CONNECT_REFUSED\]: local lattice endpoint: .*maximum connections exceeded/,
      );
      assert.match(said, /CIRRUS_LIMIT_LOCAL_ENDPOINT_MAX_CONNECTIONS/);
      assert.ok(!said.includes(endpoint.token), 'the token is never shown');
      // Measured 10–25 ms; before, the command waited out the 5 s connect timeout and said "timeout".
      assert.ok(run.ms < 1_000, `failed after ${run.ms.toFixed(0)} ms`);
    } finally {
      for (const client of clients) await client.close();
      await stop().catch(() => undefined);
    }
  });

  it('starts without an endpoint with --no-local-endpoint, and refuses bad flag values', async () => {
    const { h, stop } = up(['--no-local-endpoint']);
    try {
      await waitFor(() => h.err.some((l) => l.includes('host started')), 30_000, 'the host to start');
      assert.ok(!h.err.some((l) => l.includes('local lattice endpoint')));
      assert.equal(await readLocalEndpoint(h.context.env), undefined);
      assert.equal(await stop(), 0, h.err.join('\n'));
    } finally {
      await stop().catch(() => undefined);
    }

    for (const argv of [
      ['up', '--local-port', 'http'],
      ['up', '--local-port', '70000'],
      ['up', '--local-port', '1', '--no-local-endpoint'],
    ]) {
      assert.equal(await main(argv, harness().context), 2, argv.join(' '));
    }
  });
});
