/**
 * wasi:blobstore across hosts, on one nats-server. The blobstore provider runs on host A only; the
 * blobs component runs on host B only, linked to it. Its calls cross as
 * `wrpc:blobstore/blobstore@0.2.0`, object data streaming both ways: objects of several MiB are
 * written (named before and after their bytes), read whole, by range and at once, listed and
 * deleted, and they land in host A's directory. With host A gone the guest gets an error at once.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Msg, Subscription } from '@cirrus/lattice';
import type { NatsLatticeConnection } from '@cirrus/lattice-nats';
import { resolveLimits } from '@cirrus/protocol';
import { freePort, startNatsServer, tempDir, waitFor } from '@cirrus/testing';
import type { NatsServer, TempDir } from '@cirrus/testing';
import { hostOnNats, routeHttp, sendRaw } from './support.ts';
import type { Host } from '../src/index.ts';

const BLOBS_WASM = fileURLToPath(new URL('../../testing/fixtures/blobs/build/blobs.wasm', import.meta.url));
const MiB = 1024 * 1024;

const sendRemote = (port: number, method: string, path: string, body?: Uint8Array | string) =>
  sendRaw(port, method, path, body, 30_000);

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('wasi:blobstore across hosts', () => {
  let dir: TempDir;
  let nats: NatsServer;
  const connections: NatsLatticeConnection[] = [];
  let a: Host;
  let b: Host;
  let port: number;
  let root: string;
  const invocations: string[] = [];
  let spying: Subscription;

  before(async () => {
    dir = await tempDir();
    root = join(dir.path, 'blobs');
    nats = await startNatsServer();
    const cache = join(dir.path, 'cache');
    // A window smaller than the objects, so that bytes written before their name spill to a file.
    const limits = resolveLimits({ maxInstances: 4, blobstoreMaxSyncReadBytes: 2 * MiB });
    const started = [
      await hostOnNats(nats.url, 'a', cache, { limits }),
      await hostOnNats(nats.url, 'b', cache, { limits }),
    ];
    connections.push(...started.map((s) => s.connection));
    [a, b] = started.map((s) => s.host) as [Host, Host];
    const spy = (await hostOnNats(nats.url, 'spy', cache)).connection;
    connections.push(spy);
    spying = spy.subscribe('default.store.>', { callback: (msg: Msg) => invocations.push(msg.subject) });
    port = await freePort();
    await a.startProvider({ providerRef: 'wasmcloud+builtin://blobstore', providerId: 'store' });
    await b.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' });
    await b.scaleComponent({ componentRef: BLOBS_WASM, componentId: 'blobs', count: 2 });
    await b.putConfig('blob-root', { ROOT: root });
    await b.putLink({
      source_id: 'blobs',
      target: 'store',
      wit_namespace: 'wasi',
      wit_package: 'blobstore',
      interfaces: ['blobstore'],
      target_config: ['blob-root'],
    });
    await routeHttp(b, 'blobs', port, 'blobs');
    // Host A learns of the link from the lattice: until then its provider refuses the caller.
    await waitFor(
      async () => (await sendRemote(port, 'PUT', '/c/box')).status === 201,
      10_000,
      'the provider on host A to take the link',
      50,
    );
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    for (const connection of connections) await connection.close();
    await nats?.stop();
    await dir?.remove();
  });

  it('writes, reads, lists and deletes objects of several MiB on the provider host', async () => {
    const big = randomBytes(5 * MiB);
    const put = await sendRemote(port, 'PUT', '/c/box/big.bin', big);
    assert.deepEqual([put.status, put.text], [201, `${big.byteLength}\n`]);
    assert.equal(
      sha256(await readFile(join(root, 'box', 'big.bin'))),
      sha256(big),
      'the bytes are on host A',
    );

    const named = randomBytes(3 * MiB);
    const first = await sendRemote(port, 'PUT', '/c/box/named-first.bin?order=name-first', named);
    assert.deepEqual([first.status, first.text], [201, `${named.byteLength}\n`]);

    const got = await sendRemote(port, 'GET', '/c/box/big.bin');
    assert.equal(got.status, 200, got.text.slice(0, 200));
    assert.equal(got.headers['x-size'], String(big.byteLength));
    assert.equal(sha256(got.body), sha256(big));

    const range = await sendRemote(port, 'GET', `/c/box/named-first.bin?start=${MiB}&end=${2 * MiB - 1}`);
    assert.equal(range.headers['x-size'], String(MiB));
    assert.equal(sha256(range.body), sha256(named.subarray(MiB, 2 * MiB)));

    const sync = await sendRemote(port, 'GET', `/c/box/named-first.bin?end=${MiB - 1}&sync`);
    assert.equal(sha256(sync.body), sha256(named.subarray(0, MiB)));
    const tooLarge = await sendRemote(port, 'GET', '/c/box/named-first.bin?sync');
    assert.equal(tooLarge.status, 413, tooLarge.text);

    const listed = await sendRemote(port, 'GET', '/c/box?page=1');
    assert.deepEqual(listed.text.split('\n').filter(Boolean).sort(), ['big.bin', 'named-first.bin']);
    const stat = JSON.parse((await sendRemote(port, 'GET', '/stat/box/big.bin')).text) as { size: number };
    assert.equal(stat.size, big.byteLength);

    assert.equal((await sendRemote(port, 'DELETE', '/c/box/big.bin')).status, 204);
    assert.equal((await sendRemote(port, 'GET', '/has/box/big.bin')).text, 'false');
    assert.deepEqual(await readdir(join(root, 'box')), ['named-first.bin']);
    const missing = await sendRemote(port, 'GET', '/c/box/big.bin');
    assert.equal(missing.status, 404);
    assert.match(missing.text, /^BLOBSTORE_NOT_FOUND/);

    for (const fn of ['write-container-data', 'get-container-data', 'list-container-objects']) {
      assert.ok(
        invocations.includes(`default.store.wrpc.0.0.1.wrpc:blobstore/blobstore@0.2.0.${fn}`),
        `${fn} crossed as the 1.x blobstore invocation`,
      );
    }
  });

  it('answers the guest with an error at once when the provider host has stopped', async () => {
    // The spy would answer for the provider: nothing may listen on its subjects once host A is gone.
    spying.unsubscribe();
    await a.stop();
    const started = Date.now();
    const exists = await sendRemote(port, 'GET', '/exists/box');
    assert.equal(exists.status, 500);
    assert.match(exists.text, /NO_RESPONDERS/);
    const read = await sendRemote(port, 'GET', '/c/box/named-first.bin');
    assert.equal(read.status, 500);
    assert.match(read.text, /NO_RESPONDERS/);
    assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
  });
});
