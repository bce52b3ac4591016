/**
 * The examples built with each JavaScript engine, served by `cirrus up` from their own manifests:
 * hello answers its greeting, and the counter counts through the built-in key-value store, the same
 * way for StarlingMonkey and QuickJS. `npm test` builds both (scripts/test.ts).
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { freePort, tempDir, waitFor, withDeadline } from '@cirrus/testing';
import type { TempDir } from '@cirrus/testing';
import { main } from '../src/index.ts';
import { harness, ownDirs } from './support.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const BUILDS = {
  starlingmonkey: { hello: 'build/hello.wasm', counter: 'build/counter.wasm' },
  quickjs: { hello: 'build/hello-quickjs.wasm', counter: 'build/counter-quickjs.wasm' },
} as const;

/** An example's manifest with its image made absolute (the engine's build) and its port free. */
async function manifest(
  dir: string,
  example: 'hello' | 'counter',
  image: string,
  port: number,
): Promise<string> {
  const text = (await readFile(join(ROOT, 'examples', example, 'app.yaml'), 'utf8'))
    .replace(`./build/${example}.wasm`, join(ROOT, 'examples', example, image))
    .replace(example === 'hello' ? '127.0.0.1:8000' : '127.0.0.1:8001', `127.0.0.1:${port}`);
  const file = join(dir, `${example}-${port}.yaml`);
  await writeFile(file, text);
  return file;
}

describe('the examples on both engines', () => {
  let dir: TempDir;

  before(async () => {
    dir = await tempDir();
  });

  after(async () => {
    await dir.remove();
  });

  for (const [engine, builds] of Object.entries(BUILDS)) {
    it(`${engine}: hello greets, and the counter counts through the key-value store`, async () => {
      const [helloPort, counterPort] = [await freePort(), await freePort()];
      const h = harness(ownDirs(dir.path));
      const running = main(
        [
          'up',
          '--app',
          await manifest(dir.path, 'hello', builds.hello, helloPort),
          '--app',
          await manifest(dir.path, 'counter', builds.counter, counterPort),
          '--log-format',
          'json',
        ],
        h.context,
      );
      try {
        await waitFor(
          async () => {
            const outcome = await Promise.race([running, Promise.resolve(undefined)]);
            if (outcome !== undefined) assert.fail(`cirrus up exited with ${outcome}:\n${h.err.join('\n')}`);
            return h.out.filter((l) => l.startsWith('Serving ')).length >= 2;
          },
          60_000,
          'both apps to be served',
        );
        const hello = await fetch(`http://127.0.0.1:${helloPort}/from-test`);
        assert.equal(hello.status, 200);
        assert.match(
          await hello.text(),
          /^Hello from Cirrus!\nmethod: GET\npath: \/from-test\ninstance: [0-9a-f]{4} \(request #1 on this instance\)\n$/,
        );
        for (const visits of [1, 2, 3]) {
          const counter = await fetch(`http://127.0.0.1:${counterPort}/page?x=${visits}`);
          assert.equal(counter.status, 200, `${await counter.clone().text()}\n${h.err.slice(-5).join('\n')}`);
          assert.match(await counter.text(), new RegExp(`^/page has been visited ${visits} time\\(s\\)\\n`));
        }
      } finally {
        h.signals.emit('SIGTERM', 'SIGTERM');
        assert.equal(await withDeadline(running, 15_000, 'cirrus up to exit'), 0);
      }
    });
  }
});
