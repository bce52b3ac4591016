/**
 * `cirrus up` serves the dashboard: one log line with the URL to open, token included; the URL works
 * (token for a session cookie); `cirrus ui` prints the same URL from the user-only file, which goes
 * when the host stops. A busy default address is a warning, a busy `--dashboard` address an error,
 * and a non-loopback one is refused.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { harness, ownDirs } from './support.ts';

describe('cirrus up --dashboard and cirrus ui', () => {
  let dir: TempDir;

  before(async () => {
    dir = await tempDir();
  });

  after(async () => {
    await dir?.remove();
  });

  function up(argv: string[]): { err: string[]; stop: () => Promise<number>; running: Promise<number> } {
    const { context, err, signals } = harness(ownDirs(dir.path));
    const running = main(['up', '--no-local-endpoint', '--log-format', 'json', ...argv], context);
    let exit: Promise<number> | undefined;
    const stop = (): Promise<number> => {
      if (exit === undefined) {
        signals.emit('SIGINT', 'SIGINT');
        exit = withDeadline(running, 15_000, 'cirrus up to exit');
      }
      return exit;
    };
    return { err, stop, running };
  }

  const logged = (err: string[]): Record<string, unknown>[] =>
    err.flatMap((line) => {
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });

  it('logs the URL to open, which cirrus ui prints again until the host stops', async () => {
    const port = await freePort();
    const { err, stop } = up(['--dashboard', `127.0.0.1:${port}`]);
    try {
      const line = await waitFor(
        () => logged(err).find((entry) => entry['msg'] === 'dashboard'),
        30_000,
        'the dashboard log line',
      );
      const url = String(line['url']);
      assert.match(url, new RegExp(`^http://127\\.0\\.0\\.1:${port}/\\?token=[A-Za-z0-9_-]{43}$`));
      const opened = await fetch(url, { redirect: 'manual' });
      assert.equal(opened.status, 303);
      assert.match(opened.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
      const ui = harness(ownDirs(dir.path));
      assert.equal(await main(['ui'], ui.context), 0);
      assert.deepEqual(ui.out, [url]);
      const file = join(dir.path, 'state', 'dashboard-default.json');
      assert.equal((await stat(file)).mode & 0o077, 0, 'the file holds the token: user-only');
    } finally {
      assert.equal(await stop(), 0);
    }
    const gone = harness(ownDirs(dir.path));
    assert.equal(await main(['ui'], gone.context), 1);
    assert.match(gone.err.join('\n'), /HOST_NOT_FOUND/);
  });

  it('fails on a busy --dashboard address, and refuses one off loopback or malformed', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const busy = (blocker.address() as AddressInfo).port;
    try {
      const { err, running } = up(['--dashboard', `127.0.0.1:${busy}`]);
      assert.equal(await withDeadline(running, 30_000, 'cirrus up to fail'), 1);
      assert.match(err.join('\n'), /ADDRESS_IN_USE/);
    } finally {
      blocker.close();
    }
    const remote = up(['--dashboard', '0.0.0.0:0']);
    assert.equal(await withDeadline(remote.running, 30_000, 'cirrus up to fail'), 1);
    assert.match(remote.err.join('\n'), /INVALID_ADDRESS/);
    const malformed = up(['--dashboard', 'nowhere']);
    assert.equal(await withDeadline(malformed.running, 30_000, 'cirrus up to fail'), 2);
  });

  it('ends cleanly on a signal while the dashboard starts', async () => {
    // The dashboard starts right after the application manager: a signal then closes the lattice
    // connection under it, which must read as the shutdown asked for, not as a failed start.
    for (const delayMs of [0, 2, 5, 10, 15, 20, 30, 45]) {
      const h = harness(ownDirs(dir.path));
      const log = h.context.log;
      h.context.log = (line) => {
        log(line);
        if (line.includes('application manager active')) {
          setTimeout(() => h.signals.emit('SIGINT', 'SIGINT'), delayMs);
        }
      };
      const code = await withDeadline(
        main(['up', '--no-local-endpoint', '--dashboard', '127.0.0.1:0'], h.context),
        30_000,
        'cirrus up to end',
      );
      assert.equal(code, 0, `signal ${delayMs} ms after the manager started\n${h.err.join('\n')}`);
    }
  });

  it('starts without the dashboard with --no-dashboard', async () => {
    const { err, stop } = up(['--no-dashboard']);
    try {
      await waitFor(() => logged(err).some((e) => e['msg'] === 'host started'), 30_000, 'the host to start');
      assert.ok(!logged(err).some((e) => e['msg'] === 'dashboard'));
    } finally {
      assert.equal(await stop(), 0);
    }
  });
});
