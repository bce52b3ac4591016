/**
 * Files a user names are read without blocking: a FIFO, a device or a directory given as a component
 * (or any other file) fails at once with NOT_A_REGULAR_FILE, and the process can still exit.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { loadArtifact } from '../src/artifact.ts';
import { checkRegularFile, readRegularFile } from '../src/files.ts';

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string }).code;
}

describe('reading files a user names', () => {
  let dir: TempDir;
  let fifo: string;

  before(async () => {
    dir = await tempDir('cirrus-files-');
    fifo = join(dir.path, 'component.wasm');
    execFileSync('mkfifo', [fifo]);
    await writeFile(join(dir.path, 'small.txt'), 'hello');
  });

  after(() => dir.remove());

  const options = { what: 'test file', maxBytes: 1024 };

  it('refuses a FIFO, a directory and a character device at once with NOT_A_REGULAR_FILE', async () => {
    for (const [path, kind] of [
      [fifo, /FIFO/],
      [dir.path, /directory/],
      ['/dev/zero', /character device/],
    ] as const) {
      const started = performance.now();
      await assert.rejects(readRegularFile(path, options), (err) => {
        assert.equal(codeOf(err), 'NOT_A_REGULAR_FILE');
        assert.match((err as Error).message, kind);
        return true;
      });
      await assert.rejects(checkRegularFile(path, options), (err) => codeOf(err) === 'NOT_A_REGULAR_FILE');
      assert.ok(performance.now() - started < 1000, `${path} answered in time`);
    }
  });

  it('names a missing file FILE_NOT_FOUND and a large one FILE_TOO_LARGE', async () => {
    await assert.rejects(
      readRegularFile(join(dir.path, 'missing'), options),
      (err) => codeOf(err) === 'FILE_NOT_FOUND',
    );
    await assert.rejects(
      readRegularFile(join(dir.path, 'small.txt', 'below-a-file'), options),
      (err) => codeOf(err) === 'FILE_NOT_FOUND',
    );
    await assert.rejects(
      readRegularFile(join(dir.path, 'small.txt'), { ...options, maxBytes: 4 }),
      (err) => codeOf(err) === 'FILE_TOO_LARGE',
    );
    assert.equal(
      new TextDecoder().decode(await readRegularFile(join(dir.path, 'small.txt'), options)),
      'hello',
    );
  });

  it('loads a component reference naming a FIFO with NOT_A_REGULAR_FILE, not a hang', async () => {
    const load = { maxBytes: 1024, fetchTimeoutMs: 1000, allowFileLoad: true };
    for (const ref of [fifo, `file://${fifo}`, '/dev/zero']) {
      await assert.rejects(
        withDeadline(loadArtifact(ref, load), 2000, ref),
        (err) => codeOf(err) === 'NOT_A_REGULAR_FILE',
      );
    }
  });

  it('lets the process exit after a FIFO was refused (no libuv thread left blocked)', async () => {
    const script = `
      const { loadArtifact } = await import(${JSON.stringify(new URL('../src/artifact.ts', import.meta.url).href)});
      await loadArtifact(${JSON.stringify(fifo)}, { maxBytes: 1024, fetchTimeoutMs: 1000, allowFileLoad: true }).catch(() => {});
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    const code = await withDeadline(
      new Promise<number | null>((resolve) => child.once('exit', resolve)),
      10_000,
      'the process to exit',
    ).finally(() => child.kill('SIGKILL'));
    assert.equal(code, 0);
  });
});
