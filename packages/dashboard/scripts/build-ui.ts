/**
 * Builds the dashboard page into dist/: the bundled script, its stylesheet and index.html, which the
 * dashboard server serves as they are. dist/ is rebuilt from nothing each time, so it only ever holds
 * what the sources make.
 */
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/** The page must stay light enough for a slow link; preact keeps it far below this. */
const GZIP_BUDGET_BYTES = 300 * 1024;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ui = join(root, 'ui');
const dist = join(root, 'dist');

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });

await build({
  entryPoints: [join(ui, 'main.tsx')],
  outfile: join(dist, 'app.js'),
  tsconfig: join(ui, 'tsconfig.json'),
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  // Licence comments (preact's, if it has any) stay with the code they cover.
  legalComments: 'eof',
  charset: 'utf8',
  logLevel: 'warning',
});

await copyFile(join(ui, 'index.html'), join(dist, 'index.html'));
await copyFile(join(ui, 'app.css'), join(dist, 'app.css'));

let rawTotal = 0;
let gzipTotal = 0;
const rows: string[] = [];
for (const name of (await readdir(dist)).sort()) {
  const bytes = await readFile(join(dist, name));
  const gzipped = gzipSync(bytes, { level: 9 }).length;
  rawTotal += bytes.length;
  gzipTotal += gzipped;
  rows.push(
    `  ${name.padEnd(16)} ${String(bytes.length).padStart(8)} B  ${String(gzipped).padStart(8)} B gzipped`,
  );
}
console.log(`dist/ (${dist})`);
console.log(rows.join('\n'));
console.log(
  `  ${'total'.padEnd(16)} ${String(rawTotal).padStart(8)} B  ${String(gzipTotal).padStart(8)} B gzipped`,
);

if (gzipTotal > GZIP_BUDGET_BYTES) {
  console.error(`The page is ${gzipTotal} B gzipped, over its budget of ${GZIP_BUDGET_BYTES} B.`);
  process.exitCode = 1;
}
