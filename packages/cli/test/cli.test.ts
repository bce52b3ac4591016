/**
 * The CLI as users run it: `cirrus up` deploys an app and serves it, a broken app is refused before
 * anything starts, and the process exits cleanly on SIGINT/SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { connectNats } from '@cirrus/lattice-nats';
import { freePort, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { buildProject, main } from '../src/index.ts';
import { harness, ownDirs } from './support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HELLO_MANIFEST = join(ROOT, 'examples/hello/app.yaml');
const CIRRUS = join(ROOT, 'packages/cli/bin/cirrus.js');

/** The demo manifest, listening on `port`, with the image path made absolute. */
async function helloManifest(
  dir: string,
  port: number,
  edit: (text: string) => string = (t) => t,
): Promise<string> {
  const text = (await readFile(HELLO_MANIFEST, 'utf8'))
    .replace('./build/hello.wasm', join(ROOT, 'examples/hello/build/hello.wasm'))
    .replace('127.0.0.1:8000', `127.0.0.1:${port}`);
  const file = join(dir, `app-${port}.yaml`);
  await writeFile(file, edit(text));
  return file;
}

describe('cirrus CLI', () => {
  let dir: TempDir;

  before(async () => {
    dir = await tempDir();
  });

  after(async () => {
    await dir.remove();
  });

  it('cirrus up deploys the app, serves it, and returns 0 on SIGTERM', async () => {
    // A free port can be taken by another test process before the host binds it; that attempt
    // then ends with ADDRESS_IN_USE and the test tries another port.
    let port = 0;
    let h = harness(ownDirs(dir.path));
    let running: Promise<number> = Promise.resolve(1);
    let banner: string | undefined;
    for (let attempt = 1; banner === undefined; attempt++) {
      port = await freePort();
      h = harness(ownDirs(dir.path));
      const file = await helloManifest(dir.path, port);
      running = main(['up', '--app', file, '--log-format', 'json'], h.context);
      const shown = waitFor(() => h.out.find((l) => l.startsWith('Serving ')), 60_000, 'the serving banner');
      const outcome = await Promise.race([shown, running]);
      if (typeof outcome === 'string') banner = outcome;
      else if (attempt < 3 && h.err.some((l) => l.includes('ADDRESS_IN_USE'))) continue;
      else assert.fail(`cirrus up exited with ${outcome} before serving:\n${h.err.join('\n')}`);
    }
    assert.equal(banner, `Serving http://127.0.0.1:${port}/  (try: curl http://127.0.0.1:${port}/)`);
    const response = await fetch(`http://127.0.0.1:${port}/from-test`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^Hello from Cirrus!\nmethod: GET\npath: \/from-test\n/);
    assert.ok(
      h.err.every((line) => JSON.parse(line) !== null),
      'every log line is JSON with --log-format json',
    );
    h.signals.emit('SIGTERM', 'SIGTERM');
    assert.equal(await withDeadline(running, 15_000, 'cirrus up to exit'), 0);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`), 'the listener is closed after shutdown');
  });

  it('cirrus up --nats joins a NATS lattice, answers the control interface, and leaves on SIGINT', async () => {
    await using nats = await startNatsServer();
    const observer = await connectNats({ servers: nats.url });
    try {
      const h = harness(ownDirs(dir.path));
      const running = main(
        ['up', '--nats', nats.url, '--lattice', 'cli-nats', '--name', 'joined', '--heartbeat-interval', '1'],
        h.context,
      );
      await waitFor(() => h.out.some((l) => l.includes('is up on lattice "cli-nats"')), 30_000, 'the banner');
      const reply = await observer.request('wasmbus.ctl.v1.cli-nats.host.ping', undefined, {
        timeoutMs: 2000,
      });
      const info = reply.json<{ response: { friendly_name: string; lattice: string } }>().response;
      assert.deepEqual([info.friendly_name, info.lattice], ['joined', 'cli-nats']);
      const heartbeats = observer.subscribe('wasmbus.evt.cli-nats.host_heartbeat', { max: 1 });
      await withDeadline(heartbeats.closed, 5000, 'a heartbeat within the 1 s interval');
      assert.ok(!h.err.some((l) => l.includes('local lattice endpoint')), 'no local endpoint on NATS');
      h.signals.emit('SIGINT', 'SIGINT');
      assert.equal(await withDeadline(running, 15_000, 'cirrus up to exit'), 0);
    } finally {
      await observer.close();
    }
  });

  it('refuses an app with a link to a missing component before starting anything, naming the line', async () => {
    const port = await freePort();
    const h = harness(ownDirs(dir.path));
    const file = await helloManifest(dir.path, port, (text) =>
      text.replace('name: greeter\n            namespace', 'name: greter\n            namespace'),
    );
    const code = await withDeadline(main(['up', '--app', file], h.context), 10_000, 'cirrus up to fail');
    assert.equal(code, 1);
    const error = h.err.join('\n');
    assert.match(error, /error\[MANIFEST_INVALID\]/);
    assert.match(
      error,
      /line 3\d: link from "httpserver" targets "greter", which is not a component of this manifest/,
    );
    assert.match(error, /did you mean|set target to one of: greeter/);
    assert.ok(!h.err.some((l) => l.includes('host started')), 'no host was started');
  });

  it('refuses an app with an unknown key and suggests the right one', async () => {
    const h = harness(ownDirs(dir.path));
    const file = await helloManifest(dir.path, await freePort(), (text) =>
      text.replace('instances: 4', 'instanses: 4'),
    );
    assert.equal(await main(['up', '--app', file], h.context), 1);
    assert.match(h.err.join('\n'), /line \d+: .*unknown key "instanses".*did you mean "instances"/s);
  });

  it('answers usage errors with exit code 2 and a hint', async () => {
    const h = harness(ownDirs(dir.path));
    assert.equal(await main(['fly'], h.context), 2);
    assert.match(
      h.err.join('\n'),
      /error\[USAGE_ERROR\]: unknown command "fly"\n {2}hint: commands: up, app, build/,
    );
    assert.equal(await main(['up', '--label', 'novalue'], h.context), 2);
    assert.equal(await main(['up', '--log-format', 'xml'], h.context), 2);
    assert.equal(await main(['up', '--bogus'], h.context), 2);
  });

  it('cirrus build skips an unchanged project', async () => {
    const h = harness(ownDirs(dir.path));
    const result = await buildProject(join(ROOT, 'examples/hello'), {}, h.context);
    assert.equal(result.skipped, true);
    assert.match(h.out.join('\n'), /is up to date/);
  });

  it('the cirrus binary exits cleanly on SIGINT', async () => {
    const port = await freePort();
    const file = await helloManifest(dir.path, port);
    const child = spawn(process.execPath, [CIRRUS, 'up', '--app', file], {
      env: {
        ...process.env,
        CIRRUS_CACHE_DIR: join(dir.path, 'cache'),
        CIRRUS_STATE_DIR: join(dir.path, 'state'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => stdout.includes('Press Ctrl+C to stop.'), 30_000, 'the host to come up');
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
      child.kill('SIGINT');
      assert.equal(await withDeadline(exited, 15_000, 'the process to exit'), 0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
