/**
 * Component images that are not what they claim fail at once with their own code, and the host goes
 * on serving. Given to a running host over the control interface (`cirrus scale component … --wait`),
 * a FIFO, a character device and a directory fail with NOT_A_REGULAR_FILE and a file over
 * componentMaxBytes with ARTIFACT_TOO_LARGE; given in a manifest to `cirrus up --app`, the same
 * images are refused before anything starts, with the manifest's line. Before, a FIFO hung the host
 * (an open blocked in libuv's thread pool, and the process could not exit), and `/dev/zero` or a
 * directory failed only after the start, without a line.
 *
 * Measured (test diagnostics): how long each refusal took, end to end.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { killAll, runCirrus, startHelloHost, writeHelloApp } from './support.ts';
import type { ServingHost } from './support.ts';

/** Well under the hello component (12 MB) and over the test's oversize file. */
const MAX_COMPONENT_BYTES = 64 * 1024;

describe('hostile component images', () => {
  let dir: TempDir;
  let serving: ServingHost;
  let fifo: string;
  let directory: string;
  let oversize: string;

  before(async () => {
    dir = await tempDir();
    fifo = join(dir.path, 'fifo.wasm');
    execFileSync('mkfifo', [fifo]);
    directory = join(dir.path, 'directory.wasm');
    await mkdir(directory);
    oversize = join(dir.path, 'oversize.wasm');
    await writeFile(oversize, Buffer.alloc(MAX_COMPONENT_BYTES + 1));
    serving = await startHelloHost({
      dir: join(dir.path, 'host'),
      appName: 'files',
      instances: 1,
      args: ['--log-format', 'json'],
    });
  });

  after(async () => {
    await serving?.host.stop();
    killAll();
    await dir?.remove();
  });

  for (const [what, image, code] of [
    ['a FIFO', () => fifo, 'NOT_A_REGULAR_FILE'],
    ['a character device', () => '/dev/zero', 'NOT_A_REGULAR_FILE'],
    ['a directory', () => directory, 'NOT_A_REGULAR_FILE'],
  ] as const) {
    it(`refuses ${what} given over the control interface with ${code}, at once, and serves on`, async (t) => {
      const started = performance.now();
      const result = await runCirrus(
        [
          'scale',
          'component',
          serving.host.hostId(),
          pathToFileURL(image()).href,
          'hostile',
          '--count',
          '1',
          '--wait',
        ],
        { dir: join(dir.path, 'host'), timeoutMs: 20_000 },
      );
      t.diagnostic(`refused in ${Math.round(performance.now() - started)} ms (including the cirrus process)`);
      assert.equal(result.code, 1, result.stdout + result.stderr);
      assert.match(result.stderr, new RegExp(code));
      const reply = await fetch(serving.url, { signal: AbortSignal.timeout(10_000) });
      assert.equal(reply.status, 200);
    });
  }

  it('refuses an image over componentMaxBytes before anything starts, with its manifest line', async () => {
    const app = await writeHelloApp(join(dir.path, 'host'), { appName: 'big', port: 1 });
    const result = await runCirrus(['up', '--app', app], {
      dir: join(dir.path, 'big'),
      env: { CIRRUS_LIMIT_COMPONENT_MAX_BYTES: String(MAX_COMPONENT_BYTES) },
    });
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error\[MANIFEST_INVALID\]/);
    assert.match(result.stderr, /line \d+: .*bytes, above the 65536-byte limit/);
    assert.doesNotMatch(result.stderr, /host started/, 'nothing started');
  });

  it('refuses a FIFO, a device and a directory in a manifest before anything starts, with their lines', async () => {
    const manifest = join(dir.path, 'hostile.yaml');
    const component = (name: string, image: string): string =>
      [
        `    - name: ${name}`,
        '      type: component',
        '      properties:',
        `        image: ${image}`,
        '      traits:',
        '        - type: spreadscaler',
        '          properties:',
        '            instances: 1',
      ].join('\n');
    await writeFile(
      manifest,
      [
        'apiVersion: core.oam.dev/v1beta1',
        'kind: Application',
        'metadata:',
        '  name: hostile',
        'spec:',
        '  components:',
        component('fifo', fifo),
        component('zero', '/dev/zero'),
        component('dir', directory),
        '',
      ].join('\n'),
    );
    const started = performance.now();
    const result = await runCirrus(['up', '--app', manifest], { dir: join(dir.path, 'hostile') });
    assert.ok(performance.now() - started < 20_000);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error\[MANIFEST_INVALID\]: .* has 3 problems/);
    for (const line of [7, 15, 23]) assert.match(result.stderr, new RegExp(`line ${line}: `));
    assert.equal((result.stderr.match(/not a regular file/g) ?? []).length, 3, result.stderr);
  });
});
