/**
 * Builds the browser host into dist/: the page script (the host, its runtime and the NATS client,
 * with the `browser` export conditions that keep Node's modules out), the instance worker's script,
 * and the page. dist/ is rebuilt from nothing each time.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BuildOptions } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const page = join(root, 'src', 'page');
const dist = join(root, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

const common: BuildOptions = {
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  // JSPI (WebAssembly.Suspending) and growable SharedArrayBuffer: Chromium 137 and later.
  target: 'chrome137',
  conditions: ['browser'],
  legalComments: 'eof',
  charset: 'utf8',
  sourcemap: 'linked',
  logLevel: 'warning',
};

await build({ ...common, entryPoints: [join(page, 'main.ts')], outfile: join(dist, 'app.js') });
await build({
  ...common,
  entryPoints: [fileURLToPath(import.meta.resolve('@cirrus/runtime/browser-worker'))],
  outfile: join(dist, 'worker.js'),
});
await copyFile(join(page, 'index.html'), join(dist, 'index.html'));
await copyFile(join(page, 'app.css'), join(dist, 'app.css'));
