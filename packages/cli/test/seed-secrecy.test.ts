/**
 * No seed leaves its file. A host runs with a host seed, signed components start, and refused ones
 * fail (tampered, unsigned, a provider program, an issuer key of the wrong type), all at debug level;
 * every line the CLI printed or logged and every message on the lattice (events, control traffic,
 * KV writes: everything under `>` on the NATS server) is scanned for any nkey seed, and for the
 * specific seeds the test used.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Subscription } from '@cirrus/lattice';
import { connectNats } from '@cirrus/lattice-nats';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { Nkey, NKEY_SEED_PATTERN, stripClaimsSections } from '@cirrus/protocol';
import { freePort, startNatsServer, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import type { CommandContext } from '../src/index.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HELLO_WASM = join(ROOT, 'examples/hello/build/hello.wasm');
const GREETER_MAIN = join(ROOT, 'examples/greeter-provider/src/main.ts');
const LATTICE = 'secrecy';
const START_MS = 60_000;

describe('seed secrecy', () => {
  let dir: TempDir;
  let nats: NatsServer;
  let observer: NatsLatticeConnection;
  let everything: Subscription;
  /** Every line printed or logged by any command, and every message seen on the lattice. */
  const seen: string[] = [];
  const seeds: string[] = [];
  const signals = new EventEmitter();

  function context(): CommandContext {
    return {
      print: (line) => seen.push(line),
      log: (line) => seen.push(line),
      env: { CIRRUS_CACHE_DIR: join(dir.path, 'cache'), CIRRUS_STATE_DIR: join(dir.path, 'state') },
      signals: signals as unknown as CommandContext['signals'],
      exit: (code) => {
        throw new Error(`exit(${code}) called`);
      },
    };
  }

  async function cirrus(...argv: string[]): Promise<number> {
    return main(argv, context());
  }

  async function keyFile(type: string, name: string): Promise<string> {
    const file = join(dir.path, name);
    assert.equal(await cirrus('keys', 'gen', type, '--output', file), 0);
    seeds.push((await readFile(file, 'utf8')).trim());
    return file;
  }

  before(async () => {
    dir = await tempDir();
    nats = await startNatsServer();
    observer = await connectNats({ servers: nats.url });
    everything = observer.subscribe('>', {
      callback: (msg) => {
        const headers = msg.headers === undefined ? '' : JSON.stringify(msg.headers);
        seen.push(`${msg.subject} ${msg.reply ?? ''} ${headers} ${Buffer.from(msg.data).toString('latin1')}`);
      },
    });
  });

  after(async () => {
    everything.unsubscribe();
    await observer.close();
    await nats.stop();
    await dir.remove();
  });

  it('appears in no log line, no output and no message on the lattice', async () => {
    const hostSeed = await keyFile('server', 'host.nk');
    const issuer = await keyFile('account', 'issuer.nk');
    const issuerKey = Nkey.fromSeed(seeds[1] as string);
    const signed = join(dir.path, 'hello_s.wasm');
    const signArgs = ['--name', 'hello', '--ver', '0.1.0', '--rev', '1', '--output', signed];
    assert.equal(await cirrus('claims', 'sign', HELLO_WASM, '--issuer', issuer, ...signArgs), 0);
    seeds.push((await readFile(join(dir.path, 'hello_module.nk'), 'utf8')).trim());
    assert.equal(await cirrus('claims', 'inspect', signed), 0);
    // A failed signing with a seed of the wrong type: the error names the file, not the seed.
    assert.equal(await cirrus('claims', 'sign', HELLO_WASM, '--issuer', hostSeed, ...signArgs), 1);
    const tampered = join(dir.path, 'tampered.wasm');
    const bytes = await readFile(signed);
    // A byte of the component's own last section, before the claims section that follows it.
    const last = stripClaimsSections(bytes).byteLength - 10;
    bytes[last] = (bytes[last] as number) ^ 0x01;
    await writeFile(tampered, bytes);

    const port = await freePort();
    const manifest = (await readFile(join(ROOT, 'examples/hello/app.yaml'), 'utf8'))
      .replace('./build/hello.wasm', signed)
      .replace('127.0.0.1:8000', `127.0.0.1:${port}`);
    const app = join(dir.path, 'app.yaml');
    await writeFile(app, manifest);

    const running = cirrus(
      'up',
      '--nats',
      nats.url,
      '--lattice',
      LATTICE,
      '--host-seed',
      hostSeed,
      '--require-signed',
      '--allowed-issuer',
      issuerKey.publicKey,
      '--app',
      app,
      '--log-format',
      'json',
      '--log-level',
      'debug',
      '--heartbeat-interval',
      '1',
    );
    const hostId = Nkey.fromSeed(seeds[0] as string).publicKey;
    await withDeadline(
      Promise.race([
        waitFor(() => seen.some((l) => l.startsWith('Serving ')), START_MS, 'the serving banner'),
        running.then((code) => assert.fail(`cirrus up exited with ${code}:\n${seen.join('\n')}`)),
      ]),
      START_MS,
      'cirrus up',
    );
    assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);

    const ctl = ['--nats', nats.url, '--lattice', LATTICE];
    const events = (type: string): string[] =>
      seen.filter((l) => l.startsWith(`wasmbus.evt.${LATTICE}.${type} `));
    assert.ok(
      seen.some((l) => l.includes('"msg":"host started"') && l.includes(hostId)),
      'the host runs under the id of its seed',
    );
    assert.equal(await cirrus('get', 'hosts', ...ctl), 0);
    assert.equal(
      await cirrus('scale', 'component', hostId, tampered, 'tampered', '--count', '1', '--wait', ...ctl),
      1,
    );
    assert.equal(
      await cirrus('scale', 'component', hostId, HELLO_WASM, 'unsigned', '--count', '1', '--wait', ...ctl),
      1,
    );
    assert.equal(
      await cirrus('start', 'provider', hostId, pathToFileURL(GREETER_MAIN).href, 'greeter', ...ctl),
      0,
    );
    await waitFor(() => events('provider_start_failed').length > 0, 10_000, 'provider_start_failed');
    await waitFor(() => events('host_heartbeat').length > 0, 10_000, 'a heartbeat');
    const failures = events('component_scale_failed').join('\n');
    assert.match(failures, /CLAIMS_HASH_MISMATCH/);
    assert.match(failures, /CLAIMS_REQUIRED/);
    assert.match(events('provider_start_failed').join('\n'), /CLAIMS_REQUIRED/);

    signals.emit('SIGTERM', 'SIGTERM');
    assert.equal(await withDeadline(running, 15_000, 'cirrus up to exit'), 0);
    await waitFor(() => events('host_stopped').length > 0, 5_000, 'host_stopped');

    assert.equal(seeds.length, 3);
    assert.ok(seen.length > 100, `captured ${seen.length} lines and messages`);
    const all = seen.join('\n');
    for (const seed of seeds) {
      assert.ok(!all.includes(seed), 'a seed the test used appears');
      assert.ok(!all.includes(seed.slice(2, 30)), 'part of a seed the test used appears');
    }
    const leaked = all.match(NKEY_SEED_PATTERN) ?? [];
    assert.deepEqual(leaked, [], 'no nkey seed of any type appears');
  });
});
