/**
 * The local endpoint of `cirrus up` cannot be locked by clients without its token. 1,000 connections
 * that never authenticate are held open against a running host; meanwhile `cirrus get hosts` (which
 * has the token) answers, the flood is closed by the auth timeout, and the host's file descriptors
 * come back to where they were. Before, 200 such connections filled localEndpointMaxConnections for
 * the 2 s auth timeout, and `cirrus get hosts` failed with a misleading "timeout".
 *
 * Measured (test diagnostics): how long `cirrus get hosts` took during the flood, and the host's open
 * file descriptors before, during and after it.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir, waitFor } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { killAll, openFds, runCirrus, startCirrusUp } from './support.ts';
import type { CirrusProcess } from './support.ts';

const FLOOD = 1000;
const AUTH_TIMEOUT_MS = 2000;

describe('the local endpoint flooded by clients without a token', () => {
  let dir: TempDir;
  let host: CirrusProcess;
  const flood: Socket[] = [];

  before(async () => {
    dir = await tempDir();
    host = await startCirrusUp({
      dir: dir.path,
      args: ['--log-format', 'json', '--name', 'flooded'],
      env: { CIRRUS_LIMIT_LOCAL_ENDPOINT_AUTH_TIMEOUT_MS: String(AUTH_TIMEOUT_MS) },
    });
  });

  after(async () => {
    for (const socket of flood) socket.destroy();
    await host?.stop();
    killAll();
    await dir?.remove();
  });

  it('answers cirrus get hosts during the flood, then closes the flood and returns its descriptors', async (t) => {
    const endpoint = JSON.parse(
      await readFile(join(host.stateDir, 'local-lattice-default.json'), 'utf8'),
    ) as { url: string };
    const { hostname, port } = new URL(endpoint.url);
    const baseline = await openFds(host.pid);
    let closed = 0;
    await Promise.all(
      Array.from(
        { length: FLOOD },
        () =>
          new Promise<void>((resolve) => {
            const socket = connect(Number(port), hostname, () => resolve());
            socket.on('error', () => resolve());
            socket.on('close', () => closed++);
            socket.resume();
            flood.push(socket);
          }),
      ),
    );
    const during = await openFds(host.pid);
    const started = performance.now();
    const result = await runCirrus(['get', 'hosts'], { dir: dir.path, timeoutMs: 15_000 });
    const tookMs = Math.round(performance.now() - started);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /flooded/);

    await waitFor(() => closed === FLOOD, AUTH_TIMEOUT_MS + 10_000, 'the flood to be closed by the server');
    let after = during;
    await waitFor(
      async () => (after = await openFds(host.pid)) === baseline,
      10_000,
      "the host's descriptors to return to their baseline",
    ).catch(() => undefined);
    t.diagnostic(
      `cirrus get hosts took ${tookMs} ms during the flood (a new process and its ping window included); ` +
        `host fds: ${baseline} before, ${during} during, ${after} after`,
    );
    assert.equal(after, baseline, 'the host holds no descriptor for the flood once it is closed');
  });
});
