/**
 * The local images a manifest names are checked before anything starts: a missing file, a directory,
 * a device, a FIFO and a component above componentMaxBytes are MANIFEST_INVALID problems at the
 * component's line, reported together with the manifest's other problems, and a FIFO never blocks.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { parseManifest } from '@cirrus/apps';
import type { Problem } from '@cirrus/apps';
import { DEFAULT_LIMITS, ManifestInvalidError } from '@cirrus/protocol';
import { tempDir, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { localImageProblems, parseAppManifest } from '../src/app-files.ts';
import { main } from '../src/index.ts';
import { harness, ownDirs } from './support.ts';

/** Lines 1-6; the first component starts at line 7, and each `component()` takes four lines. */
const HEAD = `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: demo
spec:
  components:
`;

function component(name: string, image: string, type = 'component'): string {
  return `    - name: ${name}\n      type: ${type}\n      properties:\n        image: ${JSON.stringify(image)}\n`;
}

describe('local images of a manifest', () => {
  let dir: TempDir;
  let baseUrl: string;
  const limits = { ...DEFAULT_LIMITS, componentMaxBytes: 64 };

  before(async () => {
    dir = await tempDir('cirrus-app-files-');
    baseUrl = pathToFileURL(`${dir.path}/`).href;
    await mkdir(join(dir.path, 'build'));
    await writeFile(join(dir.path, 'build', 'ok.wasm'), new Uint8Array(64));
    await writeFile(join(dir.path, 'build', 'big.wasm'), new Uint8Array(65));
    await writeFile(join(dir.path, 'provider.ts'), 'export {};\n'.repeat(100));
    execFileSync('mkfifo', [join(dir.path, 'build', 'fifo.wasm')]);
  });

  after(() => dir.remove());

  async function problems(yaml: string): Promise<Problem[]> {
    return localImageProblems(parseManifest(yaml, { baseUrl }), limits);
  }

  it('files that are regular and within componentMaxBytes, URLs and built-ins give no problems', async () => {
    const yaml =
      HEAD +
      component('ok', './build/ok.wasm') +
      component('absolute', join(dir.path, 'build', 'ok.wasm')) +
      component('url', `${baseUrl}build/ok.wasm`) +
      component('remote', 'https://example.com/missing.wasm') +
      component('http', 'wasmcloud+builtin://http-server', 'capability') +
      // Provider programs are run, not loaded: componentMaxBytes does not apply to them.
      component('program', './provider.ts', 'capability');
    assert.deepEqual(await problems(yaml), []);
  });

  it('a missing file, a directory, /dev/zero, a FIFO and a file above componentMaxBytes are each a problem at their component, at once', async () => {
    const yaml =
      HEAD +
      component('missing', './build/missing.wasm') +
      component('directory', './build') +
      component('zero', '/dev/zero') +
      component('fifo', './build/fifo.wasm') +
      component('big', './build/big.wasm') +
      component('no-program', './missing-provider.ts', 'capability');
    const found = await withDeadline(problems(yaml), 5_000, 'the image checks (a FIFO must not block)');
    const build = join(dir.path, 'build');
    assert.deepEqual(found, [
      {
        line: 7,
        message: `component "missing": component file ${join(build, 'missing.wasm')} does not exist`,
        fix: 'check the path (a relative path starts at the manifest’s directory), or build the component first (cirrus build)',
      },
      {
        line: 11,
        message: `component "directory": component file ${build} is a directory, not a regular file`,
        fix: 'name the .wasm file of the component',
      },
      {
        line: 15,
        message: 'component "zero": component file /dev/zero is a character device, not a regular file',
        fix: 'name the .wasm file of the component',
      },
      {
        line: 19,
        message: `component "fifo": component file ${join(build, 'fifo.wasm')} is a FIFO (named pipe), not a regular file`,
        fix: 'name the .wasm file of the component',
      },
      {
        line: 23,
        message: `component "big": component file ${join(build, 'big.wasm')} is 65 bytes, above the 64-byte limit`,
        fix: 'shrink the component (strip debug info, optimise) or raise componentMaxBytes (CIRRUS_LIMIT_COMPONENT_MAX_BYTES)',
      },
      {
        line: 27,
        message: `component "no-program": provider program ${join(dir.path, 'missing-provider.ts')} does not exist`,
        fix: 'check the path (a relative path starts at the manifest’s directory)',
      },
    ]);
  });

  it('a file URL this host cannot read is a problem at its component', async () => {
    const found = await problems(HEAD + component('remote-file', 'file://server/share/a.wasm'));
    assert.equal(found.length, 1);
    assert.equal(found[0]?.line, 7);
    assert.match(
      found[0]?.message ?? '',
      /^component "remote-file": image "file:\/\/server\/share\/a\.wasm" is not a file URL/,
    );
  });

  it('parseAppManifest reports image problems with the manifest’s other problems in one MANIFEST_INVALID, by line', async () => {
    const yaml =
      HEAD +
      component('missing', './build/missing.wasm') +
      '      traits:\n        - type: spreadscaler\n          properties:\n            instances: 100000\n' +
      component('api', './build/ok.wasm').replace('type: component', 'type: widget');
    await assert.rejects(parseAppManifest(yaml, { source: 'app.yaml', baseUrl, limits }), (err) => {
      assert.ok(err instanceof ManifestInvalidError, String(err));
      assert.match(
        err.message,
        /^app\.yaml has 3 problems:\n {2}line 7: component "missing": component file /,
      );
      assert.deepEqual(
        (err.details?.['problems'] as Problem[]).map((p) => [p.line, p.message]),
        [
          [
            7,
            `component "missing": component file ${join(dir.path, 'build', 'missing.wasm')} does not exist`,
          ],
          [
            14,
            "manifest.spec.components[0].traits[0].properties.instances: 100000 is above this host's limit of 256 instances",
          ],
          [16, 'manifest.spec.components[1].type: "widget" is not a component type'],
        ],
      );
      assert.equal(
        err.hint,
        'line 7: check the path (a relative path starts at the manifest’s directory), or build the component first (cirrus build)',
      );
      return true;
    });
  });

  it('parseAppManifest returns the manifest when it and its images are fine', async () => {
    const manifest = await parseAppManifest(HEAD + component('ok', './build/ok.wasm'), { baseUrl, limits });
    assert.equal(manifest.components[0]?.image, `${baseUrl}build/ok.wasm`);
  });

  it('cirrus up --app refuses a manifest naming a FIFO and too many instances before starting anything, with both lines', async () => {
    const file = join(dir.path, 'app.yaml');
    await writeFile(
      file,
      HEAD +
        component('fifo', './build/fifo.wasm') +
        component('busy', './build/ok.wasm') +
        '      traits:\n        - type: spreadscaler\n          properties:\n            instances: 9\n',
    );
    const h = harness({ ...ownDirs(dir.path), CIRRUS_LIMIT_MAX_INSTANCES: '8' });
    const code = await withDeadline(
      main(['up', '--app', file], h.context),
      10_000,
      'cirrus up to refuse the app',
    );
    assert.equal(code, 1);
    const error = h.err.join('\n');
    assert.match(error, /error\[MANIFEST_INVALID\]: .*app\.yaml has 2 problems:/);
    assert.match(error, /line 7: component "fifo": component file .*fifo\.wasm is a FIFO \(named pipe\)/);
    assert.match(error, /line 18: .*instances: 9 is above this host's limit of 8 instances/);
    assert.ok(!h.err.some((l) => l.includes('host started')), 'no host was started');
  });
});
