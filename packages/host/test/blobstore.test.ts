/**
 * wasi:blobstore end to end: the blobs component's imports reach the built-in blobstore provider
 * through a link, values travel through host-backed wasi:io streams, and every name that could reach
 * outside the root is refused with the interface's error while nothing outside it changes.
 * Measured: round-trip integrity of a 1 MiB binary object and the write and read throughput.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createMemoryLattice } from '@cirrus/lattice';
import type { MemoryLattice } from '@cirrus/lattice';
import { resolveLimits } from '@cirrus/protocol';
import { freePort, tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { createHost } from '../src/index.ts';
import type { Host } from '../src/index.ts';
import { routeHttp, sendRaw, WITH_BUILTINS } from './support.ts';

const BLOBS_WASM = fileURLToPath(new URL('../../testing/fixtures/blobs/build/blobs.wasm', import.meta.url));
const MiB = 1024 * 1024;

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Every entry under `dir` with the contents of its files, to show that nothing changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    out[path] = entry.isFile() ? await readFile(path, 'utf8') : entry.isSymbolicLink() ? 'link' : 'dir';
  }
  return out;
}

describe('wasi:blobstore: blobs component → built-in blobstore provider', () => {
  let dir: TempDir;
  let lattice: MemoryLattice;
  let host: Host;
  let port: number;
  let unlinkedPort: number;
  let root: string;
  let outside: string;
  const warnings: string[] = [];

  before(async () => {
    dir = await tempDir();
    root = join(dir.path, 'blobs');
    outside = join(dir.path, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret.txt'), 'top secret');
    lattice = createMemoryLattice();
    host = await createHost({
      ...WITH_BUILTINS,
      lattice: lattice.connect(),
      cacheDir: join(dir.path, 'cache'),
      allowFileLoad: true,
      heartbeatIntervalMs: 0,
      limits: resolveLimits({
        maxInstances: 4,
        blobstoreMaxObjectBytes: 2 * MiB,
        blobstoreMaxSyncReadBytes: 512 * 1024,
        blobstoreListMaxNames: 3,
      }),
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: (message, fields) => warnings.push(JSON.stringify({ message, ...fields })),
        error: () => undefined,
        child() {
          return this;
        },
      },
    });
    [port, unlinkedPort] = [await freePort(), await freePort()];
    await host.startProvider({ providerRef: 'ghcr.io/wasmcloud/blobstore-fs:0.10.0', providerId: 'store' });
    await host.startProvider({ providerRef: 'wasmcloud+builtin://http-server', providerId: 'web' });
    await host.scaleComponent({ componentRef: BLOBS_WASM, componentId: 'blobs', count: 4 });
    await host.scaleComponent({ componentRef: BLOBS_WASM, componentId: 'unlinked', count: 1 });
    await host.putConfig('blob-root', { ROOT: root });
    await host.putLink({
      source_id: 'blobs',
      target: 'store',
      wit_namespace: 'wasi',
      wit_package: 'blobstore',
      // As wasmCloud manifests link it: container and value methods follow this link too.
      interfaces: ['blobstore'],
      target_config: ['blob-root'],
    });
    await routeHttp(host, 'blobs', port, 'blobs');
    await routeHttp(host, 'unlinked', unlinkedPort, 'unlinked');
  });

  after(async () => {
    await host.stop();
    await lattice.close();
    await dir.remove();
  });

  it('creates, inspects and deletes containers (directories under the link root)', async () => {
    assert.equal((await sendRaw(port, 'PUT', '/c/box')).status, 201);
    assert.equal((await readdir(root)).includes('box'), true);
    assert.equal((await sendRaw(port, 'GET', '/exists/box')).text, 'true');
    assert.equal((await sendRaw(port, 'GET', '/exists/nope')).text, 'false');
    const info = JSON.parse((await sendRaw(port, 'GET', '/info/box')).text) as {
      name: string;
      info: { name: string; createdAt: number };
    };
    assert.equal(info.name, 'box');
    assert.equal(info.info.name, 'box');
    assert.ok(Math.abs(info.info.createdAt - Date.now() / 1000) < 60, `createdAt ${info.info.createdAt}`);
    assert.equal((await sendRaw(port, 'PUT', '/c/temp')).status, 201);
    assert.equal((await sendRaw(port, 'PUT', '/c/temp/x', 'x')).status, 201);
    assert.equal((await sendRaw(port, 'DELETE', '/c/temp')).status, 204);
    assert.equal((await sendRaw(port, 'GET', '/exists/temp')).text, 'false');
    const again = await sendRaw(port, 'DELETE', '/c/temp');
    assert.equal(again.status, 404);
    assert.match(again.text, /^BLOBSTORE_NOT_FOUND: container "temp" does not exist/);
  });

  it('round-trips text through the output and input streams, whole, by range and at once', async () => {
    await sendRaw(port, 'PUT', '/c/docs');
    const put = await sendRaw(port, 'PUT', '/c/docs/greetings%2Fhello%20world.txt', 'Hello, blobs!');
    assert.deepEqual([put.status, put.text], [201, '13\n']);
    assert.equal(
      await readFile(join(root, 'docs', 'greetings%2Fhello%20world.txt'), 'utf8'),
      'Hello, blobs!',
    );
    const got = await sendRaw(port, 'GET', '/c/docs/greetings%2Fhello%20world.txt');
    assert.deepEqual([got.status, got.text, got.headers['x-size']], [200, 'Hello, blobs!', '13']);
    const sync = await sendRaw(port, 'GET', '/c/docs/greetings/hello%20world.txt?sync');
    assert.deepEqual([sync.status, sync.text], [200, 'Hello, blobs!']);
    const range = await sendRaw(port, 'GET', '/c/docs/greetings/hello%20world.txt?start=7&end=11');
    assert.deepEqual([range.text, range.headers['x-size']], ['blobs', '5']);
    const stat = JSON.parse(
      (await sendRaw(port, 'GET', '/stat/docs/greetings/hello%20world.txt')).text,
    ) as Record<string, unknown>;
    assert.deepEqual(
      [stat['name'], stat['container'], stat['size']],
      ['greetings/hello world.txt', 'docs', 13],
    );
    assert.equal((await sendRaw(port, 'GET', '/has/docs/greetings/hello%20world.txt')).text, 'true');
    // write-data before the body is written: the object appears when the value is finished.
    const early = await sendRaw(port, 'PUT', '/c/docs/early.txt?order=name-first', 'named first');
    assert.equal(early.status, 201, early.text);
    assert.equal((await sendRaw(port, 'GET', '/c/docs/early.txt')).text, 'named first');
    const empty = await sendRaw(port, 'PUT', '/c/docs/empty', '');
    assert.equal(empty.status, 201, empty.text);
    const got0 = await sendRaw(port, 'GET', '/c/docs/empty');
    assert.deepEqual([got0.status, got0.body.byteLength], [200, 0]);
  });

  it('round-trips a 1 MiB binary object byte-exact, and measures the throughput', async (t) => {
    await sendRaw(port, 'PUT', '/c/bin');
    const blob = randomBytes(MiB);
    const rounds = 8;
    let writeMs = 0;
    let readMs = 0;
    for (let i = 0; i < rounds; i++) {
      const began = performance.now();
      const put = await sendRaw(port, 'PUT', `/c/bin/blob-${i}.bin`, blob);
      writeMs += performance.now() - began;
      assert.deepEqual([put.status, put.text], [201, `${MiB}\n`]);
      const readBegan = performance.now();
      const got = await sendRaw(port, 'GET', `/c/bin/blob-${i}.bin`);
      readMs += performance.now() - readBegan;
      assert.equal(got.status, 200);
      assert.equal(got.body.byteLength, MiB);
      assert.equal(sha256(got.body), sha256(blob), `round ${i} came back byte-exact`);
    }
    assert.equal(
      sha256(await readFile(join(root, 'bin', 'blob-0.bin'))),
      sha256(blob),
      'the file holds the bytes',
    );
    const mbps = (ms: number): string => ((rounds * MiB) / 1e6 / (ms / 1000)).toFixed(1);
    t.diagnostic(
      `1 MiB objects over HTTP → component → provider: write ${mbps(writeMs)} MB/s, read ${mbps(readMs)} MB/s`,
    );
    // The same through the streams alone: bytes made and consumed in the guest, no HTTP body.
    let fillMs = 0;
    let drainMs = 0;
    for (let i = 0; i < rounds; i++) {
      const began = performance.now();
      assert.equal((await sendRaw(port, 'POST', `/fill/bin/gen-${i}?bytes=${MiB}`)).status, 201);
      fillMs += performance.now() - began;
      const drainBegan = performance.now();
      assert.equal((await sendRaw(port, 'GET', `/drain/bin/gen-${i}`)).text, `${MiB}`);
      drainMs += performance.now() - drainBegan;
    }
    assert.deepEqual(await readFile(join(root, 'bin', 'gen-0')), Buffer.alloc(MiB, 0x5a));
    t.diagnostic(
      `1 MiB objects made and consumed in the guest: write ${mbps(fillMs)} MB/s, read ${mbps(drainMs)} MB/s`,
    );
    // A value larger than blobstoreMaxSyncReadBytes must be read as a stream; a part of it need not.
    const sync = await sendRaw(port, 'GET', '/c/bin/blob-0.bin?sync');
    assert.equal(sync.status, 413);
    assert.match(sync.text, /^BLOBSTORE_TOO_LARGE: .*blobstoreMaxSyncReadBytes/);
    const part = await sendRaw(port, 'GET', '/c/bin/blob-0.bin?sync&start=1000&end=1999');
    assert.equal(sha256(part.body), sha256(blob.subarray(1000, 2000)));
  });

  it('lists (in several reads), skips, deletes one, many and all', async () => {
    await sendRaw(port, 'PUT', '/c/list');
    const names = ['a', 'b', 'c', 'd/e', 'f g', 'été'];
    for (const name of names) {
      assert.equal((await sendRaw(port, 'PUT', `/c/list/${encodeURIComponent(name)}`, name)).status, 201);
    }
    const sorted = (text: string): string[] =>
      text
        .split('\n')
        .filter((n) => n !== '')
        .sort();
    assert.deepEqual(sorted((await sendRaw(port, 'GET', '/c/list?page=2')).text), [...names].sort());
    assert.equal(sorted((await sendRaw(port, 'GET', '/skip/list?n=4')).text).length, 2);
    assert.equal((await sendRaw(port, 'DELETE', '/c/list/a')).status, 204);
    assert.equal(
      (await sendRaw(port, 'DELETE', '/c/list/a')).status,
      204,
      'deleting a missing object is fine',
    );
    assert.equal((await sendRaw(port, 'POST', '/delete/list', 'b\nc\nnot-there\n')).status, 204);
    assert.deepEqual(sorted((await sendRaw(port, 'GET', '/c/list')).text), ['d/e', 'f g', 'été']);
    assert.equal((await sendRaw(port, 'POST', '/clear/list')).status, 204);
    assert.deepEqual(sorted((await sendRaw(port, 'GET', '/c/list')).text), []);
    assert.equal((await sendRaw(port, 'GET', '/exists/list')).text, 'true', 'clear keeps the container');
  });

  it('copies and moves objects within and across containers', async () => {
    await sendRaw(port, 'PUT', '/c/src');
    await sendRaw(port, 'PUT', '/c/dst');
    await sendRaw(port, 'PUT', '/c/src/report.txt', 'quarterly numbers');
    assert.equal((await sendRaw(port, 'POST', '/copy?from=src/report.txt&to=dst/copy.txt')).status, 204);
    assert.equal((await sendRaw(port, 'GET', '/c/dst/copy.txt')).text, 'quarterly numbers');
    assert.equal((await sendRaw(port, 'GET', '/c/src/report.txt')).text, 'quarterly numbers');
    assert.equal((await sendRaw(port, 'POST', '/move?from=src/report.txt&to=dst/moved.txt')).status, 204);
    assert.equal((await sendRaw(port, 'GET', '/has/src/report.txt')).text, 'false');
    assert.equal((await sendRaw(port, 'GET', '/c/dst/moved.txt')).text, 'quarterly numbers');
    const noContainer = await sendRaw(port, 'POST', '/copy?from=dst/moved.txt&to=missing/x');
    assert.equal(noContainer.status, 404);
    assert.match(noContainer.text, /^BLOBSTORE_NOT_FOUND: container "missing"/);
    const noSource = await sendRaw(port, 'POST', '/move?from=src/report.txt&to=dst/x');
    assert.equal(noSource.status, 404);
  });

  it('answers a missing object with the interface error, not a trap, and keeps the instance', async () => {
    for (const path of ['/c/docs/missing.txt', '/c/docs/missing.txt?sync', '/stat/docs/missing.txt']) {
      const missing = await sendRaw(port, 'GET', path);
      assert.equal(missing.status, 404, missing.text);
      assert.match(
        missing.text,
        /^BLOBSTORE_NOT_FOUND: object "missing.txt" in container "docs" does not exist/,
      );
    }
    const noContainer = await sendRaw(port, 'GET', '/c/nowhere/x');
    assert.match(noContainer.text, /^BLOBSTORE_NOT_FOUND: container "nowhere" does not exist/);
    assert.equal((await sendRaw(port, 'GET', '/has/docs/missing.txt')).text, 'false');
    assert.equal(
      (await sendRaw(port, 'GET', '/c/docs/early.txt')).text,
      'named first',
      'the instances still serve',
    );
  });

  it('refuses every traversal attempt with BLOBSTORE_INVALID_NAME and touches nothing outside the root', async () => {
    const parent = await snapshot(dir.path).then((all) =>
      Object.fromEntries(
        Object.entries(all).filter(([path]) => !path.startsWith(root) && !path.includes('cache')),
      ),
    );
    const attempts = [
      '/c/box/..',
      '/c/box/%2e%2e',
      '/c/box/%2E%2E%2F%2E%2E%2Foutside%2Fsecret.txt',
      '/c/box/../../outside/secret.txt',
      '/c/box/a/../../../outside/secret.txt',
      '/c/box//etc/passwd',
      '/c/box/%2Fetc%2Fpasswd',
      '/c/box/..%5C..%5Coutside%5Csecret.txt',
      '/c/box/a%00b',
      `/c/box/${'x'.repeat(300)}`,
      `/c/box/${encodeURIComponent('€'.repeat(100))}`,
      '/c/../outside/secret.txt',
      '/c/%2e%2e/outside',
      '/c/%2Ftmp/x',
      '/c/box%5C..%5C..%5Coutside/x',
      '/c/a%00/x',
      `/c/${'c'.repeat(300)}/x`,
      '/c/.cirrus-tmp/x',
    ];
    for (const path of attempts) {
      for (const method of ['PUT', 'GET', 'DELETE']) {
        const reply = await sendRaw(port, method, path, method === 'PUT' ? 'pwned' : undefined);
        assert.equal(reply.status, 400, `${method} ${path}: ${reply.status} ${reply.text}`);
        assert.match(reply.text, /^BLOBSTORE_INVALID_NAME: /, `${method} ${path}`);
      }
    }
    for (const container of ['..', '%2e%2e', '%2Foutside', 'box%5C..']) {
      const reply = await sendRaw(port, 'PUT', `/c/${container}`);
      assert.equal(reply.status, 400, `create ${container}: ${reply.text}`);
    }
    for (const query of [
      'from=box/x&to=..%2Foutside',
      'from=..%2Foutside/secret.txt&to=box/x',
      'from=box/..&to=box/y',
    ]) {
      assert.equal((await sendRaw(port, 'POST', `/copy?${query}`)).status, 400, query);
      assert.equal((await sendRaw(port, 'POST', `/move?${query}`)).status, 400, query);
    }
    const now = await snapshot(dir.path).then((all) =>
      Object.fromEntries(
        Object.entries(all).filter(([path]) => !path.startsWith(root) && !path.includes('cache')),
      ),
    );
    assert.deepEqual(now, parent, 'nothing outside the root changed');
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'top secret');
  });

  it('never follows a symbolic link planted inside the root', async () => {
    await sendRaw(port, 'PUT', '/c/box');
    await symlink(outside, join(root, 'evil'));
    await symlink(join(outside, 'secret.txt'), join(root, 'box', 'secret.txt'));
    const before = await snapshot(outside);
    const denied = [
      ['GET', '/c/box/secret.txt'],
      ['GET', '/c/box/secret.txt?sync'],
      ['PUT', '/c/box/secret.txt'],
      ['DELETE', '/c/box/secret.txt'],
      ['GET', '/stat/box/secret.txt'],
      ['POST', '/copy?from=box/secret.txt&to=box/stolen'],
      ['POST', '/move?from=box/secret.txt&to=box/stolen'],
      ['GET', '/exists/evil'],
      ['GET', '/c/evil'],
      ['GET', '/c/evil/secret.txt'],
      ['PUT', '/c/evil/new.txt'],
      ['DELETE', '/c/evil/secret.txt'],
      ['POST', '/clear/evil'],
      ['DELETE', '/c/evil'],
    ] as const;
    for (const [method, path] of denied) {
      const reply = await sendRaw(port, method, path, method === 'PUT' ? 'pwned' : undefined);
      assert.equal(reply.status, 403, `${method} ${path}: ${reply.status} ${reply.text}`);
      assert.match(reply.text, /^BLOBSTORE_ACCESS_DENIED: .*symbolic link/, `${method} ${path}`);
    }
    assert.equal(
      (await sendRaw(port, 'GET', '/c/box')).text.includes('secret.txt'),
      false,
      'a link is not listed',
    );
    assert.equal((await sendRaw(port, 'POST', '/clear/box')).status, 204);
    assert.deepEqual(await snapshot(outside), before, 'nothing outside the root changed');
    assert.equal(await readFile(join(outside, 'secret.txt'), 'utf8'), 'top secret');
  });

  it('enforces blobstoreMaxObjectBytes on the stream, leaving no object and no temporary file', async () => {
    await sendRaw(port, 'PUT', '/c/box');
    for (const order of ['', '?order=name-first']) {
      const reply = await sendRaw(port, 'PUT', `/c/box/too-big${order}`, randomBytes(3 * MiB));
      assert.equal(reply.status, 413, reply.text);
      assert.match(reply.text, /BLOBSTORE_TOO_LARGE: the object is larger than blobstoreMaxObjectBytes/);
      assert.equal((await sendRaw(port, 'GET', '/has/box/too-big')).text, 'false');
    }
    assert.equal((await sendRaw(port, 'PUT', '/c/box/just-fits', randomBytes(2 * MiB))).status, 201);
    assert.deepEqual(await readdir(join(root, '.cirrus-tmp')), []);
  });

  it('replaces an object atomically: a concurrent reader sees the old bytes or the new, never a mix', async () => {
    await sendRaw(port, 'PUT', '/c/atomic');
    const versions = [Buffer.alloc(MiB, 'a'), Buffer.alloc(MiB, 'b')];
    await sendRaw(port, 'PUT', '/c/atomic/value', versions[0]);
    const hashes = new Set(versions.map(sha256));
    const writes = Promise.all(
      [1, 0, 1].map(async (v) => sendRaw(port, 'PUT', '/c/atomic/value', versions[v])),
    );
    const reads = Promise.all(Array.from({ length: 6 }, () => sendRaw(port, 'GET', '/c/atomic/value')));
    for (const w of await writes) assert.equal(w.status, 201);
    for (const r of await reads)
      assert.ok(hashes.has(sha256(r.body)), `a read returned ${r.body.byteLength} mixed bytes`);
  });

  it('fails the calls of a component without a blobstore link with LINK_NOT_FOUND', async () => {
    const reply = await sendRaw(unlinkedPort, 'GET', '/exists/box');
    assert.equal(reply.status, 500);
    assert.match(reply.text, /LINK_NOT_FOUND/);
    assert.ok(
      warnings.some((w) =>
        w.includes('cirrus link put unlinked <target> wasi blobstore --interface blobstore'),
      ),
      warnings.join('\n'),
    );
  });
});
