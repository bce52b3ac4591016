/**
 * The blobstore's directory store without components: names map to files and back, every name that
 * could reach outside the root is refused, symbolic links are never followed, writes appear whole
 * or not at all, and the limits hold.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveLimits } from '@cirrus/protocol';
import { tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { defaultBlobstoreRoot } from '../src/provider.ts';
import { checkContainerName, objectFileName, objectNameOf } from '../src/names.ts';
import { DirectoryStore, TEMP_DIR } from '../src/store.ts';
import type { BlobstoreLimits } from '../src/store.ts';

const KiB = 1024;
const limits: BlobstoreLimits = resolveLimits({
  blobstoreMaxObjectBytes: 64 * KiB,
  blobstoreMaxSyncReadBytes: 16 * KiB,
  blobstoreListMaxNames: 2,
});

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

async function rejectsWith(work: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(work, (err) => {
    assert.equal(codeOf(err), code, String(err));
    return true;
  });
}

async function put(
  store: DirectoryStore,
  container: string,
  name: string,
  bytes: Uint8Array | string,
): Promise<void> {
  const writer = await store.createWriter();
  await writer.write(typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes);
  await writer.commit(container, name);
}

async function get(store: DirectoryStore, container: string, name: string): Promise<string> {
  const reader = await store.read(container, name, 0n, 2n ** 64n - 1n);
  return new TextDecoder().decode(await reader.readAll());
}

async function listAll(store: DirectoryStore, container: string): Promise<string[]> {
  const lister = await store.listObjects(container);
  const names: string[] = [];
  for (;;) {
    const { names: batch, end } = await lister.next(10n);
    assert.ok(batch.length <= limits.blobstoreListMaxNames, 'a batch stays within blobstoreListMaxNames');
    names.push(...batch);
    if (end) return names.sort();
  }
}

/** Every path under `dir`, with each file's contents, so a test can tell that nothing changed. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    out[path] = entry.isFile() ? await readFile(path, 'utf8') : entry.isSymbolicLink() ? 'link' : 'dir';
  }
  return out;
}

describe('blobstore names', () => {
  it('keeps plain names readable on disk and encodes everything else into one file name', () => {
    assert.equal(objectFileName('photo-1.jpg'), 'photo-1.jpg');
    assert.equal(objectFileName('a/b c.txt'), 'a%2Fb%20c.txt');
    assert.equal(objectFileName('.env'), '%2Eenv');
    assert.equal(objectFileName('50%'), '50%25');
    assert.equal(objectFileName('été'), '%C3%A9t%C3%A9');
    for (const name of ['photo-1.jpg', 'a/b c.txt', '.env', '50%', 'été', 'x/.y', '~', 'a//b']) {
      assert.equal(objectNameOf(objectFileName(name)), name);
    }
  });

  it('does not take files it did not write for objects', () => {
    for (const file of ['.hidden', '%2e', '%2Z', 'a%2fb', '%41', 'a b', '%FF', '%C3', `${TEMP_DIR}`]) {
      assert.equal(objectNameOf(file), undefined, file);
    }
  });

  it('refuses names that could leave their directory or are not names at all', () => {
    const badObjects = [
      '',
      '..',
      '.',
      '../x',
      'a/../b',
      'a/./b',
      '/etc/passwd',
      'a\\b',
      '..\\x',
      'a\0b',
      'a\nb',
    ];
    for (const name of [...badObjects, 'x'.repeat(256), '€'.repeat(100), '\ud800', 42]) {
      assert.throws(
        () => objectFileName(name),
        (err) => codeOf(err) === 'BLOBSTORE_INVALID_NAME',
        String(name),
      );
    }
    const badContainers = [
      '',
      '.',
      '..',
      '.cirrus-tmp',
      'a/b',
      '/etc',
      'a\\b',
      'a\0',
      'x'.repeat(256),
      '\ud800',
    ];
    for (const name of badContainers) {
      assert.throws(
        () => checkContainerName(name),
        (err) => codeOf(err) === 'BLOBSTORE_INVALID_NAME',
        name,
      );
    }
    assert.equal(checkContainerName('photos 2024'), 'photos 2024');
  });
});

describe('blobstore default root', () => {
  it("is a directory per component under the host's state directory", () => {
    assert.equal(
      defaultBlobstoreRoot('web/api', { CIRRUS_STATE_DIR: '/srv/state' }),
      '/srv/state/blobstore/web%2Fapi',
    );
    assert.equal(defaultBlobstoreRoot('api', { XDG_STATE_HOME: '/x' }), '/x/cirrus/blobstore/api');
    assert.equal(
      defaultBlobstoreRoot('api', { HOME: '/home/u' }),
      '/home/u/.local/state/cirrus/blobstore/api',
    );
    assert.equal(
      defaultBlobstoreRoot('api', { CIRRUS_STATE_DIR: ' ', HOME: '/h' }),
      '/h/.local/state/cirrus/blobstore/api',
    );
  });
});

describe('blobstore directory store', () => {
  let dir: TempDir;
  let rootDir: string;
  let outside: string;
  let store: DirectoryStore;

  before(async () => {
    dir = await tempDir();
    rootDir = join(dir.path, 'root');
    outside = join(dir.path, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret.txt'), 'top secret');
    store = await DirectoryStore.open(rootDir, limits);
  });

  after(async () => {
    await dir.remove();
  });

  it('creates, describes, lists and deletes containers as directories', async () => {
    const info = await store.createContainer('box');
    assert.equal(info.name, 'box');
    assert.ok(Math.abs(Number(info.createdAt) - Date.now() / 1000) < 60, `createdAt ${info.createdAt}`);
    assert.ok((await stat(join(rootDir, 'box'))).isDirectory());
    assert.equal((await store.createContainer('box')).name, 'box', 'creating an existing container is fine');
    assert.equal(await store.containerExists('box'), true);
    assert.equal(await store.containerExists('nope'), false);
    await rejectsWith(store.containerInfo('nope'), 'BLOBSTORE_NOT_FOUND');
    await store.createContainer('gone');
    await put(store, 'gone', 'x', 'x');
    await store.deleteContainer('gone');
    assert.equal(await store.containerExists('gone'), false);
    await rejectsWith(store.deleteContainer('gone'), 'BLOBSTORE_NOT_FOUND');
  });

  it('writes, reads (whole, ranges, at once) and describes objects', async () => {
    await put(store, 'box', 'a/b c.txt', 'Hello, blobs!');
    assert.equal(await readFile(join(rootDir, 'box', 'a%2Fb%20c.txt'), 'utf8'), 'Hello, blobs!');
    assert.equal(await get(store, 'box', 'a/b c.txt'), 'Hello, blobs!');
    const range = await store.read('box', 'a/b c.txt', 7n, 11n);
    assert.equal(range.size, 5);
    assert.equal(new TextDecoder().decode(await range.read(100)), 'blobs');
    assert.equal((await range.read(100)).byteLength, 0, 'empty at the end of the range');
    const past = await store.read('box', 'a/b c.txt', 100n, 200n);
    assert.equal(past.size, 0);
    await past.close();
    await rejectsWith(store.read('box', 'a/b c.txt', 5n, 4n), 'INVALID_ARGUMENT');
    const info = await store.objectInfo('box', 'a/b c.txt');
    assert.deepEqual([info.name, info.container, info.size], ['a/b c.txt', 'box', 13n]);
    assert.equal(await store.hasObject('box', 'a/b c.txt'), true);
    assert.equal(await store.hasObject('box', 'missing'), false);
    await rejectsWith(store.read('box', 'missing', 0n, 1n), 'BLOBSTORE_NOT_FOUND');
    await rejectsWith(store.objectInfo('box', 'missing'), 'BLOBSTORE_NOT_FOUND');
    await rejectsWith(store.read('nope', 'x', 0n, 1n), 'BLOBSTORE_NOT_FOUND');
  });

  it('keeps the bytes of an open value when the object is replaced or deleted', async () => {
    await put(store, 'box', 'kept', 'first version');
    const reader = await store.read('box', 'kept', 0n, 100n);
    await put(store, 'box', 'kept', 'second');
    await store.deleteObject('box', 'kept');
    assert.equal(new TextDecoder().decode(await reader.readAll()), 'first version');
  });

  it('lists in batches, skips, deletes one, many and all', async () => {
    await store.createContainer('list');
    for (const name of ['a', 'b', 'c', 'd/e']) await put(store, 'list', name, name);
    await writeFile(join(rootDir, 'list', '.stray'), 'not an object');
    assert.deepEqual(await listAll(store, 'list'), ['a', 'b', 'c', 'd/e']);
    const lister = await store.listObjects('list');
    const skipped = await lister.skip(3n);
    assert.deepEqual(skipped, { skipped: 3n, end: false });
    assert.equal((await lister.next(10n)).names.length, 1);
    await store.deleteObject('list', 'a');
    await store.deleteObject('list', 'a');
    await rejectsWith(store.deleteObjects('list', ['b', '../c']), 'BLOBSTORE_INVALID_NAME');
    assert.deepEqual(
      await listAll(store, 'list'),
      ['b', 'c', 'd/e'],
      'nothing deleted when one name is refused',
    );
    await store.deleteObjects('list', ['b', 'missing']);
    assert.deepEqual(await listAll(store, 'list'), ['c', 'd/e']);
    await store.clear('list');
    assert.deepEqual(await listAll(store, 'list'), []);
    assert.equal(
      await readFile(join(rootDir, 'list', '.stray'), 'utf8'),
      'not an object',
      'clear leaves foreign files',
    );
  });

  it('copies and moves objects, within and across containers', async () => {
    await store.createContainer('archive');
    await put(store, 'box', 'orig', 'original');
    await store.copyObject({ container: 'box', object: 'orig' }, { container: 'archive', object: 'copy' });
    assert.equal(await get(store, 'archive', 'copy'), 'original');
    await store.moveObject({ container: 'archive', object: 'copy' }, { container: 'box', object: 'moved' });
    assert.equal(await store.hasObject('archive', 'copy'), false);
    assert.equal(await get(store, 'box', 'moved'), 'original');
    await store.moveObject({ container: 'box', object: 'moved' }, { container: 'box', object: 'moved' });
    assert.equal(await get(store, 'box', 'moved'), 'original', 'moving onto itself keeps the object');
    await rejectsWith(
      store.copyObject({ container: 'box', object: 'orig' }, { container: 'nope', object: 'x' }),
      'BLOBSTORE_NOT_FOUND',
    );
    await rejectsWith(
      store.moveObject({ container: 'box', object: 'missing' }, { container: 'box', object: 'x' }),
      'BLOBSTORE_NOT_FOUND',
    );
  });

  it('enforces the object and whole-read limits, leaving no partial object or temporary file', async () => {
    const writer = await store.createWriter();
    await writer.write(new Uint8Array(60 * KiB));
    await rejectsWith(writer.write(new Uint8Array(5 * KiB)), 'BLOBSTORE_TOO_LARGE');
    await rejectsWith(writer.commit('box', 'big'), 'BLOBSTORE_TOO_LARGE');
    assert.equal(await store.hasObject('box', 'big'), false);
    assert.deepEqual(await readdir(join(rootDir, TEMP_DIR)), []);
    await put(store, 'box', 'medium', new Uint8Array(20 * KiB));
    await rejectsWith(
      (await store.read('box', 'medium', 0n, 2n ** 64n - 1n)).readAll(),
      'BLOBSTORE_TOO_LARGE',
    );
    const part = await store.read('box', 'medium', 0n, BigInt(16 * KiB - 1));
    assert.equal((await part.readAll()).byteLength, 16 * KiB);
  });

  it('puts a write in place only on commit, replacing the old object whole', async () => {
    await put(store, 'box', 'atomic', 'old');
    const writer = await store.createWriter();
    await writer.write(new TextEncoder().encode('new, longer contents'));
    assert.equal(await get(store, 'box', 'atomic'), 'old', 'readers see the old object until commit');
    await writer.commit('box', 'atomic');
    assert.equal(await get(store, 'box', 'atomic'), 'new, longer contents');
    const aborted = await store.createWriter();
    await aborted.write(new TextEncoder().encode('never'));
    await aborted.abort();
    assert.equal(await get(store, 'box', 'atomic'), 'new, longer contents');
    assert.deepEqual(await readdir(join(rootDir, TEMP_DIR)), []);
  });

  it('never follows a symbolic link planted in the root, and touches nothing outside it', async () => {
    const before = await snapshot(outside);
    await symlink(outside, join(rootDir, 'evil'));
    await store.createContainer('links');
    await symlink(join(outside, 'secret.txt'), join(rootDir, 'links', 'secret.txt'));
    const container = 'BLOBSTORE_ACCESS_DENIED';
    await rejectsWith(store.containerExists('evil'), container);
    await rejectsWith(store.containerInfo('evil'), container);
    await rejectsWith(store.createContainer('evil'), container);
    await rejectsWith(store.listObjects('evil'), container);
    await rejectsWith(store.read('evil', 'secret.txt', 0n, 100n), container);
    await rejectsWith(put(store, 'evil', 'new.txt', 'pwned'), container);
    await rejectsWith(store.deleteObject('evil', 'secret.txt'), container);
    await rejectsWith(store.clear('evil'), container);
    await rejectsWith(store.deleteContainer('evil'), container);
    await rejectsWith(store.read('links', 'secret.txt', 0n, 100n), container);
    await rejectsWith(store.objectInfo('links', 'secret.txt'), container);
    await rejectsWith(store.hasObject('links', 'secret.txt'), container);
    await rejectsWith(put(store, 'links', 'secret.txt', 'pwned'), container);
    await rejectsWith(store.deleteObject('links', 'secret.txt'), container);
    await rejectsWith(
      store.copyObject({ container: 'links', object: 'secret.txt' }, { container: 'box', object: 'stolen' }),
      container,
    );
    await rejectsWith(
      store.moveObject({ container: 'links', object: 'secret.txt' }, { container: 'box', object: 'stolen' }),
      container,
    );
    await put(store, 'box', 'payload', 'pwned');
    await rejectsWith(
      store.copyObject({ container: 'box', object: 'payload' }, { container: 'links', object: 'secret.txt' }),
      container,
    );
    assert.deepEqual(await listAll(store, 'links'), [], 'a link is not an object');
    await store.clear('links');
    await store.deleteContainer('links');
    assert.deepEqual(await snapshot(outside), before, 'nothing outside the root changed');
    assert.ok((await lstat(join(rootDir, 'evil'))).isSymbolicLink(), 'the planted link is left alone');
  });

  it('refuses a planted FIFO without blocking on it', async () => {
    // A FIFO opened for reading would block until a writer comes; the store must not wait for one.
    const { execFile } = await import('node:child_process');
    const made = await new Promise<boolean>((resolve) =>
      execFile('mkfifo', [join(rootDir, 'box', 'fifo')], (err) => resolve(err === null)),
    );
    if (!made) return;
    await rejectsWith(store.read('box', 'fifo', 0n, 10n), 'BLOBSTORE_ACCESS_DENIED');
  });

  it('removes temporary files a crash left behind when it opens a root', async () => {
    const stale = join(rootDir, TEMP_DIR, 'write-stale');
    const fresh = join(rootDir, TEMP_DIR, 'write-fresh');
    await writeFile(stale, 'half a blob');
    await writeFile(fresh, 'in flight');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(stale, old, old);
    await DirectoryStore.open(rootDir, limits);
    assert.deepEqual(await readdir(join(rootDir, TEMP_DIR)), ['write-fresh']);
  });
});
